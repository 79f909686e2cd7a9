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

// insertEvents appends events to the outbox (see eventStmts).
func (s *Store) insertEvents(ctx context.Context, q Querier, events []store.Event) error {
	return s.finish(ctx, q, s.eventStmts(nil, events)...)
}

// eventStmts appends to stmts the statements that append events to the
// outbox. The first is the flavour's LockEvents (PostgreSQL: an advisory
// lock held until the transaction ends), so that transactions holding
// events commit one at a time, in the order of their Seq values, and a
// reader paging by Seq never skips one that commits late. SQLite's single
// writer orders them already.
func (s *Store) eventStmts(stmts []Stmt, events []store.Event) []Stmt {
	if len(events) == 0 {
		return stmts
	}
	if s.f.LockEvents != "" {
		stmts = append(stmts, Stmt{Op: "lock events", SQL: s.f.LockEvents})
	}
	for _, e := range events {
		stmts = append(stmts, Stmt{Op: "insert event", SQL: s.sql(qInsertEvent),
			Args: []any{e.ID, e.AppID, e.Type, e.GrantID, blob(e.Payload), s.time(e.CreatedAt)}})
	}
	return stmts
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
