package sqlstore

import (
	"context"

	"github.com/grantd/grantd/internal/store"
)

// The outbox: events are appended in the transaction of the grant change
// that caused them.

const eventColumns = `seq, id, app_id, type, grant_id, payload, created_at`

var (
	qInsertEvent = newStmt(`INSERT INTO events (id, app_id, type, grant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	qListEvents  = newStmt(`SELECT ` + eventColumns + ` FROM events WHERE seq > ? ORDER BY seq`)
)

// insertEvents appends events to the outbox. It first runs the flavour's
// LockEvents (PostgreSQL: an advisory lock held until the transaction
// ends), so that transactions holding events commit one at a time, in the
// order of their Seq values, and a reader paging by Seq never skips one
// that commits late. SQLite's single writer orders them already.
func (s *Store) insertEvents(ctx context.Context, q Querier, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	if s.f.LockEvents != "" {
		if _, err := q.Exec(ctx, s.f.LockEvents); err != nil {
			return s.err("lock events", err)
		}
	}
	for _, e := range events {
		_, err := q.Exec(ctx, s.sql(qInsertEvent), e.ID, e.AppID, e.Type, e.GrantID, blob(e.Payload), s.time(e.CreatedAt))
		if err != nil {
			return s.err("insert event", err)
		}
	}
	return nil
}

func scanEvent(row Row) (store.Event, error) {
	var (
		e       store.Event
		payload []byte
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.AppID, &e.Type, &e.GrantID, &payload, td(&e.CreatedAt)); err != nil {
		return e, err
	}
	if len(payload) > 0 {
		e.Payload = payload
	}
	return e, nil
}

// ListEvents returns up to limit events (all when limit <= 0) with Seq
// greater than afterSeq, in Seq order.
func (s *Store) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]store.Event, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListEvents)+s.limitOffset(limit, 0), afterSeq)
	return collect(s, rows, err, "list events", scanEvent)
}
