-- Hosted OAuth (issue 12): the redirect URIs of each application and the
-- tokens grantd issues for grants (/v3/connect/token). Hosted OAuth's
-- state and grantd's authorization codes are one-time codes (codes).

-- Where hosted OAuth may send a user back, compared exactly. The URL is
-- unique per application.
CREATE TABLE redirect_uris (
	id         TEXT PRIMARY KEY,
	app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	url        TEXT NOT NULL,
	platform   TEXT NOT NULL,
	settings   TEXT NOT NULL,
	created_at INTEGER,
	updated_at INTEGER,
	UNIQUE (app_id, url)
) STRICT;
CREATE INDEX redirect_uris_app ON redirect_uris (app_id, created_at);

-- The callback URIs applications had (never settable through the API)
-- become redirect URIs with the ids GET /v3/applications showed for them.
INSERT OR IGNORE INTO redirect_uris (id, app_id, url, platform, settings, created_at, updated_at)
	SELECT a.id || '-' || j.key, a.id, j.value, 'web', '{}', a.created_at, a.updated_at
	FROM applications a, json_each(a.callback_uris) j WHERE j.type = 'text';

-- Access and refresh tokens grantd issued: a SHA-256 hash of each, never
-- the token. A family is one sign-in and the refreshes that followed it;
-- a reused (rotated-away) refresh token revokes its family. Deleting a
-- grant deletes its tokens.
CREATE TABLE oauth_tokens (
	hash       BLOB PRIMARY KEY,
	kind       TEXT NOT NULL,
	app_id     TEXT NOT NULL,
	grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
	family     TEXT NOT NULL,
	scope      TEXT NOT NULL,
	expires_at INTEGER,
	created_at INTEGER,
	used_at    INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
