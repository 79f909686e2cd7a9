-- Webhook delivery (internal/webhook): destinations' compression and
-- delivery state, the delivery queue and the relay's cursor over the
-- outbox.
ALTER TABLE webhooks ADD COLUMN compressed_delivery boolean NOT NULL DEFAULT false;
ALTER TABLE webhooks ADD COLUMN last_delivery_at timestamptz;
ALTER TABLE webhooks ADD COLUMN last_delivery_status text NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;
ALTER TABLE webhooks ADD COLUMN window_start timestamptz;
ALTER TABLE webhooks ADD COLUMN window_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN window_failures integer NOT NULL DEFAULT 0;

-- When a grant's current run of transient refresh failures began
-- (grant.recovered).
ALTER TABLE grants ADD COLUMN failing_since timestamptz;

-- One row per (event, destination) until it is delivered, dropped or
-- given up. Rows of one (webhook_id, grant_id) chain are attempted in id
-- order, one at a time.
CREATE TABLE webhook_deliveries (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	webhook_id      text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	app_id          text NOT NULL,
	grant_id        text NOT NULL,
	event_seq       bigint NOT NULL,
	attempts        integer NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	created_at      timestamptz NOT NULL,
	lease_owner     text NOT NULL,
	lease_until     timestamptz,
	UNIQUE (event_seq, webhook_id)
);
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (webhook_id, grant_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id);

-- The last outbox event relayed. Events written before webhooks existed
-- had nobody to go to.
CREATE TABLE webhook_relay (
	id       integer PRIMARY KEY CHECK (id = 1),
	last_seq bigint NOT NULL
);
INSERT INTO webhook_relay (id, last_seq) VALUES (1, (SELECT coalesce(max(seq), 0) FROM events));
