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

	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/store"
)

// UserAgent is recorded on the grants a job makes.
const UserAgent = "grantd-import-job"

// Run runs the jobs this node claims until ctx is done; then it waits for
// them to stop (lines in flight finish and are recorded) and releases
// their leases, so that a restarted node takes them over at once.
func (s *Service) Run(ctx context.Context) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running int
	)
	defer wg.Wait()
	t := time.NewTicker(s.Config.PollInterval)
	defer t.Stop()
	lastSweep := time.Time{}
	for {
		if now := s.now(); now.Sub(lastSweep) > s.Config.Lease {
			lastSweep = now
			if n, err := s.Store.DeleteStaleImportUploads(ctx, now); err != nil && ctx.Err() == nil {
				s.Log.Warn("import jobs: cannot delete abandoned uploads", slog.Any("err", err))
			} else if n > 0 {
				s.Log.Info("import jobs: deleted abandoned uploads", slog.Int("jobs", n))
			}
		}
		for {
			mu.Lock()
			free := running < s.Config.Jobs
			mu.Unlock()
			if !free || ctx.Err() != nil {
				break
			}
			j, ok, err := s.Store.ClaimImportJob(ctx, s.now(), s.Owner, s.Config.Lease)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Warn("import jobs: claim failed", slog.Any("err", err))
				}
				break
			}
			if !ok {
				break
			}
			mu.Lock()
			running++
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					running--
					mu.Unlock()
				}()
				s.runJob(ctx, j)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wakeup():
		}
	}
}

// errLeaseLost stops a run whose lease another node took, or whose job
// was cancelled.
var errLeaseLost = errors.New("the job's lease is lost (taken over, cancelled or finished)")

// runJob runs one claimed job until it is finished, stopped or its lease
// is lost.
func (s *Service) runJob(ctx context.Context, j store.ImportJob) {
	log := s.Log.With(slog.String("app_id", j.AppID), slog.String("job_id", j.ID))
	log.Info("import job running", slog.Int("lines", j.Lines), slog.Int("done", j.Done))
	jctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var renewer sync.WaitGroup
	renewer.Go(func() { s.renew(jctx, stop, j, log) })
	defer renewer.Wait()
	defer stop(nil)

	rec := &recorder{s: s, job: j}
	var err error
	for pass := 0; ; pass++ {
		src := &source{s: s, ctx: jctx, job: j}
		r := importer.New(importer.Options{
			Sender: &sender{s: s, appID: j.AppID}, Report: rec, Concurrency: s.Config.Workers,
			Rates: s.Config.Rates, Retries: s.Config.Retries, Backoff: s.Config.Backoff, Total: j.Lines,
		})
		err = r.RunSource(jctx, src)
		if err != nil || src.read == 0 || pass > 3 {
			break
		}
		// Lines were sent: look again for one left without an outcome.
	}
	cause := context.Cause(jctx)
	switch {
	case err == nil:
		s.finish(ctx, j, store.ImportDone, "", log)
	case ctx.Err() != nil:
		// Shutting down: the lines in flight were recorded; the job is
		// left for the next claim, at once.
		s.release(j, log)
	case errors.Is(cause, errLeaseLost):
		log.Info("import job stopped: " + cause.Error())
	case errors.Is(err, errSealed):
		s.finish(ctx, j, store.ImportFailed, err.Error(), log)
	case errors.Is(err, errStore):
		log.Warn("import job stopped by a store error; it is taken up again when its lease runs out", slog.Any("err", err))
	default:
		s.finish(ctx, j, store.ImportFailed, err.Error(), log)
	}
}

// renew extends the job's lease every third of it; it stops the run when
// the lease is lost, or could not be renewed before it ran out.
func (s *Service) renew(ctx context.Context, stop context.CancelCauseFunc, j store.ImportJob, log *slog.Logger) {
	t := time.NewTicker(s.Config.Lease / 3)
	defer t.Stop()
	until := j.LeaseUntil
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		got, err := s.Store.RenewImportJob(ctx, j.ID, s.Owner, s.Config.Lease, now)
		switch {
		case err == nil:
			until = got.LeaseUntil
		case errors.Is(err, store.ErrConflict):
			stop(errLeaseLost)
			return
		case ctx.Err() != nil:
			return
		default:
			log.Warn("import job: cannot renew the lease", slog.Any("err", err))
			if !now.Before(until) {
				stop(fmt.Errorf("%w: the lease ran out while the store did not answer", errLeaseLost))
				return
			}
		}
	}
}

// finish ends a job in state (done or failed) when this node still holds
// it, and deletes its sealed input.
func (s *Service) finish(ctx context.Context, j store.ImportJob, state, msg string, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	got, err := s.Store.UpdateImportJob(ctx, j.AppID, j.ID, func(old store.ImportJob) (store.ImportJob, error) {
		if old.LeaseOwner != s.Owner || old.State != store.ImportRunning {
			return old, errLeaseLost
		}
		now := s.now()
		old.State, old.Error, old.FinishedAt, old.UpdatedAt = state, msg, now, now
		old.LeaseOwner, old.LeaseUntil = "", time.Time{}
		return old, nil
	})
	if err != nil {
		if !errors.Is(err, errLeaseLost) {
			log.Warn("import job: cannot record its end", slog.String("state", state), slog.Any("err", err))
		}
		return
	}
	n, err := s.Store.DropImportInput(ctx, j.ID)
	if err != nil {
		log.Warn("import job: cannot delete its sealed input", slog.Any("err", err))
	}
	log.Info("import job "+state, slog.Int("lines", got.Lines), slog.Int("created", got.Created), slog.Int("reauthenticated", got.Reauthenticated),
		slog.Int("failed", got.FailedInput+got.FailedPermanent+got.FailedTransient), slog.String("error", msg), slog.Int("inputs_deleted", n))
}

// release gives up the lease of a job still running here (shutdown).
func (s *Service) release(j store.ImportJob, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Store.UpdateImportJob(ctx, j.AppID, j.ID, func(old store.ImportJob) (store.ImportJob, error) {
		if old.LeaseOwner != s.Owner || old.State != store.ImportRunning {
			return old, errLeaseLost
		}
		old.LeaseUntil = time.Time{}
		return old, nil
	})
	if err != nil && !errors.Is(err, errLeaseLost) {
		log.Warn("import job: cannot release the lease (it runs out by itself)", slog.Any("err", err))
	}
}

var (
	// errSealed: a line's sealed input cannot be opened (the keyring
	// lost its key): the job fails.
	errSealed = errors.New("a line's sealed input cannot be opened")
	// errStore: the store failed; the job is taken up again later.
	errStore = errors.New("store")
)

// pageSize is how many pending lines a source reads at a time.
const pageSize = 100

// source yields the lines of a job that have no outcome, opened.
type source struct {
	s    *Service
	ctx  context.Context
	job  store.ImportJob
	page []store.ImportLine
	last int
	read int
	done bool
}

func (src *source) Next() (importer.SourceLine, error) {
	if len(src.page) == 0 {
		if src.done {
			return importer.SourceLine{}, io.EOF
		}
		page, err := src.s.Store.PendingImportLines(src.ctx, src.job.ID, src.last, pageSize)
		if err != nil {
			return importer.SourceLine{}, fmt.Errorf("%w: %w", errStore, err)
		}
		src.page, src.done = page, len(page) < pageSize
		if len(page) == 0 {
			return importer.SourceLine{}, io.EOF
		}
	}
	l := src.page[0]
	src.page = src.page[1:]
	src.last = l.Line
	b, err := src.s.Vault.Open(l.Sealed, aad(src.job, l.Line))
	if err != nil {
		return importer.SourceLine{}, fmt.Errorf("%w (line %d): %v", errSealed, l.Line, err)
	}
	src.read++
	return importer.SourceLine{N: l.Line, Bytes: b, Replayed: l.Sending}, nil
}

// recorder records a job's outcomes in the store, fenced by the lease.
type recorder struct {
	s   *Service
	job store.ImportJob
}

func (r *recorder) Write(rec importer.Record) error {
	ctx := context.Background() // an outcome is recorded even as the run stops
	if rec.Sending {
		err := r.s.Store.MarkImportLineSending(ctx, r.job.ID, r.s.Owner, rec.Line)
		return r.err(err)
	}
	res, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	class := ""
	if rec.Error != nil {
		class = rec.Error.Class
	}
	_, err = r.s.Store.RecordImportOutcome(ctx, r.job.ID, r.s.Owner, store.ImportOutcome{Line: rec.Line, Outcome: rec.Outcome, Class: class, Result: res})
	return r.err(err)
}

func (r *recorder) err(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		return errLeaseLost
	}
	return fmt.Errorf("%w: %w", errStore, err)
}

// sender sends a line through the grant service, as POST
// /v3/connect/custom does.
type sender struct {
	s     *Service
	appID string
}

func (snd *sender) Send(ctx context.Context, it *importer.Item) (importer.Result, error) {
	g, created, err := snd.s.Grants.Authenticate(ctx, grant.AuthRequest{
		AppID: snd.appID, Provider: it.Provider, Settings: it.Settings, Scope: it.Scope, State: it.State, UserAgent: UserAgent,
	})
	if err == nil {
		return importer.Result{GrantID: g.ID, Email: g.Email, Reauthenticated: !created}, nil
	}
	info, ok := snd.s.Describe(err)
	if !ok {
		// An internal error: logged here, never shown; retried.
		snd.s.Log.Error("import job: internal error creating a grant", slog.String("app_id", snd.appID), slog.Int("line", it.Line), slog.Any("err", err))
		return importer.Result{}, &importer.SendError{Kind: importer.Transient, Info: importer.ErrorInfo{Status: 500, Type: "api.internal_error",
			Message: "internal error; grantd's log has it under the job's id and the line"}}
	}
	kind := importer.Permanent
	if info.Status >= 500 {
		kind = importer.Transient
	}
	return importer.Result{}, &importer.SendError{Kind: kind, Info: info}
}
