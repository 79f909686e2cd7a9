-- grantd schema, version 1.
-- Times are unix microseconds (UTC), NULL for the zero time.
-- Lists and maps are JSON text; secrets are opaque vault ciphertext.

CREATE TABLE applications (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL,
	organization_id TEXT NOT NULL,
	region          TEXT NOT NULL,
	environment     TEXT NOT NULL,
	callback_uris   TEXT NOT NULL,
	created_at      INTEGER,
	updated_at      INTEGER
) STRICT;

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	prefix     TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	created_at INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_app ON api_keys (app_id, created_at);

CREATE TABLE connectors (
	app_id               TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	provider             TEXT NOT NULL,
	name                 TEXT NOT NULL,
	settings             TEXT NOT NULL,
	secret               BLOB,
	scope                TEXT NOT NULL,
	active_credential_id TEXT NOT NULL,
	created_at           INTEGER,
	updated_at           INTEGER,
	PRIMARY KEY (app_id, provider)
) STRICT;

CREATE TABLE credentials (
	id         TEXT PRIMARY KEY,
	app_id     TEXT NOT NULL,
	provider   TEXT NOT NULL,
	name       TEXT NOT NULL,
	type       TEXT NOT NULL,
	data       BLOB,
	created_at INTEGER,
	updated_at INTEGER,
	UNIQUE (app_id, provider, name),
	FOREIGN KEY (app_id, provider) REFERENCES connectors (app_id, provider) ON DELETE CASCADE
) STRICT;

CREATE TABLE grants (
	id                      TEXT PRIMARY KEY,
	app_id                  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	provider                TEXT NOT NULL,
	email                   TEXT NOT NULL,
	email_key               TEXT, -- lower(email); NULL when there is no email
	name                    TEXT NOT NULL,
	status                  TEXT NOT NULL,
	scope                   TEXT NOT NULL,
	settings                TEXT NOT NULL,
	secrets                 BLOB,
	state                   TEXT NOT NULL,
	user_agent              TEXT NOT NULL,
	ip                      TEXT NOT NULL,
	provider_user_id        TEXT NOT NULL,
	credential_id           TEXT NOT NULL,
	account_id              TEXT NOT NULL,
	workspace_id            TEXT NOT NULL,
	blocked                 INTEGER NOT NULL,
	version                 INTEGER NOT NULL,
	created_at              INTEGER,
	updated_at              INTEGER,
	access_token_expires_at INTEGER,
	next_refresh_at         INTEGER,
	last_refresh_at         INTEGER,
	last_failure_at         INTEGER,
	last_failure_class      TEXT NOT NULL,
	last_failure_message    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX grants_app_email ON grants (app_id, email_key);
CREATE INDEX grants_app_created ON grants (app_id, created_at, id);
CREATE INDEX grants_app_updated ON grants (app_id, updated_at, id);
CREATE INDEX grants_next_refresh ON grants (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

CREATE TABLE codes (
	hash       TEXT PRIMARY KEY,
	app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	grant_id   TEXT NOT NULL,
	data       BLOB,
	expires_at INTEGER,
	created_at INTEGER
) STRICT;
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE webhooks (
	id                  TEXT PRIMARY KEY,
	app_id              TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	url                 TEXT NOT NULL,
	description         TEXT NOT NULL,
	trigger_types       TEXT NOT NULL,
	notification_emails TEXT NOT NULL,
	status              TEXT NOT NULL,
	secret              BLOB,
	created_at          INTEGER,
	updated_at          INTEGER,
	status_updated_at   INTEGER
) STRICT;
CREATE INDEX webhooks_app ON webhooks (app_id, created_at);

-- The outbox. Events outlive the records they describe (no foreign keys).
CREATE TABLE events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL,
	app_id     TEXT NOT NULL,
	type       TEXT NOT NULL,
	grant_id   TEXT NOT NULL,
	payload    BLOB,
	created_at INTEGER
) STRICT;
