package conformance

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Import jobs.

func importJob(app string, state string, created time.Time, mod func(*store.ImportJob)) store.ImportJob {
	j := store.ImportJob{ID: newID("imp"), AppID: app, State: state, CreatedAt: created, UpdatedAt: created}
	if mod != nil {
		mod(&j)
	}
	return j
}

func testImportJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	app, other := newApp(t, s), newApp(t, s)
	up := importJob(app, store.ImportUploading, t0, func(j *store.ImportJob) {
		j.LeaseOwner, j.LeaseUntil = "uploader", t0.Add(time.Minute)
	})
	must(t, "CreateImportJob", s.CreateImportJob(ctx, up))
	mustIs(t, "CreateImportJob duplicate", s.CreateImportJob(ctx, up), store.ErrAlreadyExists)
	mustIs(t, "CreateImportJob for a missing app", s.CreateImportJob(ctx, importJob("no-such-app", store.ImportQueued, t0, nil)), store.ErrNotFound)
	got, err := s.GetImportJob(ctx, app, up.ID)
	must(t, "GetImportJob", err)
	want := up
	want.CreatedAt, want.UpdatedAt, want.LeaseUntil = us(t0), us(t0), us(t0.Add(time.Minute))
	mustEqual(t, "GetImportJob", got, want)
	_, err = s.GetImportJob(ctx, other, up.ID)
	mustIs(t, "GetImportJob of another app", err, store.ErrNotFound)

	must(t, "AddImportLines", s.AddImportLines(ctx, up.ID, []store.ImportLine{
		{Line: 1, Sealed: []byte("sealed-1")},
		{Line: 3, Outcome: "failed", Result: []byte(`{"line":3,"outcome":"failed"}`)},
		{Line: 4, Sealed: []byte("sealed-4")},
	}))
	mustIs(t, "AddImportLines with a line taken", s.AddImportLines(ctx, up.ID, []store.ImportLine{{Line: 5, Sealed: []byte("x")}, {Line: 1, Sealed: []byte("y")}}), store.ErrAlreadyExists)
	pending, err := s.PendingImportLines(ctx, up.ID, 0, 10)
	must(t, "PendingImportLines", err)
	mustEqual(t, "PendingImportLines (the failed add left nothing)", pending, []store.ImportLine{{Line: 1, Sealed: []byte("sealed-1")}, {Line: 4, Sealed: []byte("sealed-4")}})
	pending, err = s.PendingImportLines(ctx, up.ID, 1, 10)
	must(t, "PendingImportLines after 1", err)
	mustEqual(t, "PendingImportLines after 1", len(pending), 1)

	list, err := s.ListImportJobs(ctx, app, store.ListOptions{})
	must(t, "ListImportJobs", err)
	mustEqual(t, "ListImportJobs hides uploads", len(list), 0)

	queued, err := s.UpdateImportJob(ctx, app, up.ID, func(old store.ImportJob) (store.ImportJob, error) {
		mustEqual(t, "closure input", old, want)
		old.ID, old.AppID, old.CreatedAt = "x", "y", time.Time{} // kept
		old.State, old.Lines, old.Done, old.FailedInput, old.LeaseOwner, old.LeaseUntil = store.ImportQueued, 3, 1, 1, "", time.Time{}
		old.UpdatedAt = t0.Add(time.Second)
		return old, nil
	})
	must(t, "UpdateImportJob", err)
	want.State, want.Lines, want.Done, want.FailedInput, want.LeaseOwner, want.LeaseUntil = store.ImportQueued, 3, 1, 1, "", time.Time{}
	want.UpdatedAt = us(t0.Add(time.Second))
	mustEqual(t, "UpdateImportJob", queued, want)
	_, err = s.UpdateImportJob(ctx, other, up.ID, func(old store.ImportJob) (store.ImportJob, error) { return old, nil })
	mustIs(t, "UpdateImportJob of another app", err, store.ErrNotFound)

	second := importJob(app, store.ImportDone, t0.Add(time.Hour), func(j *store.ImportJob) {
		j.DryRun, j.Lines, j.Done, j.Checked, j.FinishedAt = true, 2, 2, 2, t0.Add(time.Hour)
	})
	must(t, "CreateImportJob 2", s.CreateImportJob(ctx, second))
	list, err = s.ListImportJobs(ctx, app, store.ListOptions{})
	must(t, "ListImportJobs", err)
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != up.ID {
		t.Fatalf("ListImportJobs: want newest first [%s %s], got %+v", second.ID, up.ID, list)
	}
	mustEqual(t, "ListImportJobs dry run", list[0].DryRun, true)
	list, _ = s.ListImportJobs(ctx, app, store.ListOptions{Limit: 1, Offset: 1})
	if len(list) != 1 || list[0].ID != up.ID {
		t.Fatalf("ListImportJobs limit 1 offset 1: got %+v", list)
	}
	list, _ = s.ListImportJobs(ctx, other, store.ListOptions{})
	mustEqual(t, "ListImportJobs of another app", len(list), 0)

	n, err := s.DropImportInput(ctx, up.ID)
	must(t, "DropImportInput", err)
	mustEqual(t, "DropImportInput", n, 2)
	pending, _ = s.PendingImportLines(ctx, up.ID, 0, 10)
	mustEqual(t, "PendingImportLines after DropImportInput", len(pending), 0)
	results, err := s.ImportResults(ctx, up.ID, 0, 10)
	must(t, "ImportResults", err)
	mustEqual(t, "ImportResults", results, []store.ImportLine{{Line: 3, Outcome: "failed", Result: []byte(`{"line":3,"outcome":"failed"}`)}})

	mustIs(t, "DeleteImportJob of another app", s.DeleteImportJob(ctx, other, up.ID), store.ErrNotFound)
	must(t, "DeleteImportJob", s.DeleteImportJob(ctx, app, up.ID))
	_, err = s.GetImportJob(ctx, app, up.ID)
	mustIs(t, "GetImportJob after delete", err, store.ErrNotFound)
	results, err = s.ImportResults(ctx, up.ID, 0, 10)
	must(t, "ImportResults after delete", err)
	mustEqual(t, "lines deleted with the job", len(results), 0)
}

func testImportClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newApp(t, s), newApp(t, s)
	now := t0.Add(time.Hour)
	// The oldest claimable job first; an upload is never claimed.
	upload := importJob(a, store.ImportUploading, t0.Add(-time.Hour), func(j *store.ImportJob) { j.LeaseOwner, j.LeaseUntil = "up", now.Add(-time.Second) })
	a1 := importJob(a, store.ImportQueued, t0, nil)
	a2 := importJob(a, store.ImportQueued, t0.Add(time.Second), nil)
	b1 := importJob(b, store.ImportQueued, t0.Add(2*time.Second), nil)
	done := importJob(b, store.ImportDone, t0.Add(-2*time.Hour), nil)
	for _, j := range []store.ImportJob{upload, a1, a2, b1, done} {
		must(t, "CreateImportJob", s.CreateImportJob(ctx, j))
	}
	j, ok, err := s.ClaimImportJob(ctx, now, "n1", time.Minute)
	must(t, "ClaimImportJob", err)
	if !ok || j.ID != a1.ID || j.State != store.ImportRunning || j.LeaseOwner != "n1" || !j.LeaseUntil.Equal(us(now.Add(time.Minute))) || !j.StartedAt.Equal(us(now)) {
		t.Fatalf("first claim: want %s running, leased to n1, got ok=%v %+v", a1.ID, ok, j)
	}
	// a2 waits while a1 runs: an application's jobs run one at a time.
	j, ok, err = s.ClaimImportJob(ctx, now, "n2", time.Minute)
	must(t, "ClaimImportJob 2", err)
	if !ok || j.ID != b1.ID {
		t.Fatalf("second claim: want %s (a2 waits for a1), got ok=%v %+v", b1.ID, ok, j)
	}
	_, ok, err = s.ClaimImportJob(ctx, now, "n3", time.Minute)
	must(t, "ClaimImportJob 3", err)
	mustEqual(t, "third claim finds nothing", ok, false)

	// Renewal by the owner only.
	r, err := s.RenewImportJob(ctx, a1.ID, "n1", 2*time.Minute, now.Add(30*time.Second))
	must(t, "RenewImportJob", err)
	mustEqual(t, "renewed until", r.LeaseUntil, us(now.Add(150*time.Second)))
	_, err = s.RenewImportJob(ctx, a1.ID, "n2", time.Minute, now)
	mustIs(t, "RenewImportJob by another node", err, store.ErrConflict)

	// A lapsed lease is taken over, StartedAt kept.
	later := now.Add(10 * time.Minute)
	j, ok, err = s.ClaimImportJob(ctx, later, "n4", time.Minute)
	must(t, "ClaimImportJob after the lease ran out", err)
	if !ok || j.ID != a1.ID || j.LeaseOwner != "n4" || !j.StartedAt.Equal(us(now)) {
		t.Fatalf("takeover: want %s leased to n4 with its first start, got ok=%v %+v", a1.ID, ok, j)
	}
	_, err = s.RenewImportJob(ctx, a1.ID, "n1", time.Minute, later)
	mustIs(t, "RenewImportJob by the node that lost the lease", err, store.ErrConflict)

	// A cancelled job is not renewed, and its application's next job runs.
	_, err = s.UpdateImportJob(ctx, a, a1.ID, func(old store.ImportJob) (store.ImportJob, error) {
		old.State, old.FinishedAt = store.ImportCancelled, later
		return old, nil
	})
	must(t, "cancel", err)
	_, err = s.RenewImportJob(ctx, a1.ID, "n4", time.Minute, later)
	mustIs(t, "RenewImportJob of a cancelled job", err, store.ErrConflict)
	j, ok, err = s.ClaimImportJob(ctx, later, "n5", time.Minute)
	must(t, "ClaimImportJob after cancel", err)
	if !ok || (j.ID != a2.ID && j.ID != b1.ID) {
		t.Fatalf("claim after cancel: want a2 or b1 (lapsed), got ok=%v %+v", ok, j)
	}

	// An upload renews its lease, and is deleted when it ran out.
	_, err = s.RenewImportJob(ctx, upload.ID, "up", time.Minute, now.Add(-2*time.Minute))
	must(t, "RenewImportJob of an upload", err)
	n, err := s.DeleteStaleImportUploads(ctx, later)
	must(t, "DeleteStaleImportUploads", err)
	mustEqual(t, "stale uploads deleted", n, 1)
	_, err = s.GetImportJob(ctx, a, upload.ID)
	mustIs(t, "stale upload", err, store.ErrNotFound)
}

func testImportOutcomes(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	j := importJob(app, store.ImportQueued, t0, func(j *store.ImportJob) { j.Lines = 6 })
	must(t, "CreateImportJob", s.CreateImportJob(ctx, j))
	var lines []store.ImportLine
	for i := 1; i <= 6; i++ {
		lines = append(lines, store.ImportLine{Line: i, Sealed: fmt.Appendf(nil, "secret-%d", i)})
	}
	must(t, "AddImportLines", s.AddImportLines(ctx, j.ID, lines))
	mustIs(t, "MarkImportLineSending before a claim", s.MarkImportLineSending(ctx, j.ID, "n1", 1), store.ErrConflict)
	_, ok, err := s.ClaimImportJob(ctx, t0, "n1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("ClaimImportJob: %v %v", ok, err)
	}
	must(t, "MarkImportLineSending", s.MarkImportLineSending(ctx, j.ID, "n1", 1))
	pending, _ := s.PendingImportLines(ctx, j.ID, 0, 1)
	mustEqual(t, "sending line", pending, []store.ImportLine{{Line: 1, Sealed: []byte("secret-1"), Sending: true}})

	_, err = s.RecordImportOutcome(ctx, j.ID, "n2", store.ImportOutcome{Line: 1, Outcome: "created", Result: []byte(`{}`)})
	mustIs(t, "RecordImportOutcome by a node without the lease", err, store.ErrConflict)
	outcomes := []store.ImportOutcome{
		{Line: 1, Outcome: "created", Result: []byte(`{"line":1}`)},
		{Line: 2, Outcome: "reauthenticated", Result: []byte(`{"line":2}`)},
		{Line: 3, Outcome: "failed", Class: "input", Result: []byte(`{"line":3}`)},
		{Line: 4, Outcome: "failed", Class: "permanent", Result: []byte(`{"line":4}`)},
		{Line: 5, Outcome: "failed", Class: "transient", Result: []byte(`{"line":5}`)},
	}
	for _, o := range outcomes {
		ok, err := s.RecordImportOutcome(ctx, j.ID, "n1", o)
		must(t, "RecordImportOutcome", err)
		mustEqual(t, fmt.Sprintf("line %d recorded", o.Line), ok, true)
	}
	ok, err = s.RecordImportOutcome(ctx, j.ID, "n1", store.ImportOutcome{Line: 1, Outcome: "failed", Class: "transient", Result: []byte(`{"again":true}`)})
	must(t, "RecordImportOutcome again", err)
	mustEqual(t, "a line's second outcome is not recorded", ok, false)
	_, err = s.RecordImportOutcome(ctx, j.ID, "n1", store.ImportOutcome{Line: 6, Outcome: "bogus"})
	mustIs(t, "RecordImportOutcome of an unknown outcome", err, store.ErrInvalid)

	got, err := s.GetImportJob(ctx, app, j.ID)
	must(t, "GetImportJob", err)
	counts := [6]int{got.Done, got.Created, got.Reauthenticated, got.FailedInput, got.FailedPermanent, got.FailedTransient}
	mustEqual(t, "counters (done, created, reauthenticated, failed input, permanent, transient)", counts, [6]int{5, 1, 1, 1, 1, 1})
	pending, _ = s.PendingImportLines(ctx, j.ID, 0, 10)
	mustEqual(t, "pending after the outcomes", pending, []store.ImportLine{{Line: 6, Sealed: []byte("secret-6")}})
	results, err := s.ImportResults(ctx, j.ID, 0, 3)
	must(t, "ImportResults", err)
	mustEqual(t, "ImportResults page 1 (no secret kept)", results, []store.ImportLine{
		{Line: 1, Outcome: "created", Result: []byte(`{"line":1}`)},
		{Line: 2, Outcome: "reauthenticated", Result: []byte(`{"line":2}`)},
		{Line: 3, Outcome: "failed", Result: []byte(`{"line":3}`)},
	})
	results, _ = s.ImportResults(ctx, j.ID, 3, 3)
	mustEqual(t, "ImportResults page 2", len(results), 2)
}

// testImportConcurrent: claimers on every node take disjoint jobs, and
// writers recording the same lines at once count each line once.
func testImportConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const jobs, claimers, lines = 12, 4, 40
	ids := map[string]string{}
	for i := range jobs {
		app := newApp(t, s)
		j := importJob(app, store.ImportQueued, t0.Add(time.Duration(i)*time.Second), nil)
		must(t, "CreateImportJob", s.CreateImportJob(ctx, j))
		ids[j.ID] = app
	}
	var (
		mu    sync.Mutex
		owner = map[string]string{}
		dup   []string
		wg    sync.WaitGroup
	)
	for c := range claimers {
		name := fmt.Sprintf("node-%d", c)
		wg.Go(func() {
			for {
				j, ok, err := s.ClaimImportJob(ctx, t0.Add(time.Hour), name, time.Hour)
				if err != nil {
					t.Errorf("ClaimImportJob: %v", err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if prev, ok := owner[j.ID]; ok {
					dup = append(dup, j.ID+" by "+prev+" and "+name)
				}
				owner[j.ID] = name
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	mustEqual(t, "jobs claimed twice", dup, []string(nil))
	mustEqual(t, "jobs claimed", len(owner), jobs)

	var id string
	for k := range owner {
		id = k
		break
	}
	var add []store.ImportLine
	for i := 1; i <= lines; i++ {
		add = append(add, store.ImportLine{Line: i, Sealed: []byte("s")})
	}
	must(t, "AddImportLines", s.AddImportLines(ctx, id, add))
	var recorded sync.Map
	for w := range 4 {
		wg.Go(func() {
			for i := 1; i <= lines; i++ {
				ok, err := s.RecordImportOutcome(ctx, id, owner[id], store.ImportOutcome{Line: i, Outcome: "created", Result: fmt.Appendf(nil, `{"writer":%d}`, w)})
				if err != nil {
					t.Errorf("RecordImportOutcome: %v", err)
					return
				}
				if ok {
					if _, again := recorded.LoadOrStore(i, w); again {
						t.Errorf("line %d recorded twice", i)
					}
				}
			}
		})
	}
	wg.Wait()
	got, err := s.GetImportJob(ctx, ids[id], id)
	must(t, "GetImportJob", err)
	if got.Done != lines || got.Created != lines {
		t.Fatalf("counters after concurrent writers: done %d created %d, want %d", got.Done, got.Created, lines)
	}
}
