package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The webhook delivery queue (internal/webhook). The relay turns outbox
// events into deliveries under the lock of the relay's cursor row, so each
// event is relayed once. Claims are one UPDATE … RETURNING like the
// refresh leases: on PostgreSQL candidates are locked FOR UPDATE SKIP
// LOCKED; on SQLite the single writer serialises claims. A delivery is a
// candidate only when no earlier delivery of its (webhook, grant) chain is
// queued: a chain is attempted one delivery at a time, in order, whatever
// the number of nodes.

const deliveryColumns = `id, webhook_id, app_id, grant_id, event_seq, attempts, next_attempt_at, created_at, lease_owner, lease_until`

var (
	qRelayCursor    = newStmt(`SELECT last_seq FROM webhook_relay WHERE id = 1{skipLocked}`)
	qRelayAdvance   = newStmt(`UPDATE webhook_relay SET last_seq = ? WHERE id = 1`)
	qRelayHasEvents = newStmt(`SELECT count(*) FROM (SELECT 1 FROM events WHERE seq > (SELECT last_seq FROM webhook_relay WHERE id = 1) LIMIT 1) e`)
	qRelayWebhooks  = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE app_id = ? ORDER BY created_at, id{forKeyShare}`)
	qInsertDelivery = newStmt(`INSERT INTO webhook_deliveries (webhook_id, app_id, grant_id, event_seq, attempts, next_attempt_at, created_at, lease_owner)
		VALUES (?, ?, ?, ?, 0, ?, ?, '') ON CONFLICT (event_seq, webhook_id) DO NOTHING`)
	qClaimDeliveries = newStmt(`UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT d.id FROM webhook_deliveries d
			WHERE d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id AND p.grant_id = d.grant_id AND p.id < d.id)
			ORDER BY d.next_attempt_at, d.id LIMIT ?{skipLocked})
		RETURNING ` + deliveryColumns)
	qEventBySeq      = newStmt(`SELECT ` + eventColumns + ` FROM events WHERE seq = ?`)
	qWebhookByID     = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE id = ?`)
	qLockWebhookByID = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE id = ?{forNoKeyUpdate}`)
	qDeleteDelivery  = newStmt(`DELETE FROM webhook_deliveries WHERE id = ?`)
	qRetryDelivery   = newStmt(`UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?, lease_owner = '', lease_until = NULL WHERE id = ? AND lease_owner = ?`)
	qDropDeliveries  = newStmt(`DELETE FROM webhook_deliveries WHERE webhook_id = ?`)
	qRetryNow        = newStmt(`UPDATE webhook_deliveries SET next_attempt_at = ? WHERE webhook_id = ? AND next_attempt_at > ?`)
	qDeliveryStats   = newStmt(`SELECT count(*), min(created_at) FROM webhook_deliveries`)
	qListDeliveries  = newStmt(`SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id`)
)

func scanDelivery(row Row) (store.Delivery, error) {
	var d store.Delivery
	err := row.Scan(&d.ID, &d.WebhookID, &d.AppID, &d.GrantID, &d.EventSeq, &d.Attempts, td(&d.NextAttemptAt),
		td(&d.CreatedAt), &d.LeaseOwner, td(&d.LeaseUntil))
	return d, err
}

func (s *Store) RelayEvents(ctx context.Context, limit int, route func(ev store.Event, hooks []store.Webhook) []string) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	// Most polls find nothing new: say so without a write transaction.
	var pending int
	if err := s.db.Read().QueryRow(ctx, s.sql(qRelayHasEvents)).Scan(&pending); err != nil {
		return 0, s.err("relay events", err)
	}
	if pending == 0 {
		return 0, nil
	}
	var n int
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		n = 0
		var last int64
		err := q.QueryRow(ctx, s.sql(qRelayCursor)).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another node is relaying (PostgreSQL: the row is locked)
		}
		if err != nil {
			return s.err("relay events: cursor", err)
		}
		rows, err := q.Query(ctx, s.sql(qListEvents)+s.limitOffset(limit, 0), last)
		events, err := collect(s, rows, err, "relay events: read", scanEvent)
		if err != nil || len(events) == 0 {
			return err
		}
		now := s.time(utcMicro(s.now()))
		hooks := map[string][]store.Webhook{}
		for _, ev := range events {
			hs, ok := hooks[ev.AppID]
			if !ok {
				rows, err := q.Query(ctx, s.sql(qRelayWebhooks), ev.AppID)
				if hs, err = collect(s, rows, err, "relay events: webhooks", scanWebhook); err != nil {
					return err
				}
				hooks[ev.AppID] = hs
			}
			if len(hs) == 0 {
				continue
			}
			for _, id := range route(ev, hs) {
				if _, err := q.Exec(ctx, s.sql(qInsertDelivery), id, ev.AppID, ev.GrantID, ev.Seq, now, s.time(ev.CreatedAt)); err != nil {
					return s.err("relay events: queue", err)
				}
			}
		}
		if _, err := q.Exec(ctx, s.sql(qRelayAdvance), events[len(events)-1].Seq); err != nil {
			return s.err("relay events: advance", err)
		}
		n = len(events)
		return nil
	})
	return n, err
}

func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	now = utcMicro(now)
	at := s.time(now)
	rows, err := s.db.Lease().Query(ctx, s.sql(qClaimDeliveries), owner, s.time(utcMicro(now.Add(lease))), at, at, limit)
	ds, err := collect(s, rows, err, "claim deliveries", scanDelivery)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ds, func(a, b store.Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	hooks := map[string]store.Webhook{}
	out := ds[:0]
	for _, d := range ds {
		if d.Event, err = scanEvent(s.db.Read().QueryRow(ctx, s.sql(qEventBySeq), d.EventSeq)); err != nil {
			return nil, s.err("claim deliveries: event", err)
		}
		w, ok := hooks[d.WebhookID]
		if !ok {
			w, err = scanWebhook(s.db.Read().QueryRow(ctx, s.sql(qWebhookByID), d.WebhookID))
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted since: its deliveries went with it
			}
			if err != nil {
				return nil, s.err("claim deliveries: webhook", err)
			}
			hooks[d.WebhookID] = w
		}
		d.Webhook = w
		out = append(out, d)
	}
	return out, nil
}

func (s *Store) FinishDeliveries(ctx context.Context, owner string, results []store.DeliveryResult, update func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction)) error {
	if len(results) == 0 {
		return nil
	}
	// Rows in id order, destinations in id order: concurrent finishers
	// lock in the same order.
	rs := slices.Clone(results)
	slices.SortStableFunc(rs, func(a, b store.DeliveryResult) int { return cmpInt64(a.ID, b.ID) })
	byHook := map[string][]store.DeliveryResult{}
	for _, r := range results {
		byHook[r.WebhookID] = append(byHook[r.WebhookID], r)
	}
	ids := make([]string, 0, len(byHook))
	for id := range byHook {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := s.time(utcMicro(s.now()))
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		for _, r := range rs {
			var err error
			if r.Done {
				_, err = q.Exec(ctx, s.sql(qDeleteDelivery), r.ID)
			} else {
				_, err = q.Exec(ctx, s.sql(qRetryDelivery), r.Attempts, s.time(utcMicro(r.NextAttemptAt)), r.ID, owner)
			}
			if err != nil {
				return s.err("finish deliveries", err)
			}
		}
		for _, id := range ids {
			old, err := scanWebhook(q.QueryRow(ctx, s.sql(qLockWebhookByID), id))
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return s.err("finish deliveries: webhook", err)
			}
			w, action := update(old, byHook[id])
			if _, err := s.writeWebhook(ctx, q, old, w); err != nil {
				return err
			}
			switch action {
			case store.QueueDrop:
				if _, err := q.Exec(ctx, s.sql(qDropDeliveries), id); err != nil {
					return s.err("finish deliveries: drop", err)
				}
			case store.QueueRetryNow:
				if _, err := q.Exec(ctx, s.sql(qRetryNow), now, id, now); err != nil {
					return s.err("finish deliveries: retry now", err)
				}
			}
		}
		return nil
	})
}

func (s *Store) DeliveryStats(ctx context.Context) (store.DeliveryStats, error) {
	var st store.DeliveryStats
	err := s.db.Read().QueryRow(ctx, s.sql(qDeliveryStats)).Scan(&st.Queued, td(&st.Oldest))
	return st, s.err("delivery stats", err)
}

// ListDeliveries returns the queued deliveries of a destination, in
// order (for tests and diagnostics).
func (s *Store) ListDeliveries(ctx context.Context, webhookID string) ([]store.Delivery, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListDeliveries), webhookID)
	return collect(s, rows, err, "list deliveries", scanDelivery)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
