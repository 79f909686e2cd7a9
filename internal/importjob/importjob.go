// Package importjob runs bulk imports inside grantd (POST
// /grantd/v1/imports): the same engine as `grantd import`
// (internal/importer: line parsing and checks, duplicates, per-provider
// rate limits, retries, outcome records), with the grant service called
// directly instead of over HTTP and the database instead of a report file.
//
// An upload is streamed: every line is checked as a dry run checks it;
// a bad line gets its input-class outcome at once, a good one is stored
// sealed with the vault (it holds secrets). The job is then queued, and a
// node claims it with a lease (store.ClaimImportJob: one node runs a job
// at a time; an application's jobs run one after the other), renews the
// lease while it runs, and records each line's outcome in one transaction
// with the job's counters, fenced by the lease and refused for a line that
// has one already: a line is done once. A node that dies leaves its lease
// to run out; another node (or the same one restarted) takes the job over
// and sends the lines without an outcome again. grant.Service keeps one
// grant per email address in an application, so a line sent again after
// its grant was made re-authenticates that grant and is reported as
// reauthenticated. The sealed input of a line is deleted with its outcome,
// and whatever is left when the job ends (done, failed or cancelled).
package importjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/store"
)

// Config configures the jobs (the imports.* keys).
type Config struct {
	// Workers is the most lines of one job in flight at once.
	Workers int
	// Jobs is the most jobs this node runs at once.
	Jobs int
	// Rates limit the lines sent per provider in one job.
	Rates importer.Rates
	// Retries of a line after a transient failure.
	Retries int
	// Lease is how long a claimed job is reserved for one node; the
	// lease is renewed every third of it.
	Lease time.Duration
	// PollInterval is how often the node looks for a job to run.
	PollInterval time.Duration
	// Backoff before retry n (nil: the importer's default).
	Backoff func(n int) time.Duration
}

// Authenticator is the grant service's create path.
type Authenticator interface {
	Authenticate(ctx context.Context, req grant.AuthRequest) (store.Grant, bool, error)
}

// Describe tells how the API would answer a grant service error (its
// status, type, message and provider_error); false for an internal error.
type Describe func(err error) (importer.ErrorInfo, bool)

// Service manages and runs import jobs.
type Service struct {
	Store    store.Store
	Vault    grant.Sealer
	Grants   Authenticator
	Describe Describe
	Config   Config
	Log      *slog.Logger
	Now      func() time.Time
	NewID    func() string
	// Owner names this node in leases.
	Owner string

	wakeOnce sync.Once
	wake     chan struct{}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) wakeup() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// aad binds a sealed line to its job and number.
func aad(j store.ImportJob, line int) []byte {
	return fmt.Appendf(nil, "import/%s/%s/%d", j.AppID, j.ID, line)
}

// Errors of Create.
var (
	// ErrEmpty: the body has no line.
	ErrEmpty = fault.Invalidf("the body has no lines: send NDJSON, one POST /v3/connect/custom body per line")
)

// uploadBatch is how many lines an upload stores per transaction.
const uploadBatch = 200

// Create reads an import's NDJSON body, checks every line (a dry run of
// the importer) and stores the job: queued, or done at once for a dry run
// (dryRun: nothing is stored but the outcomes) or when no line is good.
// An error from reading body (too large, cut short) is returned as it is,
// and nothing is kept.
func (s *Service) Create(ctx context.Context, appID string, body io.Reader, dryRun bool) (store.ImportJob, error) {
	now := s.now()
	j := store.ImportJob{ID: s.NewID(), AppID: appID, State: store.ImportUploading, DryRun: dryRun,
		LeaseOwner: s.Owner, LeaseUntil: now.Add(s.Config.Lease), CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateImportJob(ctx, j); err != nil {
		return j, err
	}
	up := &upload{s: s, job: j, renewed: now}
	r := importer.New(importer.Options{
		DryRun: true,
		Accept: func(it *importer.Item) error {
			if up.err != nil {
				return up.err // storing a failure's outcome failed
			}
			if dryRun {
				return nil // recorded as checked by OnOutcome
			}
			sealed, err := s.Vault.Seal(it.Body, aad(j, it.Line))
			if err != nil {
				return err
			}
			up.good++
			return up.add(ctx, store.ImportLine{Line: it.Line, Sealed: sealed})
		},
		OnOutcome: func(rec importer.Record) {
			if rec.Outcome == importer.OutcomeChecked && !dryRun {
				return
			}
			if rec.Outcome == importer.OutcomeChecked {
				up.checked++
			} else {
				up.failed++
			}
			res, _ := json.Marshal(rec)
			if err := up.add(ctx, store.ImportLine{Line: rec.Line, Outcome: rec.Outcome, Result: res}); err != nil && up.err == nil {
				up.err = err
			}
		},
	})
	err := r.Run(ctx, body)
	if err == nil {
		err = up.err
	}
	if err == nil {
		err = up.flush(ctx)
	}
	if err == nil && up.lines() == 0 {
		err = ErrEmpty
	}
	if err != nil {
		if derr := s.Store.DeleteImportJob(context.WithoutCancel(ctx), appID, j.ID); derr != nil {
			s.Log.Warn("import upload: cannot delete the abandoned job (it is deleted when its lease runs out)", slog.String("job_id", j.ID), slog.Any("err", derr))
		}
		return j, err
	}
	j, err = s.Store.UpdateImportJob(ctx, appID, j.ID, func(old store.ImportJob) (store.ImportJob, error) {
		now := s.now()
		old.Lines, old.Done, old.Checked, old.FailedInput = up.lines(), up.checked+up.failed, up.checked, up.failed
		old.State, old.LeaseOwner, old.LeaseUntil, old.UpdatedAt = store.ImportQueued, "", time.Time{}, now
		if dryRun || up.good == 0 {
			old.State, old.StartedAt, old.FinishedAt = store.ImportDone, now, now
		}
		return old, nil
	})
	if err != nil {
		return j, err
	}
	s.Log.Info("import job created", slog.String("app_id", appID), slog.String("job_id", j.ID), slog.Int("lines", j.Lines),
		slog.Int("bad_lines", up.failed), slog.Bool("dry_run", dryRun), slog.String("state", j.State))
	if j.State == store.ImportQueued {
		select {
		case s.wakeup() <- struct{}{}:
		default:
		}
	}
	return j, nil
}

// upload buffers an upload's lines and stores them in batches, renewing
// the upload's lease.
type upload struct {
	s                     *Service
	job                   store.ImportJob
	buf                   []store.ImportLine
	good, failed, checked int
	renewed               time.Time
	err                   error
}

func (u *upload) lines() int { return u.good + u.failed + u.checked }

func (u *upload) add(ctx context.Context, l store.ImportLine) error {
	u.buf = append(u.buf, l)
	if len(u.buf) >= uploadBatch {
		return u.flush(ctx)
	}
	return nil
}

func (u *upload) flush(ctx context.Context) error {
	if len(u.buf) == 0 {
		return nil
	}
	if err := u.s.Store.AddImportLines(ctx, u.job.ID, u.buf); err != nil {
		return err
	}
	u.buf = u.buf[:0]
	if now := u.s.now(); now.Sub(u.renewed) > u.s.Config.Lease/3 {
		if _, err := u.s.Store.RenewImportJob(ctx, u.job.ID, u.s.Owner, u.s.Config.Lease, now); err != nil {
			return err
		}
		u.renewed = now
	}
	return nil
}

func notFound(id string) error { return fault.NotFoundf("import job %q not found", id) }

// Get returns an application's job.
func (s *Service) Get(ctx context.Context, appID, id string) (store.ImportJob, error) {
	j, err := s.Store.GetImportJob(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.State == store.ImportUploading) {
		return j, notFound(id)
	}
	return j, err
}

// List returns an application's jobs, newest first.
func (s *Service) List(ctx context.Context, appID string, opts store.ListOptions) ([]store.ImportJob, error) {
	return s.Store.ListImportJobs(ctx, appID, opts)
}

// Cancel stops a queued or running job: no line is sent from now on
// (lines in flight on the node running it finish and are recorded), and
// its sealed input is deleted. A cancelled job is returned as it is; a
// done or failed one is a conflict.
func (s *Service) Cancel(ctx context.Context, appID, id string) (store.ImportJob, error) {
	j, err := s.Store.UpdateImportJob(ctx, appID, id, func(old store.ImportJob) (store.ImportJob, error) {
		switch old.State {
		case store.ImportUploading:
			return old, notFound(id)
		case store.ImportCancelled:
			return old, nil
		case store.ImportDone, store.ImportFailed:
			return old, fault.Conflictf("import job %s is %s already: there is nothing to cancel", id, old.State)
		}
		now := s.now()
		old.State, old.FinishedAt, old.UpdatedAt = store.ImportCancelled, now, now
		return old, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return j, notFound(id)
	}
	if err != nil {
		return j, err
	}
	if _, err := s.Store.DropImportInput(ctx, id); err != nil {
		return j, err
	}
	return j, nil
}

// resultsPage is how many outcomes Results reads at a time.
const resultsPage = 500

// Results calls fn with the outcome record (JSON, no secrets) of each line
// of a job that has one, in line order.
func (s *Service) Results(ctx context.Context, appID, id string, fn func(rec []byte) error) error {
	if _, err := s.Get(ctx, appID, id); err != nil {
		return err
	}
	after := 0
	for {
		page, err := s.Store.ImportResults(ctx, id, after, resultsPage)
		if err != nil {
			return err
		}
		for _, l := range page {
			if err := fn(l.Result); err != nil {
				return err
			}
			after = l.Line
		}
		if len(page) < resultsPage {
			return nil
		}
	}
}
