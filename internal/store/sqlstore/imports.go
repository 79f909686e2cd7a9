package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Import jobs. A job's claim is one UPDATE … RETURNING like the refresh
// leases (leases.go); every write of a line's outcome is conditional on
// the job's lease owner (a node that lost its lease records nothing) and
// on the line having no outcome yet, so that a line is done once.

const importJobColumns = `id, app_id, state, dry_run, lines, done, checked, created, reauthenticated,
	failed_input, failed_permanent, failed_transient, error, lease_owner, lease_until, created_at, updated_at,
	started_at, finished_at`

const importLineColumns = `line, sealed, sending, outcome, result`

// claimableImport is the condition of a job ClaimImportJob may take.
const claimableImport = `(state = 'queued' OR (state = 'running' AND (lease_until IS NULL OR lease_until < ?)))`

var (
	qInsertImportJob = newStmt(`INSERT INTO import_jobs (` + importJobColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetImportJob    = newStmt(`SELECT ` + importJobColumns + ` FROM import_jobs WHERE app_id = ? AND id = ?`)
	qLockImportJob   = newStmt(`SELECT ` + importJobColumns + ` FROM import_jobs WHERE app_id = ? AND id = ?{forUpdate}`)
	qListImportJobs  = newStmt(`SELECT ` + importJobColumns + ` FROM import_jobs WHERE app_id = ? AND state <> 'uploading'
		ORDER BY created_at DESC, id DESC`)
	qUpdateImportJob = newStmt(`UPDATE import_jobs SET state = ?, dry_run = ?, lines = ?, done = ?, checked = ?, created = ?,
		reauthenticated = ?, failed_input = ?, failed_permanent = ?, failed_transient = ?, error = ?, lease_owner = ?,
		lease_until = ?, updated_at = ?, started_at = ?, finished_at = ? WHERE id = ?`)
	qDeleteImportJob = newStmt(`DELETE FROM import_jobs WHERE app_id = ? AND id = ?`)
	qClaimImportJob  = newStmt(`UPDATE import_jobs SET state = 'running', lease_owner = ?, lease_until = ?, updated_at = ?,
		started_at = coalesce(started_at, ?)
		WHERE id IN (SELECT j.id FROM import_jobs j
			WHERE (j.state = 'queued' OR (j.state = 'running' AND (j.lease_until IS NULL OR j.lease_until < ?)))
			AND NOT EXISTS (SELECT 1 FROM import_jobs o WHERE o.app_id = j.app_id AND o.id <> j.id
				AND o.state = 'running' AND o.lease_until >= ?)
			ORDER BY j.created_at, j.id LIMIT 1{skipLocked})
		AND ` + claimableImport + `
		RETURNING ` + importJobColumns)
	qRenewImportJob = newStmt(`UPDATE import_jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?
		AND state IN ('uploading', 'running') RETURNING ` + importJobColumns)
	qInsertImportLine = newStmt(`INSERT INTO import_lines (id, job_id, ` + importLineColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	qPendingImport    = newStmt(`SELECT ` + importLineColumns + ` FROM import_lines
		WHERE job_id = ? AND line > ? AND outcome = '' AND sealed IS NOT NULL ORDER BY line LIMIT ?`)
	qImportResults = newStmt(`SELECT ` + importLineColumns + ` FROM import_lines
		WHERE job_id = ? AND line > ? AND outcome <> '' ORDER BY line LIMIT ?`)
	qImportLeaseHeld = newStmt(`SELECT count(*) FROM import_jobs WHERE id = ? AND lease_owner = ?`)
	qMarkSending     = newStmt(`UPDATE import_lines SET sending = ? WHERE job_id = ? AND line = ? AND outcome = ''
		AND EXISTS (SELECT 1 FROM import_jobs WHERE id = ? AND lease_owner = ?)`)
	qCountOutcome = newStmt(`UPDATE import_jobs SET done = done + 1, checked = checked + ?, created = created + ?,
		reauthenticated = reauthenticated + ?, failed_input = failed_input + ?, failed_permanent = failed_permanent + ?,
		failed_transient = failed_transient + ?, updated_at = ? WHERE id = ? AND lease_owner = ?`)
	qRecordOutcome = newStmt(`UPDATE import_lines SET outcome = ?, result = ?, sealed = NULL, sending = ?
		WHERE job_id = ? AND line = ? AND outcome = ''`)
	qDropImportInput   = newStmt(`UPDATE import_lines SET sealed = NULL WHERE job_id = ? AND sealed IS NOT NULL`)
	qDeleteStaleUpload = newStmt(`DELETE FROM import_jobs WHERE state = 'uploading' AND (lease_until IS NULL OR lease_until < ?)`)
)

func scanImportJob(row Row) (store.ImportJob, error) {
	var j store.ImportJob
	err := row.Scan(&j.ID, &j.AppID, &j.State, &j.DryRun, &j.Lines, &j.Done, &j.Checked, &j.Created, &j.Reauthenticated,
		&j.FailedInput, &j.FailedPermanent, &j.FailedTransient, &j.Error, &j.LeaseOwner, td(&j.LeaseUntil),
		td(&j.CreatedAt), td(&j.UpdatedAt), td(&j.StartedAt), td(&j.FinishedAt))
	return j, err
}

func scanImportLine(row Row) (store.ImportLine, error) {
	var (
		l      store.ImportLine
		result sql.NullString
	)
	if err := row.Scan(&l.Line, &l.Sealed, &l.Sending, &l.Outcome, &result); err != nil {
		return l, err
	}
	l.Sealed = nilIfEmpty(l.Sealed)
	if result.Valid {
		l.Result = []byte(result.String)
	}
	return l, nil
}

// importLineID is the key of a job's line: in line order within the job.
func importLineID(jobID string, line int) string { return fmt.Sprintf("%s:%010d", jobID, line) }

func normImportJob(j store.ImportJob) store.ImportJob {
	j.LeaseUntil, j.CreatedAt, j.UpdatedAt = utcMicro(j.LeaseUntil), utcMicro(j.CreatedAt), utcMicro(j.UpdatedAt)
	j.StartedAt, j.FinishedAt = utcMicro(j.StartedAt), utcMicro(j.FinishedAt)
	return j
}

func (s *Store) CreateImportJob(ctx context.Context, j store.ImportJob) error {
	j = normImportJob(j)
	if j.CreatedAt.IsZero() {
		j.CreatedAt = utcMicro(s.now())
	}
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = j.CreatedAt
	}
	_, err := s.db.Write().Exec(ctx, s.sql(qInsertImportJob), j.ID, j.AppID, j.State, j.DryRun, j.Lines, j.Done, j.Checked,
		j.Created, j.Reauthenticated, j.FailedInput, j.FailedPermanent, j.FailedTransient, j.Error, j.LeaseOwner,
		s.time(j.LeaseUntil), s.time(j.CreatedAt), s.time(j.UpdatedAt), s.time(j.StartedAt), s.time(j.FinishedAt))
	return s.err("create import job", err)
}

func (s *Store) AddImportLines(ctx context.Context, jobID string, lines []store.ImportLine) error {
	if len(lines) == 0 {
		return nil
	}
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		for _, l := range lines {
			var result any
			if l.Result != nil {
				result = string(l.Result)
			}
			if _, err := q.Exec(ctx, s.sql(qInsertImportLine), importLineID(jobID, l.Line), jobID, l.Line, blob(l.Sealed),
				l.Sending, l.Outcome, result); err != nil {
				return s.err("add import lines", err)
			}
		}
		return nil
	})
}

func (s *Store) GetImportJob(ctx context.Context, appID, id string) (store.ImportJob, error) {
	j, err := scanImportJob(s.db.Read().QueryRow(ctx, s.sql(qGetImportJob), appID, id))
	return j, s.err("get import job", err)
}

func (s *Store) ListImportJobs(ctx context.Context, appID string, opts store.ListOptions) ([]store.ImportJob, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListImportJobs)+s.limitOffset(opts.Limit, opts.Offset), appID)
	return collect(s, rows, err, "list import jobs", scanImportJob)
}

func (s *Store) UpdateImportJob(ctx context.Context, appID, id string, update func(old store.ImportJob) (store.ImportJob, error)) (store.ImportJob, error) {
	return updateRecord(ctx, s, "update import job", qLockImportJob, []any{appID, id}, scanImportJob, update,
		func(ctx context.Context, q Querier, old, j store.ImportJob) (store.ImportJob, error) {
			j = normImportJob(j)
			j.ID, j.AppID, j.CreatedAt = old.ID, old.AppID, old.CreatedAt
			_, err := q.Exec(ctx, s.sql(qUpdateImportJob), j.State, j.DryRun, j.Lines, j.Done, j.Checked, j.Created,
				j.Reauthenticated, j.FailedInput, j.FailedPermanent, j.FailedTransient, j.Error, j.LeaseOwner,
				s.time(j.LeaseUntil), s.time(j.UpdatedAt), s.time(j.StartedAt), s.time(j.FinishedAt), j.ID)
			return j, s.err("update import job", err)
		})
}

func (s *Store) DeleteImportJob(ctx context.Context, appID, id string) error {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteImportJob), appID, id)
	if err != nil {
		return s.err("delete import job", err)
	}
	return mustAffect("delete import job", n)
}

func (s *Store) ClaimImportJob(ctx context.Context, now time.Time, owner string, lease time.Duration) (store.ImportJob, bool, error) {
	now = utcMicro(now)
	at := s.time(now)
	j, err := scanImportJob(s.db.Write().QueryRow(ctx, s.sql(qClaimImportJob), owner, s.time(utcMicro(now.Add(lease))), at, at, at, at, at))
	if errors.Is(err, sql.ErrNoRows) { // pgx.ErrNoRows is one too
		return j, false, nil
	}
	if err != nil {
		return j, false, s.err("claim import job", err)
	}
	return j, true, nil
}

func (s *Store) RenewImportJob(ctx context.Context, id, owner string, lease time.Duration, now time.Time) (store.ImportJob, error) {
	j, err := scanImportJob(s.db.Write().QueryRow(ctx, s.sql(qRenewImportJob), s.time(utcMicro(now.Add(lease))), id, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("renew import job %s: the lease is not %s's: %w", id, owner, store.ErrConflict)
	}
	return j, s.err("renew import job", err)
}

func (s *Store) PendingImportLines(ctx context.Context, jobID string, after, limit int) ([]store.ImportLine, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qPendingImport), jobID, after, limit)
	return collect(s, rows, err, "pending import lines", scanImportLine)
}

func (s *Store) ImportResults(ctx context.Context, jobID string, after, limit int) ([]store.ImportLine, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qImportResults), jobID, after, limit)
	return collect(s, rows, err, "import results", scanImportLine)
}

// errLeaseLost is ErrConflict for a write of a node that does not hold a
// job's lease.
func errLeaseLost(jobID, owner string) error {
	return fmt.Errorf("import job %s is not leased to %s: %w", jobID, owner, store.ErrConflict)
}

// MarkImportLineSending is one statement run as a lease is (DB.Lease: on
// SQLite not made durable against a crash of the machine): losing the mark
// only loses a replayed line's "replayed" note, never an outcome.
func (s *Store) MarkImportLineSending(ctx context.Context, jobID, owner string, line int) error {
	n, err := s.db.Lease().Exec(ctx, s.sql(qMarkSending), true, jobID, line, jobID, owner)
	if err != nil {
		return s.err("mark import line sending", err)
	}
	if n > 0 {
		return nil
	}
	var held int
	if err := s.db.Read().QueryRow(ctx, s.sql(qImportLeaseHeld), jobID, owner).Scan(&held); err != nil {
		return s.err("mark import line sending", err)
	}
	if held == 0 {
		return errLeaseLost(jobID, owner)
	}
	return nil // the line has an outcome
}

// errRecorded rolls back the count of an outcome recorded already.
var errRecorded = errors.New("import line has an outcome already")

func (s *Store) RecordImportOutcome(ctx context.Context, jobID, owner string, o store.ImportOutcome) (bool, error) {
	var counts [6]int // checked, created, reauthenticated, failed input, permanent, transient
	switch o.Outcome {
	case "checked":
		counts[0] = 1
	case "created":
		counts[1] = 1
	case "reauthenticated":
		counts[2] = 1
	case "failed":
		switch o.Class {
		case "input":
			counts[3] = 1
		case "permanent":
			counts[4] = 1
		default:
			counts[5] = 1
		}
	default:
		return false, fmt.Errorf("record import outcome: unknown outcome %q: %w", o.Outcome, store.ErrInvalid)
	}
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		// The job's row first: it is the lease check, and it orders the
		// writers of one job.
		n, err := q.Exec(ctx, s.sql(qCountOutcome), counts[0], counts[1], counts[2], counts[3], counts[4], counts[5],
			s.time(utcMicro(s.now())), jobID, owner)
		if err != nil {
			return s.err("record import outcome", err)
		}
		if n == 0 {
			return errLeaseLost(jobID, owner)
		}
		n, err = q.Exec(ctx, s.sql(qRecordOutcome), o.Outcome, string(o.Result), false, jobID, o.Line)
		if err != nil {
			return s.err("record import outcome", err)
		}
		if n == 0 {
			return errRecorded
		}
		return nil
	})
	if errors.Is(err, errRecorded) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) DropImportInput(ctx context.Context, jobID string) (int, error) {
	n, err := s.db.Write().Exec(ctx, s.sql(qDropImportInput), jobID)
	return int(n), s.err("drop import input", err)
}

func (s *Store) DeleteStaleImportUploads(ctx context.Context, now time.Time) (int, error) {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteStaleUpload), s.time(utcMicro(now)))
	return int(n), s.err("delete stale import uploads", err)
}
