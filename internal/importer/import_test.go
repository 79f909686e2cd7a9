package importer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/api"
	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// env is a real grantd (SQLite, vault, HTTP) against the provider sandbox
// and the IMAP/SMTP stand-in, with an application and a Google connector.
type env struct {
	*apitest.Env
	mail     *mail.Server
	key      string
	clientID string
}

func newEnv(t *testing.T, configure func(*config.Config)) *env {
	t.Helper()
	ms, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	ca, err := ms.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = ca
		c.Providers.ICloud = ms.MailHosts()
		if configure != nil {
			configure(c)
		}
	}})
	_, key := e.App("acme")
	return &env{Env: e, mail: ms, key: key, clientID: e.OAuthConnector(key, "google")}
}

func (e *env) googleLine(t *testing.T, email, externalID string) string {
	rt := e.RefreshToken("google", e.clientID, email)
	return fmt.Sprintf(`{"provider":"google","settings":{"refresh_token":%q},"external_id":%q}`, rt, externalID)
}

func (e *env) imapLine(user, pass, externalID string) string {
	b, _ := json.Marshal(map[string]any{"provider": "imap", "external_id": externalID, "settings": map[string]any{
		"imap_username": user, "imap_password": pass,
		"imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(),
		"smtp_host": e.mail.Host(), "smtp_port": fmt.Sprint(e.mail.SMTPPort()),
	}})
	return string(b)
}

// result of one import run.
type result struct {
	runner  *importer.Runner
	err     error
	records map[int]importer.Record
	raw     string // the report file
}

func (e *env) run(t *testing.T, input, report string, opts importer.Options) result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.ndjson")
	if err := os.WriteFile(path, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := importer.OpenInput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rep, err := importer.OpenReport(report, in.Info, false)
	if err != nil {
		t.Fatal(err)
	}
	sender := &importer.HTTPSender{URL: e.HTTP.URL, APIKey: e.key, Client: importer.NewHTTPClient(8, time.Minute)}
	if err := sender.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	opts.Sender, opts.Report, opts.Total = sender, rep, in.Info.Lines
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	}
	r := importer.New(opts)
	res := result{runner: r, err: r.Run(context.Background(), in.Reader())}
	if err := rep.Finish(); err != nil {
		t.Fatal(err)
	}
	res.records, res.raw = readReport(t, report)
	return res
}

// readReport checks the report has one record a line and returns them.
func readReport(t *testing.T, path string) (map[int]importer.Record, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[int]importer.Record{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(nil, 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		var r importer.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		if _, dup := recs[r.Line]; dup || r.Sending {
			t.Errorf("report: line %d has a second record or no outcome: %s", r.Line, sc.Text())
		}
		recs[r.Line] = r
	}
	return recs, string(raw)
}

// grants lists the application's grants through the API.
func (e *env) grants(t *testing.T) []map[string]any {
	t.Helper()
	var all []map[string]any
	for off := 0; ; off += 200 {
		r := e.Do("GET", fmt.Sprintf("/v3/grants?limit=200&offset=%d", off), e.key, nil)
		if r.Status != 200 {
			t.Fatalf("list grants: %d %s", r.Status, r.Raw)
		}
		page := r.List()
		all = append(all, page...)
		if len(page) < 200 {
			return all
		}
	}
}

func outcomeOf(r importer.Record) string {
	if r.Error != nil {
		return r.Outcome + "/" + r.Error.Class + "/" + r.Error.Type
	}
	return r.Outcome
}

// TestImportMixed imports OAuth and IMAP lines, good and bad: each line
// gets its own outcome, grants are made through the API, secrets stay out
// of the report, and a rerun sends nothing.
func TestImportMixed(t *testing.T) {
	e := newEnv(t, nil)
	const imapPW, wrongPW, badToken = "CANARY-imap-pw-8d1f", "CANARY-wrong-pw-2b7c", "CANARY-bad-token-55e0"
	e.mail.AddUser("ada@example.com", imapPW)
	e.mail.AddUser("bob@example.com", imapPW)
	// An account that already has a grant is re-authenticated.
	existing := e.RefreshToken("google", e.clientID, "old@example.com")
	if r := e.Do("POST", "/v3/connect/custom", e.key, map[string]any{"provider": "google", "settings": map[string]any{"refresh_token": existing}}); r.Status != 201 || r.Header.Get(api.ReauthenticatedHeader) != "false" {
		t.Fatalf("first grant: %d %v %s", r.Status, r.Header, r.Raw)
	}
	lines := []string{
		e.googleLine(t, "g1@example.com", "u1"),                                                                   // 1 created
		e.imapLine("ada@example.com", imapPW, "u2"),                                                               // 2 created
		`{"provider":"google","settings":{"refresh_token":"` + badToken,                                           // 3 not JSON
		e.googleLine(t, "old@example.com", "u4"),                                                                  // 4 re-authenticated
		e.imapLine("bob@example.com", wrongPW, "u5"),                                                              // 5 wrong password: permanent
		`{"provider":"gmail","settings":{"refresh_token":"x"}}`,                                                   // 6 unknown provider
		`{"provider":"imap","settings":{"imap_username":"c@example.com"}}`,                                        // 7 missing setting
		e.imapLine("ADA@example.com", imapPW, "u8"),                                                               // 8 same email as line 2
		`{"provider":"google","settings":{"refresh_token":"` + badToken + `"},"external_id":"u9"}`,                // 9 refused token
		`{"provider":"google","settings":{"refresh_token":"` + strings.Repeat("x", importer.MaxLineBytes) + `"}}`, // 10 too long
		"",                                       // blank: no outcome
		e.googleLine(t, "g2@example.com", "u12"), // 12 created
	}
	input := strings.Join(lines, "\n") + "\n"
	report := filepath.Join(t.TempDir(), "report.ndjson")
	res := e.run(t, input, report, importer.Options{Concurrency: 4})
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := map[int]string{
		1: "created", 2: "created", 3: "failed/input/import.invalid_json", 4: "reauthenticated",
		5: "failed/permanent/api.invalid_request_error", 6: "failed/input/import.unknown_provider",
		7: "failed/input/import.invalid_settings", 8: "failed/input/import.duplicate",
		9: "failed/permanent/api.invalid_request_error", 10: "failed/input/import.line_too_long", 12: "created",
	}
	for n, w := range want {
		if got := outcomeOf(res.records[n]); got != w {
			t.Errorf("line %d: %s, want %s (%+v)", n, got, w, res.records[n].Error)
		}
	}
	if len(res.records) != len(want) {
		t.Errorf("%d records, want %d", len(res.records), len(want))
	}
	if r := res.records[1]; r.ExternalID != "u1" || r.Email != "g1@example.com" || r.GrantID == "" || r.Attempts != 1 {
		t.Errorf("line 1: %+v", r)
	}
	if r := res.records[2]; r.Email != "ada@example.com" || r.Provider != "imap" {
		t.Errorf("line 2: %+v", r)
	}
	if r := res.records[5]; r.Error.Status != 400 || r.Error.ProviderError == nil {
		t.Errorf("line 5: %+v", r.Error)
	}
	// The grants are there, once each, as the API shows them.
	gs := e.grants(t)
	var emails []string
	for _, g := range gs {
		emails = append(emails, g["email"].(string))
	}
	sort.Strings(emails)
	if strings.Join(emails, ",") != "ada@example.com,g1@example.com,g2@example.com,old@example.com" {
		t.Errorf("grants: %v", emails)
	}
	for _, secret := range []string{imapPW, wrongPW, badToken} {
		if strings.Contains(res.raw, secret) {
			t.Errorf("the report holds a secret of the input: %s", secret)
		}
	}
	sum, _ := res.runner.Summary()
	if sum.Created != 3 || sum.Reauthenticated != 1 || sum.ByClass[importer.ClassInput] != 5 || sum.ByClass[importer.ClassPermanent] != 2 {
		t.Errorf("summary %s", sum)
	}

	// A rerun with the report sends nothing and keeps the report.
	before := e.Sandbox.Counters("google")
	logins, _ := e.mail.Logins()
	again := e.run(t, input, report, importer.Options{Concurrency: 4})
	after := e.Sandbox.Counters("google")
	logins2, _ := e.mail.Logins()
	if again.err != nil || after.Redemptions+after.Rejections != before.Redemptions+before.Rejections || logins2 != logins {
		t.Errorf("rerun: %v; it reached the providers (%d → %d, logins %d → %d)", again.err, before.Redemptions, after.Redemptions, logins, logins2)
	}
	if p := again.runner.Progress(); p.Skipped != 11 || p.Done != 11 {
		t.Errorf("rerun progress %+v", p)
	}
	if len(again.records) != len(want) {
		t.Errorf("rerun report: %d records", len(again.records))
	}
}

// TestImportTransient retries a line whose provider fails for a while,
// and gives up, recording a transient failure, when it keeps failing; a
// rerun then succeeds.
func TestImportTransient(t *testing.T) {
	e := newEnv(t, nil)
	input := e.googleLine(t, "a@example.com", "a") + "\n"
	e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503, Count: 2})
	report := filepath.Join(t.TempDir(), "r1.ndjson")
	res := e.run(t, input, report, importer.Options{Retries: 3})
	if r := res.records[1]; res.err != nil || r.Outcome != "created" || r.Attempts != 3 {
		t.Fatalf("%v %+v", res.err, r)
	}

	input = e.googleLine(t, "b@example.com", "b") + "\n"
	e.Sandbox.InjectFailure("google", sandbox.Failure{Endpoint: "token", Status: 503, Count: -1})
	report = filepath.Join(t.TempDir(), "r2.ndjson")
	res = e.run(t, input, report, importer.Options{Retries: 2})
	if r := res.records[1]; res.err != nil || outcomeOf(r) != "failed/transient/api.provider_error" || r.Attempts != 3 || r.Error.Status != 504 {
		t.Fatalf("%v %+v %+v", res.err, r, r.Error)
	}
	e.Sandbox.ClearFailures()
	res = e.run(t, input, report, importer.Options{Retries: 2})
	if r := res.records[1]; res.err != nil || r.Outcome != "created" || len(res.records) != 1 {
		t.Fatalf("rerun: %v %+v", res.err, res.records)
	}
}

// TestImportRateLimited imports into a grantd whose per-application rate
// limit is far below what the importer would send: it gets 429s, waits
// their Retry-After, and every line ends created.
func TestImportRateLimited(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.RateLimit = config.RateLimit{RequestsPerSecond: 4, Burst: 2, DetectRequestsPerSecond: 10, DetectBurst: 10}
	})
	var lines []string
	for i := range 12 {
		lines = append(lines, e.googleLine(t, fmt.Sprintf("u%d@example.com", i), fmt.Sprint(i)))
	}
	time.Sleep(time.Second) // the setup's requests spent the bucket
	res := e.run(t, strings.Join(lines, "\n"), filepath.Join(t.TempDir(), "r.ndjson"), importer.Options{Concurrency: 6, Rates: importer.Rates{}})
	if res.err != nil {
		t.Fatal(res.err)
	}
	for n := 1; n <= 12; n++ {
		if res.records[n].Outcome != "created" {
			t.Errorf("line %d: %+v %+v", n, res.records[n], res.records[n].Error)
		}
	}
	if !strings.Contains(e.Metrics(), `status="429"`) {
		t.Error("grantd answered no 429: the test does not test the backoff")
	}
	if len(e.grants(t)) != 12 {
		t.Error("not 12 grants")
	}
}

// TestImportProviderRate measures the Google token calls the sandbox
// receives per second while the importer sends at --rate google=10/s.
func TestImportProviderRate(t *testing.T) {
	if testing.Short() {
		t.Skip("takes several seconds")
	}
	e := newEnv(t, nil)
	const perSecond, n = 10, 45
	var lines []string
	for i := range n {
		lines = append(lines, e.googleLine(t, fmt.Sprintf("r%d@example.com", i), fmt.Sprint(i)))
	}
	var mu sync.Mutex
	var calls []time.Time // one per redemption, as seen by polling the counters
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := e.Sandbox.Counters("google").Redemptions
		for {
			c := e.Sandbox.Counters("google").Redemptions
			now := time.Now()
			mu.Lock()
			for ; seen < c; seen++ {
				calls = append(calls, now)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	res := e.run(t, strings.Join(lines, "\n"), filepath.Join(t.TempDir(), "r.ndjson"), importer.Options{Concurrency: 8, Rates: importer.Rates{"google": perSecond}})
	close(stop)
	<-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(calls) != n {
		t.Fatalf("%d token calls, want %d", len(calls), n)
	}
	// Calls per second, in one-second buckets from the first.
	var buckets []int
	for _, c := range calls {
		b := int(c.Sub(calls[0]) / time.Second)
		for len(buckets) <= b {
			buckets = append(buckets, 0)
		}
		buckets[b]++
	}
	full := slices.Clone(buckets[:len(buckets)-1]) // the last is partial
	slices.Sort(full)
	median := full[len(full)/2]
	avg := float64(n-1) / calls[n-1].Sub(calls[0]).Seconds()
	t.Logf("token calls per second: %v (median %d, average %.2f/s)", buckets, median, avg)
	if median > perSecond+1 || avg > perSecond*1.15 {
		t.Errorf("the rate %d/s was not respected: %v, average %.2f/s", perSecond, buckets, avg)
	}
}
