-- The due grants of one provider, in next_refresh_at order: a refresher
-- holding back its calls to a throttled provider claims the others'
-- (ClaimDueGrantsOf) without reading past the throttled one's backlog,
-- which grants_due would make it do.
CREATE INDEX grants_due_provider ON grants (provider, next_refresh_at) WHERE status = 'valid' AND next_refresh_at IS NOT NULL;
