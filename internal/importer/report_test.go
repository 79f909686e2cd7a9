package importer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptSender answers each line by the script for its external_id:
// "ok", "reauth", "perm", "fatal", "transient:N" (N transient failures,
// then ok), "429:N".
type scriptSender struct {
	mu    sync.Mutex
	calls map[string]int
}

func (s *scriptSender) Send(_ context.Context, it *Item) (Result, error) {
	s.mu.Lock()
	s.calls[it.ExternalID]++
	n := s.calls[it.ExternalID]
	s.mu.Unlock()
	script, arg, _ := strings.Cut(it.ExternalID, ":")
	var times int
	fmt.Sscan(arg, &times)
	ok := Result{GrantID: "g-" + it.ExternalID, Email: it.ExternalID + "@example.com"}
	switch script {
	case "ok":
		return ok, nil
	case "reauth":
		ok.Reauthenticated = true
		return ok, nil
	case "perm":
		return Result{}, &SendError{Kind: Permanent, Info: ErrorInfo{Type: "api.invalid_request_error", Message: "refused", Status: 400}}
	case "fatal":
		return Result{}, &SendError{Kind: Fatal, Info: ErrorInfo{Type: "api.authentication_error", Message: "bad key", Status: 401}}
	case "transient":
		if n <= times {
			return Result{}, fmt.Errorf("connection refused")
		}
		return ok, nil
	case "429":
		if n <= times {
			return Result{}, &SendError{Kind: RateLimited, RetryAfter: 10 * time.Millisecond, Info: ErrorInfo{Type: "api.rate_limit_error", Status: 429}}
		}
		return ok, nil
	}
	return Result{}, fmt.Errorf("no script %q", script)
}

func lines(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, `{"provider":"google","settings":{"refresh_token":"rt-%s"},"external_id":%q}`+"\n", id, id)
	}
	return b.String()
}

func readRecords(t *testing.T, path string) (Header, []Record) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var hdr Header
	var recs []Record
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return hdr, recs
}

func runOnce(t *testing.T, input, report string, s Sender, retries int) (*Runner, error) {
	t.Helper()
	info := InputInfo{Name: "test", HeadSHA256: fmt.Sprint(len(input)), HeadBytes: len(input)}
	rep, err := OpenReport(report, info, false)
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{Sender: s, Report: rep, Concurrency: 3, Retries: retries, Backoff: func(int) time.Duration { return time.Millisecond }})
	runErr := r.Run(context.Background(), strings.NewReader(input))
	if err := rep.Finish(); err != nil {
		t.Fatal(err)
	}
	return r, runErr
}

func TestRunnerOutcomesAndResume(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.ndjson")
	input := lines("ok", "reauth", "perm", "transient:2", "transient:9", "429:3") + "not json\n" + lines("ok")
	s := &scriptSender{calls: map[string]int{}}
	r, err := runOnce(t, input, report, s, 3)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := r.Summary()
	if sum.Created != 3 || sum.Reauthenticated != 1 || sum.Failed != 4 || sum.ByClass[ClassTransient] != 1 || sum.ByClass[ClassInput] != 2 || sum.ByClass[ClassPermanent] != 1 {
		t.Errorf("summary %+v", sum)
	}
	_, recs := readRecords(t, report)
	byLine := map[int]Record{}
	for _, rec := range recs {
		if _, dup := byLine[rec.Line]; dup || rec.Sending {
			t.Errorf("record %+v: a second record of its line, or a sending record after the end", rec)
		}
		byLine[rec.Line] = rec
	}
	if len(byLine) != 8 {
		t.Fatalf("%d lines in the report: %+v", len(byLine), recs)
	}
	check := func(line int, outcome, class string, attempts int) {
		t.Helper()
		rec := byLine[line]
		got := ""
		if rec.Error != nil {
			got = rec.Error.Class
		}
		if rec.Outcome != outcome || got != class || (attempts > 0 && rec.Attempts != attempts) {
			t.Errorf("line %d: %+v (error %+v)", line, rec, rec.Error)
		}
	}
	check(1, OutcomeCreated, "", 1)
	check(2, OutcomeReauthenticated, "", 1)
	check(3, OutcomeFailed, ClassPermanent, 1)
	check(4, OutcomeCreated, "", 3)
	check(5, OutcomeFailed, ClassTransient, 4)
	check(6, OutcomeCreated, "", 4)
	check(7, OutcomeFailed, ClassInput, 0)
	check(8, OutcomeFailed, ClassInput, 0) // the same refresh token as line 1
	if byLine[8].Error.Type != TypeDuplicate || !strings.Contains(byLine[8].Error.Message, "line 1") {
		t.Errorf("duplicate: %+v", byLine[8].Error)
	}

	// A rerun sends only the transient failure again, and the report
	// still has one record a line.
	s.calls = map[string]int{}
	r, err = runOnce(t, input, report, s, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 1 || s.calls["transient:9"] != 4 {
		t.Errorf("rerun sent %v", s.calls)
	}
	if p := r.Progress(); p.Skipped != 7 || p.Done != 8 {
		t.Errorf("rerun progress %+v", p)
	}
	_, recs = readRecords(t, report)
	if len(recs) != 8 {
		t.Errorf("%d records after the rerun", len(recs))
	}

	// Another input is refused.
	if _, err := OpenReport(report, InputInfo{HeadSHA256: "other", HeadBytes: 3}, false); err == nil || !strings.Contains(err.Error(), "another input") {
		t.Errorf("another input: %v", err)
	}
	// A file that is no report is refused.
	other := filepath.Join(t.TempDir(), "users.ndjson")
	os.WriteFile(other, []byte(input), 0o600)
	if _, err := OpenReport(other, InputInfo{}, false); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("input given as report: %v", err)
	}
}

func TestRunnerFatalStops(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.ndjson")
	var ids []string
	for i := range 50 {
		ids = append(ids, fmt.Sprintf("ok:%d", i))
	}
	ids[10] = "fatal"
	s := &scriptSender{calls: map[string]int{}}
	_, err := runOnce(t, lines(ids...), report, s, 3)
	if err == nil || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("run: %v", err)
	}
	_, recs := readRecords(t, report)
	for _, rec := range recs {
		if rec.Line == 11 && !rec.Sending {
			t.Errorf("the fatal line has an outcome: %+v", rec)
		}
	}
	if len(s.calls) > 20 {
		t.Errorf("the run went on after the fatal answer: %d lines sent", len(s.calls))
	}
}

// A report cut by a crash (a torn last line, sending records without an
// outcome) resumes: the torn line is dropped, the sent lines are replayed
// and marked so.
func TestResumeAfterCrash(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.ndjson")
	input := lines("ok", "ok:2", "perm")
	info := InputInfo{Name: "test", HeadSHA256: fmt.Sprint(len(input)), HeadBytes: len(input)}
	hdr, _ := json.Marshal(Header{Format: ReportFormat, Input: info})
	body := string(hdr) + "\n" +
		`{"line":1,"sending":true}` + "\n" +
		`{"line":1,"outcome":"created","grant_id":"g1"}` + "\n" +
		`{"line":2,"sending":true}` + "\n" +
		`{"line":3,"sen`
	if err := os.WriteFile(report, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &scriptSender{calls: map[string]int{}}
	if _, err := runOnce(t, input, report, s, 1); err != nil {
		t.Fatal(err)
	}
	if s.calls["ok"] != 0 || s.calls["ok:2"] != 1 || s.calls["perm"] != 1 {
		t.Errorf("sent %v", s.calls)
	}
	_, recs := readRecords(t, report)
	if len(recs) != 3 {
		t.Fatalf("records %+v", recs)
	}
	for _, rec := range recs {
		if rec.Replayed != (rec.Line == 2) {
			t.Errorf("line %d replayed=%v", rec.Line, rec.Replayed)
		}
	}
	st, _ := os.Stat(report)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v", st.Mode())
	}
	// An edited report (a bad record before the end) is refused.
	b, _ := os.ReadFile(report)
	os.WriteFile(report, []byte(strings.Replace(string(b), `{"line":1`, `{"line":x`, 1)), 0o600)
	if _, err := OpenReport(report, info, false); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("edited report: %v", err)
	}
}
