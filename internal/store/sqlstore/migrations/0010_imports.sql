-- Bulk import jobs (POST /grantd/v1/imports, internal/importjob): a job's
-- state, lease and counters, and its lines: the input line sealed with
-- the vault (it holds secrets; dropped once the line has an outcome or the
-- job is finished) and the line's outcome.
CREATE TABLE import_jobs (
	id               text PRIMARY KEY,
	app_id           text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	state            text NOT NULL,
	dry_run          boolean NOT NULL DEFAULT false,
	lines            integer NOT NULL DEFAULT 0,
	done             integer NOT NULL DEFAULT 0,
	checked          integer NOT NULL DEFAULT 0,
	created          integer NOT NULL DEFAULT 0,
	reauthenticated  integer NOT NULL DEFAULT 0,
	failed_input     integer NOT NULL DEFAULT 0,
	failed_permanent integer NOT NULL DEFAULT 0,
	failed_transient integer NOT NULL DEFAULT 0,
	error            text NOT NULL DEFAULT '',
	lease_owner      text NOT NULL DEFAULT '',
	lease_until      timestamptz,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	started_at       timestamptz,
	finished_at      timestamptz
);
CREATE INDEX import_jobs_app ON import_jobs (app_id, created_at, id);
CREATE INDEX import_jobs_state ON import_jobs (state, created_at, id);

-- id is the job id, ':' and the line number in ten digits: the key the
-- secret rewrap walks (one text column), in line order within a job.
CREATE TABLE import_lines (
	id      text PRIMARY KEY,
	job_id  text NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
	line    integer NOT NULL,
	sealed  bytea,
	sending boolean NOT NULL DEFAULT false,
	outcome text NOT NULL DEFAULT '',
	result  text,
	UNIQUE (job_id, line)
);
