package importjob_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// job is the job object of /grantd/v1/imports.
type job struct {
	ID              string         `json:"id"`
	State           string         `json:"state"`
	DryRun          bool           `json:"dry_run"`
	Lines           int            `json:"lines"`
	Done            int            `json:"done"`
	Checked         int            `json:"checked"`
	Created         int            `json:"created"`
	Reauthenticated int            `json:"reauthenticated"`
	Failed          int            `json:"failed"`
	FailedByClass   map[string]int `json:"failed_by_class"`
	Error           string         `json:"error"`
	StartedAt       int64          `json:"started_at"`
	FinishedAt      int64          `json:"finished_at"`
}

// client talks to one grantd's import endpoints.
type client struct {
	t   testing.TB
	url string
	key string
}

func (c client) do(method, path string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

func (c client) jobOf(status int, raw []byte, want int) job {
	c.t.Helper()
	if status != want {
		c.t.Fatalf("status %d, want %d: %s", status, want, raw)
	}
	var env struct {
		Data job `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		c.t.Fatalf("%v: %s", err, raw)
	}
	return env.Data
}

func (c client) post(body string, query string) job {
	c.t.Helper()
	st, raw := c.do("POST", "/grantd/v1/imports"+query, strings.NewReader(body))
	return c.jobOf(st, raw, http.StatusAccepted)
}

func (c client) get(id string) job {
	c.t.Helper()
	st, raw := c.do("GET", "/grantd/v1/imports/"+id, nil)
	return c.jobOf(st, raw, http.StatusOK)
}

// wait polls the job until cond holds.
func (c client) wait(id string, within time.Duration, what string, cond func(job) bool) job {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := c.get(id)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("import %s: not %s within %s: %+v", id, what, within, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finished(j job) bool { return j.State == "done" || j.State == "failed" || j.State == "cancelled" }

// results reads GET …/results: the outcome of each line, failing the test
// on a line with two outcomes.
func (c client) results(id string) (map[int]importer.Record, string) {
	c.t.Helper()
	st, raw := c.do("GET", "/grantd/v1/imports/"+id+"/results", nil)
	if st != http.StatusOK {
		c.t.Fatalf("results: %d %s", st, raw)
	}
	recs := map[int]importer.Record{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	prev := 0
	for sc.Scan() {
		var r importer.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			c.t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		if _, dup := recs[r.Line]; dup || r.Line <= prev {
			c.t.Errorf("results: line %d twice or out of order", r.Line)
		}
		prev = r.Line
		recs[r.Line] = r
	}
	return recs, string(raw)
}

// importEnv is an in-process grantd with the import worker running,
// against the sandbox and the mail stand-in, with an application (and a
// second one) and a Google connector.
type importEnv struct {
	*apitest.Env
	mail     *mail.Server
	c, other client
	clientID string
}

func newImportEnv(t *testing.T, configure func(*config.Config)) *importEnv {
	t.Helper()
	e := newIdleImportEnv(t, configure)
	e.startWorker()
	return e
}

// startWorker runs the import worker of e's grantd until the test ends.
func (e *importEnv) startWorker() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Server.Imports.Run(ctx) }()
	e.T.Cleanup(func() { cancel(); <-done })
}

// newIdleImportEnv is newImportEnv without the worker running.
func newIdleImportEnv(t *testing.T, configure func(*config.Config)) *importEnv {
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
		c.Imports.PollInterval = 20 * time.Millisecond
		c.Imports.Lease = 3 * time.Second
		if configure != nil {
			configure(c)
		}
	}})
	_, key := e.App("acme")
	_, otherKey := e.App("other")
	return &importEnv{Env: e, mail: ms, c: client{t, e.HTTP.URL, key}, other: client{t, e.HTTP.URL, otherKey},
		clientID: e.OAuthConnector(key, "google")}
}

func googleLine(rt, ext string) string {
	return fmt.Sprintf(`{"provider":"google","settings":{"refresh_token":%q},"external_id":%q}`, rt, ext)
}

func (e *importEnv) imapLine(t *testing.T, user, pw, ext string) string {
	b, err := json.Marshal(map[string]any{"provider": "imap", "external_id": ext, "settings": map[string]any{
		"imap_username": user, "imap_password": pw, "imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(),
		"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort()}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImportEndpoint imports good and bad lines of Google (the sandbox)
// and IMAP (the mail stand-in) through POST /grantd/v1/imports: each line
// gets one outcome, the counters add up, no secret of the input appears in
// a result, a job object or the log, and another application sees none
// of it.
func TestImportEndpoint(t *testing.T) {
	e := newImportEnv(t, nil)
	const pw, badPW, rtCanary = "CANARY-imap-pw-5d1e", "CANARY-wrong-pw-77aa", "CANARY-rt-"
	e.mail.AddUser("ada@example.com", pw)
	e.mail.AddUser("bob@example.com", "the-real-one")
	var lines []string
	for i := range 4 {
		lines = append(lines, googleLine(e.RefreshToken("google", e.clientID, fmt.Sprintf("g%d@example.com", i)), fmt.Sprint("g", i)))
	}
	lines = append(lines,
		googleLine(rtCanary+"revoked", "revoked"),                               // 5: permanent
		e.imapLine(t, "ada@example.com", pw, "ada"),                             // 6: created
		e.imapLine(t, "bob@example.com", badPW, "bob"),                          // 7: permanent (wrong password)
		`{"provider":"google","settings":{"refresh_token":`,                     // 8: input (not JSON)
		`{"provider":"gmail","settings":{"refresh_token":"CANARY-rt-unknown"}}`, // 9: input (unknown provider)
		"", // 10: blank, no outcome
		e.imapLine(t, "ADA@example.com", pw, "ada-again"), // 11: input (duplicate of 6)
	)
	body := strings.Join(lines, "\n") + "\n"

	// A dry run checks and stores no input.
	dry := e.c.post(body, "?dry_run=true")
	if dry.State != "done" || !dry.DryRun || dry.Lines != 10 || dry.Checked != 7 || dry.FailedByClass["input"] != 3 {
		t.Fatalf("dry run: %+v", dry)
	}
	recs, _ := e.c.results(dry.ID)
	if len(recs) != 10 || recs[1].Outcome != importer.OutcomeChecked || recs[8].Error == nil || recs[8].Error.Type != importer.TypeInvalidJSON {
		t.Fatalf("dry run results: %+v", recs)
	}
	if st, raw := e.c.do("GET", "/v3/grants", nil); st != 200 || strings.Contains(string(raw), `"id"`) {
		t.Fatalf("a dry run made grants: %s", raw)
	}

	j := e.c.post(body, "")
	if j.State != "queued" || j.Lines != 10 || j.Done != 3 || j.FailedByClass["input"] != 3 {
		t.Fatalf("created job: %+v", j)
	}
	j = e.c.wait(j.ID, 30*time.Second, "finished", finished)
	if j.State != "done" || j.Done != 10 || j.Created != 5 || j.Reauthenticated != 0 || j.Failed != 5 ||
		j.FailedByClass["input"] != 3 || j.FailedByClass["permanent"] != 2 || j.FailedByClass["transient"] != 0 || j.FinishedAt == 0 {
		t.Fatalf("finished job: %+v", j)
	}
	recs, raw := e.c.results(j.ID)
	want := map[int]string{1: "created", 2: "created", 3: "created", 4: "created", 5: "failed", 6: "created", 7: "failed", 8: "failed", 9: "failed", 11: "failed"}
	for n, outcome := range want {
		r, ok := recs[n]
		if !ok || r.Outcome != outcome {
			t.Errorf("line %d: want %s, got %+v", n, outcome, r)
		}
	}
	if len(recs) != len(want) {
		t.Errorf("results: %d lines, want %d:\n%s", len(recs), len(want), raw)
	}
	if r := recs[6]; r.Email != "ada@example.com" || r.GrantID == "" || r.ExternalID != "ada" {
		t.Errorf("line 6: %+v", r)
	}
	if r := recs[7]; r.Error == nil || r.Error.Class != importer.ClassPermanent || r.Error.Type != "api.invalid_request_error" {
		t.Errorf("line 7 (wrong password): %+v", r.Error)
	}
	if r := recs[11]; r.Error == nil || r.Error.Type != importer.TypeDuplicate {
		t.Errorf("line 11 (duplicate): %+v", r.Error)
	}
	_, jobRaw := e.c.do("GET", "/grantd/v1/imports/"+j.ID, nil)
	_, listRaw := e.c.do("GET", "/grantd/v1/imports", nil)
	for _, where := range []struct{ name, text string }{{"results", raw}, {"job", string(jobRaw)}, {"list", string(listRaw)}, {"log", e.Logs.String()}} {
		if strings.Contains(where.text, "CANARY") {
			t.Errorf("a secret of the input appears in the %s", where.name)
		}
	}
	if st, raw := e.c.do("GET", "/v3/grants?limit=50", nil); st != 200 || strings.Count(string(raw), `"grant_status"`) != 5 {
		t.Errorf("grants: want 5: %s", raw)
	}
	var list struct {
		Data []job `json:"data"`
	}
	if err := json.Unmarshal(listRaw, &list); err != nil || len(list.Data) != 2 || list.Data[0].ID != j.ID || list.Data[1].ID != dry.ID {
		t.Errorf("list: want [%s %s], got %s", j.ID, dry.ID, listRaw)
	}

	// Another application's key sees none of it.
	for _, req := range []struct{ method, path string }{
		{"GET", "/grantd/v1/imports/" + j.ID}, {"GET", "/grantd/v1/imports/" + j.ID + "/results"}, {"DELETE", "/grantd/v1/imports/" + j.ID},
	} {
		if st, raw := e.other.do(req.method, req.path, nil); st != http.StatusNotFound || !strings.Contains(string(raw), "api.not_found_error") {
			t.Errorf("another application's %s %s: %d %s", req.method, req.path, st, raw)
		}
	}
	if _, raw := e.other.do("GET", "/grantd/v1/imports", nil); !strings.Contains(string(raw), `"data":[]`) {
		t.Errorf("another application's list: %s", raw)
	}
	// A finished job cannot be cancelled; no API key is a 401.
	if st, raw := e.c.do("DELETE", "/grantd/v1/imports/"+j.ID, nil); st != http.StatusConflict {
		t.Errorf("cancel a done job: %d %s", st, raw)
	}
	if st, _ := (client{t, e.HTTP.URL, ""}).do("GET", "/grantd/v1/imports", nil); st != http.StatusUnauthorized {
		t.Errorf("no key: %d", st)
	}
	for _, bad := range []struct{ body, query, want string }{
		{"\n\n", "", "no lines"},
		{body, "?dry_run=maybe", "dry_run"},
	} {
		st, raw := e.c.do("POST", "/grantd/v1/imports"+bad.query, strings.NewReader(bad.body))
		if st != http.StatusBadRequest || !strings.Contains(string(raw), bad.want) {
			t.Errorf("POST %q%s: %d %s", bad.body, bad.query, st, raw)
		}
	}
}

// TestImportLimitsAndCancel: a body over imports.max_body_bytes is a 413
// that leaves no job; a cancelled job sends no more lines and keeps no
// sealed input.
func TestImportLimitsAndCancel(t *testing.T) {
	e := newImportEnv(t, func(c *config.Config) {
		c.Imports.MaxBodyBytes = 64 << 10
		c.Imports.Rates = "google=4/s"
	})
	big := strings.Repeat(googleLine("CANARY-rt-0123456789", "x")+"\n", 2000)
	st, raw := e.c.do("POST", "/grantd/v1/imports", strings.NewReader(big))
	if st != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "api.request_too_large") || !strings.Contains(string(raw), "imports.max_body_bytes") {
		t.Fatalf("oversized import: %d %s", st, raw)
	}
	// Streamed without a length: the limit is found while reading.
	req, _ := http.NewRequest("POST", e.HTTP.URL+"/grantd/v1/imports", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+e.c.key)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "imports.max_body_bytes") {
		t.Fatalf("oversized streamed import: %d %s", resp.StatusCode, raw)
	}
	if _, raw := e.c.do("GET", "/grantd/v1/imports", nil); !strings.Contains(string(raw), `"data":[]`) {
		t.Fatalf("an oversized import left a job: %s", raw)
	}

	var lines []string
	for i := range 40 {
		lines = append(lines, googleLine(e.RefreshToken("google", e.clientID, fmt.Sprintf("c%d@example.com", i)), fmt.Sprint(i)))
	}
	j := e.c.post(strings.Join(lines, "\n"), "")
	e.c.wait(j.ID, 20*time.Second, "started", func(j job) bool { return j.Done >= 2 })
	st, raw = e.c.do("DELETE", "/grantd/v1/imports/"+j.ID, nil)
	c := e.c.jobOf(st, raw, http.StatusOK)
	if c.State != "cancelled" {
		t.Fatalf("cancel: %+v", c)
	}
	time.Sleep(time.Second) // lines in flight finish
	after := e.c.get(j.ID)
	time.Sleep(time.Second)
	again := e.c.get(j.ID)
	if after.Done != again.Done || again.Done >= 40 || again.State != "cancelled" {
		t.Fatalf("lines done after the cancel: %+v then %+v", after, again)
	}
	recs, _ := e.c.results(j.ID)
	if len(recs) != again.Done {
		t.Fatalf("results: %d lines, job says %d done", len(recs), again.Done)
	}
	pending, err := e.Server.Store.PendingImportLines(context.Background(), j.ID, 0, 100)
	if err != nil || len(pending) != 0 {
		t.Fatalf("a cancelled job keeps %d sealed lines (%v)", len(pending), err)
	}
	if st, _ := e.c.do("DELETE", "/grantd/v1/imports/"+j.ID, nil); st != http.StatusOK {
		t.Fatalf("cancel again: %d", st)
	}
}

// TestImportCrashAfterGrant replays the window a crash can leave: a node
// sent a line, the grant service made its grant, and the node died before
// it recorded the outcome (the line is marked sending, the job's lease ran
// out). The node that takes the job over sends the line again: the grant
// service re-authenticates the grant it made (one grant per email), and
// the line is reported reauthenticated and replayed, with that grant, not
// failed; no second grant exists.
func TestImportCrashAfterGrant(t *testing.T) {
	e := newIdleImportEnv(t, nil)
	ctx := context.Background()
	var lines []string
	for i := range 3 {
		lines = append(lines, googleLine(e.RefreshToken("google", e.clientID, fmt.Sprintf("w%d@example.com", i)), fmt.Sprint("w", i)))
	}
	j := e.c.post(strings.Join(lines, "\n"), "")
	// The dead node: it claimed the job, marked line 2 sending and made
	// its grant, and its lease ran out.
	claimed, ok, err := e.Server.Store.ClaimImportJob(ctx, time.Now().Add(-time.Hour), "dead-node", time.Second)
	if err != nil || !ok || claimed.ID != j.ID {
		t.Fatalf("claim as the dead node: %v %v %+v", ok, err, claimed)
	}
	if err := e.Server.Store.MarkImportLineSending(ctx, j.ID, "dead-node", 2); err != nil {
		t.Fatal(err)
	}
	st, raw := e.c.do("POST", "/v3/connect/custom", strings.NewReader(lines[1]))
	if st != http.StatusCreated {
		t.Fatalf("the dead node's grant: %d %s", st, raw)
	}
	var made struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &made); err != nil {
		t.Fatal(err)
	}

	e.startWorker()
	j = e.c.wait(j.ID, 20*time.Second, "finished", finished)
	if j.State != "done" || j.Created != 2 || j.Reauthenticated != 1 || j.Failed != 0 {
		t.Fatalf("job: %+v", j)
	}
	recs, _ := e.c.results(j.ID)
	if r := recs[2]; r.Outcome != importer.OutcomeReauthenticated || !r.Replayed || r.GrantID != made.Data.ID || r.Error != nil {
		t.Fatalf("line 2: want reauthenticated, replayed, grant %s; got %+v", made.Data.ID, r)
	}
	if r := recs[1]; r.Outcome != importer.OutcomeCreated || r.Replayed {
		t.Fatalf("line 1: %+v", r)
	}
	if st, raw := e.c.do("GET", "/v3/grants?limit=50", nil); st != 200 || strings.Count(string(raw), `"grant_status"`) != 3 {
		t.Errorf("grants: want 3: %s", raw)
	}
}
