-- Refresh scheduling: a lease per grant (ClaimDueGrants, ClaimGrant) and
-- the count of consecutive transient refresh failures (backoff).
ALTER TABLE grants ADD COLUMN lease_owner text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN lease_until timestamptz;
ALTER TABLE grants ADD COLUMN refresh_failures integer NOT NULL DEFAULT 0;
-- Due valid grants, by due time (the refresher's claim query).
CREATE INDEX grants_due ON grants (next_refresh_at) WHERE status = 'valid' AND next_refresh_at IS NOT NULL;
