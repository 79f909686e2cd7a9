-- An application's configuration version: grown first in the transaction
-- of every change to its API keys, connectors, credentials or settings, so
-- that a node caching them (internal/tenant, internal/connector) checks
-- one integer per request and sees another node's change (a revoked key)
-- at once.
ALTER TABLE applications ADD COLUMN config_version bigint NOT NULL DEFAULT 0;
