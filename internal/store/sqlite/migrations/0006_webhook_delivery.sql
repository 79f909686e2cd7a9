-- Webhook delivery (internal/webhook): destinations' compression and
-- delivery state, the delivery queue and the relay's cursor over the
-- outbox.
ALTER TABLE webhooks ADD COLUMN compressed_delivery INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN last_delivery_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_delivery_status TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
ALTER TABLE webhooks ADD COLUMN window_start INTEGER;
ALTER TABLE webhooks ADD COLUMN window_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN window_failures INTEGER NOT NULL DEFAULT 0;

-- When a grant's current run of transient refresh failures began
-- (grant.recovered).
ALTER TABLE grants ADD COLUMN failing_since INTEGER;

-- One row per (event, destination) until it is delivered, dropped or
-- given up. Rows of one (webhook_id, grant_id) chain are attempted in id
-- order, one at a time.
CREATE TABLE webhook_deliveries (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	app_id          TEXT NOT NULL,
	grant_id        TEXT NOT NULL,
	event_seq       INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	lease_owner     TEXT NOT NULL,
	lease_until     INTEGER,
	UNIQUE (event_seq, webhook_id)
) STRICT;
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (webhook_id, grant_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id);

-- The last outbox event relayed. Events written before webhooks existed
-- had nobody to go to.
CREATE TABLE webhook_relay (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	last_seq INTEGER NOT NULL
) STRICT;
INSERT INTO webhook_relay (id, last_seq) VALUES (1, (SELECT coalesce(max(seq), 0) FROM events));
