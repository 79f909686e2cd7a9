-- Bulk import jobs (POST /grantd/v1/imports, internal/importjob): a job's
-- state, lease and counters, and its lines: the input line sealed with
-- the vault (it holds secrets; dropped once the line has an outcome or the
-- job is finished) and the line's outcome.
CREATE TABLE import_jobs (
	id               TEXT PRIMARY KEY,
	app_id           TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	state            TEXT NOT NULL,
	dry_run          INTEGER NOT NULL DEFAULT 0,
	lines            INTEGER NOT NULL DEFAULT 0,
	done             INTEGER NOT NULL DEFAULT 0,
	checked          INTEGER NOT NULL DEFAULT 0,
	created          INTEGER NOT NULL DEFAULT 0,
	reauthenticated  INTEGER NOT NULL DEFAULT 0,
	failed_input     INTEGER NOT NULL DEFAULT 0,
	failed_permanent INTEGER NOT NULL DEFAULT 0,
	failed_transient INTEGER NOT NULL DEFAULT 0,
	error            TEXT NOT NULL DEFAULT '',
	lease_owner      TEXT NOT NULL DEFAULT '',
	lease_until      INTEGER,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	started_at       INTEGER,
	finished_at      INTEGER
) STRICT;
CREATE INDEX import_jobs_app ON import_jobs (app_id, created_at, id);
CREATE INDEX import_jobs_state ON import_jobs (state, created_at, id);

-- id is the job id, ':' and the line number in ten digits: the key the
-- secret rewrap walks (one text column), in line order within a job.
CREATE TABLE import_lines (
	id      TEXT PRIMARY KEY,
	job_id  TEXT NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
	line    INTEGER NOT NULL,
	sealed  BLOB,
	sending INTEGER NOT NULL DEFAULT 0,
	outcome TEXT NOT NULL DEFAULT '',
	result  TEXT,
	UNIQUE (job_id, line)
) STRICT;
