-- Hosted OAuth's issued tokens (issue 12), after 0007 created them: 0005,
-- the number reserved for hosted OAuth, runs before 0007 on a new database.

-- A token family started by a code exchange the client proved with PKCE
-- alone (no client_secret): its refresh tokens may be redeemed without a
-- client_secret too (a public client, OAuth 2.1 §4.3.1).
ALTER TABLE oauth_tokens ADD COLUMN pkce_only boolean NOT NULL DEFAULT false;

-- The stale-token purge (DeleteStaleTokens: expired, used or revoked
-- before a time) reads one index per condition (PostgreSQL's BitmapOr,
-- SQLite's multi-index OR) instead of the whole table. used_at and
-- revoked_at are NULL on most rows, expires_at on refresh tokens without
-- a lifetime: the indexes leave those rows out (a range condition implies
-- NOT NULL, so the planners may use them).
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX oauth_tokens_used ON oauth_tokens (used_at) WHERE used_at IS NOT NULL;
CREATE INDEX oauth_tokens_revoked ON oauth_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
