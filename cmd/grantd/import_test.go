package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

// The test binary doubles as grantd for the tests that run it as a child
// process (to SIGKILL it).
const asGrantd = "GRANTDTEST_RUN_AS_GRANTD"

func TestMain(m *testing.M) {
	if os.Getenv(asGrantd) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// grantdCmd is the test binary run as grantd with args.
func grantdCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asGrantd+"=1")
	return cmd
}

// importEnv is a grantd (in this process) against the sandbox and the
// mail stand-in, with an application and a Google connector.
type importEnv struct {
	*apitest.Env
	mail     *mail.Server
	appID    string
	key      string
	clientID string
}

func newImportEnv(t *testing.T, sb *sandbox.Sandbox, ms *mail.Server) *importEnv {
	t.Helper()
	if ms == nil {
		var err error
		if ms, err = mail.Start(mail.Options{TLS: mail.StartTLS}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
	}
	ca, err := ms.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, apitest.Options{Sandbox: sb, Configure: func(c *config.Config) {
		c.Network.CAFile = ca
		c.Providers.ICloud = ms.MailHosts()
	}})
	appID, key := e.App("acme")
	return &importEnv{Env: e, mail: ms, appID: appID, key: key, clientID: e.OAuthConnector(key, "google")}
}

func (e *importEnv) googleLines(t *testing.T, prefix string, n int) []string {
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
	}
	tokens := mintTokens(t, e.Sandbox, e.clientID, emails)
	lines := make([]string, n)
	for i, rt := range tokens {
		lines[i] = fmt.Sprintf(`{"provider":"google","settings":{"refresh_token":%q},"external_id":"%s%d"}`, rt, prefix, i)
	}
	return lines
}

// mintTokens creates a Google user per email and mints its refresh token.
func mintTokens(t *testing.T, sb *sandbox.Sandbox, clientID string, emails []string) []string {
	t.Helper()
	tokens := make([]string, len(emails))
	for i, email := range emails {
		sb.AddUser("google", sandbox.User{Email: email})
		rt, err := sb.MintRefreshToken("google", clientID, email, apitest.DefaultScopes["google"])
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = rt
	}
	return tokens
}

func writeInput(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// reportRecords reads a report: the outcome of each line, failing the
// test on a line with two records or a record that is no outcome.
func reportRecords(t *testing.T, path string) map[int]importer.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	recs := map[int]importer.Record{}
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		var r importer.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		if _, dup := recs[r.Line]; dup || r.Outcome == "" {
			t.Errorf("report: line %d has a second record, or no outcome: %s", r.Line, sc.Text())
		}
		recs[r.Line] = r
	}
	return recs
}

func (e *importEnv) grantEmails(t *testing.T, url, key string) []string {
	t.Helper()
	var emails []string
	for off := 0; ; off += 200 {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v3/grants?limit=200&offset=%d", url, off), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data []struct {
				Email string `json:"email"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list grants: %d %v", resp.StatusCode, err)
		}
		for _, g := range body.Data {
			emails = append(emails, g.Email)
		}
		if len(body.Data) < 200 {
			sort.Strings(emails)
			return emails
		}
	}
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 2
	}
	return 0
}

// TestImportCommand runs grantd import as a user would: a dry run, a run
// with the URL and key from the environment and plain progress lines, a
// rerun, a report of another input; secrets of the input appear in none
// of the outputs.
func TestImportCommand(t *testing.T) {
	e := newImportEnv(t, nil, nil)
	const pw = "CANARY-imap-secret-91ab"
	e.mail.AddUser("ada@example.com", pw)
	imapLine, _ := json.Marshal(map[string]any{"provider": "imap", "external_id": "ada", "settings": map[string]any{
		"imap_username": "ada@example.com", "imap_password": pw, "imap_host": e.mail.Host(), "imap_port": e.mail.IMAPPort(),
		"smtp_host": e.mail.Host(), "smtp_port": e.mail.SMTPPort()}})
	lines := append(e.googleLines(t, "cmd", 20), string(imapLine),
		`{"provider":"google","settings":{"refresh_token":"CANARY-token-0c4e"`,
		`{"provider":"imap","settings":{"imap_username":"ada@example.com","imap_password":"CANARY-other-77aa"}}`)
	input := writeInput(t, lines)
	report := filepath.Join(t.TempDir(), "report.ndjson")
	canaries := []string{pw, "CANARY-token-0c4e", "CANARY-other-77aa"}
	noCanary := func(what, s string) {
		t.Helper()
		for _, c := range canaries {
			if strings.Contains(s, c) {
				t.Errorf("%s holds a secret of the input (%s):\n%s", what, c, s)
			}
		}
	}

	// A dry run lists the two bad lines and sends nothing.
	var out, errb bytes.Buffer
	before := e.Sandbox.Counters("google").Redemptions
	err := run(t.Context(), []string{"import", "--dry-run", input}, &out, &errb)
	if exitCode(err) != 1 || !strings.Contains(out.String(), "line 22: import.invalid_json") ||
		!strings.Contains(out.String(), "line 23: import.duplicate") || !strings.Contains(out.String(), "21 lines would be sent to grantd (google 20, imap 1)") {
		t.Errorf("dry run: %v\n%s%s", err, out.String(), errb.String())
	}
	if e.Sandbox.Counters("google").Redemptions != before {
		t.Error("the dry run reached the provider")
	}
	if _, err := os.Stat(report); err == nil {
		t.Error("the dry run wrote a report")
	}
	noCanary("dry run output", out.String()+errb.String())

	if _, err := runCmd(t, "import", input); err == nil || !strings.Contains(err.Error(), "--report") {
		t.Errorf("without --report: %v", err)
	}
	t.Setenv("GRANTD_URL", e.HTTP.URL)
	t.Setenv("GRANTD_API_KEY", "grantd_wrong")
	if _, err := runCmd(t, "import", "--report", report, input); err == nil || !strings.Contains(err.Error(), "api.authentication_error") {
		t.Errorf("wrong key: %v", err)
	}
	t.Setenv("GRANTD_API_KEY", e.key)

	out.Reset()
	errb.Reset()
	err = run(t.Context(), []string{"import", "--report", report, "--progress", "plain", "--progress-interval", "20ms", "--rate", "google=100/s", input}, &out, &errb)
	if exitCode(err) != 1 {
		t.Errorf("run with failed lines: %v (exit %d)", err, exitCode(err))
	}
	if !strings.Contains(out.String(), "21 created, 0 re-authenticated, 2 failed (input 2;") || !strings.Contains(errb.String(), "lines done") {
		t.Errorf("output:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	recs := reportRecords(t, report)
	if len(recs) != 23 || recs[21].Email != "ada@example.com" || recs[21].Outcome != "created" {
		t.Errorf("report: %d records, line 21 %+v", len(recs), recs[21])
	}
	if fi, err := os.Stat(report); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode: %v", err)
	}
	raw, _ := os.ReadFile(report)
	noCanary("report", string(raw))
	noCanary("output", out.String()+errb.String())
	noCanary("grantd's log", e.Logs.String())
	if got := e.grantEmails(t, e.HTTP.URL, e.key); len(got) != 21 {
		t.Errorf("%d grants", len(got))
	}

	// A rerun has nothing left to do; the exit status still says lines
	// failed.
	out.Reset()
	err = run(t.Context(), []string{"import", "--report", report, "--progress", "off", input}, &out, &errb)
	if exitCode(err) != 1 || !strings.Contains(out.String(), "this run: 0 created") {
		t.Errorf("rerun: %v %s", err, out.String())
	}
	// A dry run with the report says what a rerun would skip, and leaves
	// the report as it was.
	if out, err := runCmd(t, "import", "--dry-run", "--report", report, input); err != nil || !strings.Contains(out, "23 lines are already done") {
		t.Errorf("dry run with the report: %v %s", err, out)
	}
	if again, _ := os.ReadFile(report); string(again) != string(raw) {
		t.Error("the dry run changed the report")
	}
	// A report of another input is refused.
	other := writeInput(t, lines[:3])
	if _, err := runCmd(t, "import", "--report", report, other); err == nil || !strings.Contains(err.Error(), "another input") {
		t.Errorf("report of another input: %v", err)
	}
	// Standard input: the same input is recognized by its first MiB.
	b, _ := os.ReadFile(input)
	stdin = bytes.NewReader(b)
	defer func() { stdin = os.Stdin }()
	if out, err := runCmd(t, "import", "--report", report, "--progress", "off", "-"); exitCode(err) != 1 || !strings.Contains(out, "this run: 0 created") {
		t.Errorf("standard input: %v %s", err, out)
	}
}

// TestImportKilled SIGKILLs the importer at a random point and runs it
// again: every line ends with exactly one outcome and one grant.
func TestImportKilled(t *testing.T) {
	e := newImportEnv(t, nil, nil)
	const n = 400
	input := writeInput(t, e.googleLines(t, "kill", n))
	report := filepath.Join(t.TempDir(), "report.ndjson")
	after := 20 + rand.IntN(n-100)
	cmd := grantdCmd("import", "--report", report, "--progress", "off", "--concurrency", "8", "--rate", "google=off", input)
	cmd.Env = append(cmd.Env, "GRANTD_URL="+e.HTTP.URL, "GRANTD_API_KEY="+e.key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(report)
		if bytes.Count(b, []byte(`"outcome"`)) >= after {
			break
		}
		select {
		case err := <-waited:
			t.Fatalf("the importer ended before it was killed: %v %s", err, stderr.String())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the importer did not get going")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-waited
	b, _ := os.ReadFile(report)
	t.Logf("killed after %d outcomes (%d records)", bytes.Count(b, []byte(`"outcome"`)), bytes.Count(b, []byte("\n"))-1)

	t.Setenv("GRANTD_URL", e.HTTP.URL)
	t.Setenv("GRANTD_API_KEY", e.key)
	if out, err := runCmd(t, "import", "--report", report, "--progress", "off", "--rate", "google=off", input); err != nil {
		t.Fatalf("rerun: %v %s", err, out)
	}
	recs := reportRecords(t, report)
	replayed := 0
	for i := 1; i <= n; i++ {
		r, ok := recs[i]
		if !ok || (r.Outcome != "created" && r.Outcome != "reauthenticated") {
			t.Errorf("line %d: %+v %+v", i, r, r.Error)
		}
		if r.Replayed {
			replayed++
		}
	}
	t.Logf("%d lines replayed", replayed)
	if got := e.grantEmails(t, e.HTTP.URL, e.key); len(got) != n {
		t.Errorf("%d grants, want %d", len(got), n)
	}
}

// childGrantd runs grantd serve as a child process against the sandbox.
type childGrantd struct {
	t       *testing.T
	env     []string
	url     string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

func startChildGrantd(t *testing.T, sb *sandbox.Sandbox) *childGrantd {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = freeAddr(t)
	cfg.RateLimit = config.RateLimit{}
	cfg.Log.Level = "warn"
	sp := sb.Providers()
	cfg.Providers.Google = sp.Google
	env := append(cfg.Environ(os.Environ()), asGrantd+"=1")
	g := &childGrantd{t: t, env: env, url: "http://" + cfg.Listen, logPath: filepath.Join(cfg.DataDir, "grantd.log")}
	g.start()
	t.Cleanup(g.kill)
	return g
}

func (g *childGrantd) start() {
	g.t.Helper()
	log, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	defer log.Close()
	g.cmd = exec.Command(os.Args[0], "serve")
	g.cmd.Env, g.cmd.Stderr, g.cmd.Stdout = g.env, log, log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(g.cmd, g.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(g.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-g.done:
			b, _ := os.ReadFile(g.logPath)
			g.t.Fatalf("grantd serve exited: %s", b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatal("grantd serve not ready")
		}
	}
}

func (g *childGrantd) kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.done
	}
}

// admin runs a grantd admin command against the child's store.
func (g *childGrantd) admin(args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = g.env
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("grantd %v: %v", args, err)
	}
	return out
}

// TestImportGrantdKilled SIGKILLs grantd while the importer runs and
// starts it again a moment later: the importer retries the lines that got
// no answer and finishes with every line done once.
func TestImportGrantdKilled(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	g := startChildGrantd(t, sb)
	var app struct {
		ID  string `json:"application_id"`
		Key string `json:"api_key"`
	}
	if err := json.Unmarshal(g.admin("app", "create", "--name", "acme", "--json"), &app); err != nil {
		t.Fatal(err)
	}
	sb.AddClient("google", "client-google", "secret-google")
	body := `{"name":"g","provider":"google","settings":{"client_id":"client-google","client_secret":"secret-google"}}`
	req, _ := http.NewRequest("POST", g.url+"/v3/connectors", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+app.Key)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("connector: %v %v", resp, err)
	}
	const n = 240
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("k%d@example.com", i)
	}
	tokens := mintTokens(t, sb, "client-google", emails)
	var lines []string
	for _, rt := range tokens {
		lines = append(lines, fmt.Sprintf(`{"provider":"google","settings":{"refresh_token":%q}}`, rt))
	}
	input := writeInput(t, lines)
	report := filepath.Join(t.TempDir(), "report.ndjson")

	t.Setenv("GRANTD_URL", g.url)
	t.Setenv("GRANTD_API_KEY", app.Key)
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- run(context.Background(), []string{"import", "--report", report, "--progress", "off", "--rate", "google=60/s", input}, &out, &errb)
	}()
	// Kill grantd once a quarter of the lines are done; start it again a
	// second later.
	for {
		b, _ := os.ReadFile(report)
		if bytes.Count(b, []byte(`"outcome"`)) >= n/4 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.kill()
	time.Sleep(time.Second)
	g.start()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("import: %v\n%s%s", err, out.String(), errb.String())
	}
	recs := reportRecords(t, report)
	retried := 0
	for i := 1; i <= n; i++ {
		r := recs[i]
		if r.Outcome != "created" && r.Outcome != "reauthenticated" {
			t.Errorf("line %d: %+v %+v", i, r, r.Error)
		}
		if r.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no line was retried: grantd was not killed while lines were in flight")
	}
	t.Logf("%d lines retried; %s", retried, strings.TrimSpace(out.String()))
	if got := (&importEnv{}).grantEmails(t, g.url, app.Key); len(got) != n {
		t.Errorf("%d grants, want %d", len(got), n)
	}
}

// TestExportImportRoundTrip exports an application's grants with their
// secrets and imports the file into a second grantd against the same
// providers: the same accounts, valid, with the old ids as external_id.
func TestExportImportRoundTrip(t *testing.T) {
	a := newImportEnv(t, nil, nil)
	const pw = "CANARY-export-pw-3141"
	a.mail.AddUser("ada@example.com", pw)
	var lines []string
	lines = append(lines, a.googleLines(t, "exp", 5)...)
	imapLine, _ := json.Marshal(map[string]any{"provider": "imap", "settings": map[string]any{
		"imap_username": "ada@example.com", "imap_password": pw, "imap_host": a.mail.Host(), "imap_port": a.mail.IMAPPort(),
		"smtp_host": a.mail.Host(), "smtp_port": a.mail.SMTPPort()}})
	lines = append(lines, string(imapLine))
	t.Setenv("GRANTD_URL", a.HTTP.URL)
	t.Setenv("GRANTD_API_KEY", a.key)
	if out, err := runCmd(t, "import", "--report", filepath.Join(t.TempDir(), "a.ndjson"), "--progress", "off", writeInput(t, lines)); err != nil {
		t.Fatal(out, err)
	}
	wantEmails := a.grantEmails(t, a.HTTP.URL, a.key)

	// Export, from the store of a (it keeps running).
	t.Setenv("GRANTD_VAULT_KEYRING", a.Config.Vault.Keyring)
	dir := t.TempDir()
	file := filepath.Join(dir, "export.ndjson")
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"export", "--app", a.appID, "--include-secrets", "--out", file, "--data-dir", a.Config.DataDir}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	if !strings.Contains(errb.String(), "WARNING") || !strings.Contains(errb.String(), "wrote 6 grants") {
		t.Errorf("export stderr: %s", errb.String())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode: %v %v", fi, err)
	}
	exported, _ := os.ReadFile(file)
	if !strings.Contains(string(exported), pw) || strings.Count(string(exported), "refresh_token") != 5 {
		t.Errorf("export lacks the secrets:\n%s", exported)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("export left files behind: %v", entries)
	}
	// Without --include-secrets: no secret, and a note saying so.
	out.Reset()
	errb.Reset()
	if err := run(t.Context(), []string{"export", "--app", a.appID, "--data-dir", a.Config.DataDir}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	if strings.Contains(out.String(), pw) || strings.Contains(out.String(), "refresh_token") || !strings.Contains(errb.String(), "no secrets") ||
		strings.Count(out.String(), "\n") != 6 {
		t.Errorf("export without secrets:\n%s\n%s", out.String(), errb.String())
	}
	if _, err := runCmd(t, "export", "--app", "nope", "--data-dir", a.Config.DataDir); err == nil || !strings.Contains(err.Error(), "no application") {
		t.Errorf("unknown app: %v", err)
	}

	// Import into b, another grantd against the same providers.
	b := newImportEnv(t, a.Sandbox, a.mail)
	t.Setenv("GRANTD_URL", b.HTTP.URL)
	t.Setenv("GRANTD_API_KEY", b.key)
	report := filepath.Join(t.TempDir(), "b.ndjson")
	if out, err := runCmd(t, "import", "--report", report, "--progress", "off", file); err != nil {
		t.Fatal(out, err)
	}
	if got := b.grantEmails(t, b.HTTP.URL, b.key); strings.Join(got, ",") != strings.Join(wantEmails, ",") {
		t.Errorf("grants in b: %v, want %v", got, wantEmails)
	}
	for _, r := range reportRecords(t, report) {
		if r.Outcome != "created" || len(r.ExternalID) != 36 || r.ExternalID == r.GrantID {
			t.Errorf("import into b: %+v", r)
		}
	}
}
