-- Hosted OAuth (issue 12): the redirect URIs of each application and the
-- tokens grantd issues for grants (/v3/connect/token). Hosted OAuth's
-- state and grantd's authorization codes are one-time codes (codes).

-- Where hosted OAuth may send a user back, compared exactly. The URL is
-- unique per application.
CREATE TABLE redirect_uris (
	id         text PRIMARY KEY,
	app_id     text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	url        text NOT NULL,
	platform   text NOT NULL,
	settings   jsonb NOT NULL,
	created_at timestamptz,
	updated_at timestamptz,
	UNIQUE (app_id, url)
);
CREATE INDEX redirect_uris_app ON redirect_uris (app_id, created_at);

-- The callback URIs applications had become redirect URIs: each
-- backend's own 0007_hosted_oauth.sql, run after this file (the JSON
-- functions differ).

-- Access and refresh tokens grantd issued: a SHA-256 hash of each, never
-- the token. A family is one sign-in and the refreshes that followed it;
-- a reused (rotated-away) refresh token revokes its family. Deleting a
-- grant deletes its tokens.
CREATE TABLE oauth_tokens (
	hash       bytea PRIMARY KEY,
	kind       text NOT NULL,
	app_id     text NOT NULL,
	grant_id   text NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
	family     text NOT NULL,
	scope      jsonb NOT NULL,
	expires_at timestamptz,
	created_at timestamptz,
	used_at    timestamptz,
	revoked_at timestamptz
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
