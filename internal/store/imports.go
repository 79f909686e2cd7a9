package store

import (
	"context"
	"time"
)

// Import job states (ImportJob.State).
const (
	// ImportUploading: the job's lines are being stored; nobody sees or
	// runs it. An upload whose lease runs out (the node died) is deleted.
	ImportUploading = "uploading"
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportDone      = "done"
	ImportFailed    = "failed"
	ImportCancelled = "cancelled"
)

// ImportJob is a bulk import run in the server (POST /grantd/v1/imports):
// its state, lease and counters. The lines are ImportLines.
type ImportJob struct {
	ID     string
	AppID  string
	State  string
	DryRun bool
	// Lines is the number of lines of the input that are not blank.
	Lines int
	// Done counts lines with an outcome; the others count outcomes by
	// kind (Checked: a dry run's lines that would be sent).
	Done, Checked, Created, Reauthenticated       int
	FailedInput, FailedPermanent, FailedTransient int
	// Error says why a failed job stopped (no secret).
	Error string
	// LeaseOwner is the node running (or uploading) the job while
	// LeaseUntil is in the future.
	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// Finished reports whether the job's state is final.
func (j ImportJob) Finished() bool {
	return j.State == ImportDone || j.State == ImportFailed || j.State == ImportCancelled
}

// ImportLine is one line of an import job: its input, sealed (it holds
// secrets; nil once the line has an outcome or the job is finished), and
// its outcome (Result: the outcome record as JSON, without secrets).
type ImportLine struct {
	Line    int
	Sealed  []byte
	Sending bool // a run sent the line and has not recorded its outcome
	Outcome string
	Result  []byte
}

// ImportOutcome is the outcome of a line, recorded by the job's runner.
type ImportOutcome struct {
	Line    int
	Outcome string // created, reauthenticated, failed or checked
	Class   string // a failure's class: input, permanent or transient
	Result  []byte
}

// ImportStore keeps import jobs. Lines are numbered from 1.
type ImportStore interface {
	// CreateImportJob creates j, normally ImportUploading with a lease
	// held by the uploading node.
	CreateImportJob(ctx context.Context, j ImportJob) error
	// AddImportLines adds lines to a job in one transaction
	// (ErrAlreadyExists when a line number is taken).
	AddImportLines(ctx context.Context, jobID string, lines []ImportLine) error
	GetImportJob(ctx context.Context, appID, id string) (ImportJob, error)
	// ListImportJobs lists an application's jobs, newest first, leaving
	// out uploads (opts: Limit and Offset).
	ListImportJobs(ctx context.Context, appID string, opts ListOptions) ([]ImportJob, error)
	// UpdateImportJob calls update with the job under the row's write
	// lock and stores the result (ID, AppID and CreatedAt are kept).
	UpdateImportJob(ctx context.Context, appID, id string, update func(old ImportJob) (ImportJob, error)) (ImportJob, error)
	// DeleteImportJob deletes a job and its lines.
	DeleteImportJob(ctx context.Context, appID, id string) error
	// ClaimImportJob leases to owner, until now+lease, the oldest job
	// that is queued, or running with a lease that ran out, of an
	// application with no other running job whose lease runs: the job is
	// set running (StartedAt kept from an earlier claim). false when no
	// job is claimable. Concurrent claimers never get the same job.
	ClaimImportJob(ctx context.Context, now time.Time, owner string, lease time.Duration) (ImportJob, bool, error)
	// RenewImportJob extends owner's lease of an uploading or running
	// job to now+lease and returns the job; ErrConflict when owner does
	// not hold it (taken over, cancelled or finished).
	RenewImportJob(ctx context.Context, id, owner string, lease time.Duration, now time.Time) (ImportJob, error)
	// PendingImportLines returns up to limit lines after line after, in
	// order, that have no outcome and still have their sealed input.
	PendingImportLines(ctx context.Context, jobID string, after, limit int) ([]ImportLine, error)
	// MarkImportLineSending sets Sending on a line without an outcome
	// when owner holds the job's lease (ErrConflict otherwise). The mark
	// may be lost in a crash of the machine (not of the process).
	MarkImportLineSending(ctx context.Context, jobID, owner string, line int) error
	// RecordImportOutcome records a line's outcome in one transaction
	// when owner holds the job's lease (ErrConflict otherwise) and the
	// line has none yet: the outcome and result are stored, the sealed
	// input dropped and the job's counters counted (Done and the
	// outcome's). It returns false, changing nothing, when the line
	// already had an outcome.
	RecordImportOutcome(ctx context.Context, jobID, owner string, o ImportOutcome) (bool, error)
	// ImportResults returns up to limit lines after line after, in
	// order, that have an outcome (Sealed is nil).
	ImportResults(ctx context.Context, jobID string, after, limit int) ([]ImportLine, error)
	// DropImportInput deletes every sealed input line of a job and
	// returns how many it deleted.
	DropImportInput(ctx context.Context, jobID string) (int, error)
	// DeleteStaleImportUploads deletes the uploading jobs whose lease
	// ran out before now, with their lines.
	DeleteStaleImportUploads(ctx context.Context, now time.Time) (int, error)
}
