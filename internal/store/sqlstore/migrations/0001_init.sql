-- grantd schema, version 1.
-- Times are timestamptz, NULL for the zero time (SQLite: unix microseconds
-- in an INTEGER). Lists and maps are jsonb (SQLite: JSON text); secrets are
-- opaque vault ciphertext; event payloads are kept byte-exact.

CREATE TABLE applications (
	id              text PRIMARY KEY,
	name            text NOT NULL,
	organization_id text NOT NULL,
	region          text NOT NULL,
	environment     text NOT NULL,
	callback_uris   jsonb NOT NULL,
	created_at      timestamptz,
	updated_at      timestamptz
);

CREATE TABLE api_keys (
	id         text PRIMARY KEY,
	app_id     text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	name       text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	prefix     text NOT NULL,
	scopes     jsonb NOT NULL,
	created_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX api_keys_app ON api_keys (app_id, created_at);

CREATE TABLE connectors (
	app_id               text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	provider             text NOT NULL,
	name                 text NOT NULL,
	settings             jsonb NOT NULL,
	secret               bytea,
	scope                jsonb NOT NULL,
	active_credential_id text NOT NULL,
	created_at           timestamptz,
	updated_at           timestamptz,
	PRIMARY KEY (app_id, provider)
);

CREATE TABLE credentials (
	id         text PRIMARY KEY,
	app_id     text NOT NULL,
	provider   text NOT NULL,
	name       text NOT NULL,
	type       text NOT NULL,
	data       bytea,
	created_at timestamptz,
	updated_at timestamptz,
	UNIQUE (app_id, provider, name),
	FOREIGN KEY (app_id, provider) REFERENCES connectors (app_id, provider) ON DELETE CASCADE
);

CREATE TABLE grants (
	id                      text PRIMARY KEY,
	app_id                  text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	provider                text NOT NULL,
	email                   text NOT NULL,
	email_key               text, -- lower(email); NULL when there is no email
	name                    text NOT NULL,
	status                  text NOT NULL,
	scope                   jsonb NOT NULL,
	settings                jsonb NOT NULL,
	secrets                 bytea,
	state                   text NOT NULL,
	user_agent              text NOT NULL,
	ip                      text NOT NULL,
	provider_user_id        text NOT NULL,
	credential_id           text NOT NULL,
	account_id              text NOT NULL,
	workspace_id            text NOT NULL,
	blocked                 boolean NOT NULL,
	version                 bigint NOT NULL,
	created_at              timestamptz,
	updated_at              timestamptz,
	access_token_expires_at timestamptz,
	next_refresh_at         timestamptz,
	last_refresh_at         timestamptz,
	last_failure_at         timestamptz,
	last_failure_class      text NOT NULL,
	last_failure_message    text NOT NULL
);
CREATE UNIQUE INDEX grants_app_email ON grants (app_id, email_key);
CREATE INDEX grants_app_created ON grants (app_id, created_at, id);
CREATE INDEX grants_app_updated ON grants (app_id, updated_at, id);
CREATE INDEX grants_next_refresh ON grants (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

CREATE TABLE codes (
	hash       text PRIMARY KEY,
	app_id     text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	grant_id   text NOT NULL,
	data       bytea,
	expires_at timestamptz,
	created_at timestamptz
);
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE webhooks (
	id                  text PRIMARY KEY,
	app_id              text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	url                 text NOT NULL,
	description         text NOT NULL,
	trigger_types       jsonb NOT NULL,
	notification_emails jsonb NOT NULL,
	status              text NOT NULL,
	secret              bytea,
	created_at          timestamptz,
	updated_at          timestamptz,
	status_updated_at   timestamptz
);
CREATE INDEX webhooks_app ON webhooks (app_id, created_at);

-- The outbox. Events outlive the records they describe (no foreign keys).
-- PostgreSQL writers serialise on an advisory lock so that Seq order is
-- commit order (SQLite has one writer).
CREATE TABLE events (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         text NOT NULL,
	app_id     text NOT NULL,
	type       text NOT NULL,
	grant_id   text NOT NULL,
	payload    bytea,
	created_at timestamptz
);
