package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// One-time codes.

const codeColumns = `hash, app_id, grant_id, data, expires_at, created_at`

var (
	qInsertCode  = newStmt(`INSERT INTO codes (` + codeColumns + `) VALUES (?, ?, ?, ?, ?, ?)`)
	qConsumeCode = newStmt(`DELETE FROM codes WHERE hash = ? RETURNING ` + codeColumns)
	qPurgeCodes  = newStmt(`DELETE FROM codes WHERE hash IN (SELECT hash FROM codes WHERE expires_at < ? LIMIT ?)`)
)

func (s *Store) CreateCode(ctx context.Context, c store.Code) error {
	c = newCode(c, s.now())
	_, err := s.db.Write().Exec(ctx, s.sql(qInsertCode),
		c.Hash, c.AppID, c.GrantID, blob(c.Data), s.time(c.ExpiresAt), s.time(c.CreatedAt))
	return s.err("create code", err)
}

// ConsumeCode deletes the code and returns it, in one statement: of two
// concurrent DELETEs of one row, the second waits for the first (or, on
// SQLite, runs after it on the single writer) and then finds nothing.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (store.Code, error) {
	var c store.Code
	err := s.db.Write().QueryRow(ctx, s.sql(qConsumeCode), hash).
		Scan(&c.Hash, &c.AppID, &c.GrantID, &c.Data, td(&c.ExpiresAt), td(&c.CreatedAt))
	if err != nil {
		return store.Code{}, s.err("consume code", err)
	}
	c.Data = nilIfEmpty(c.Data)
	if c.ExpiresAt.Before(now) {
		return store.Code{}, fmt.Errorf("consume code: expired: %w", store.ErrNotFound)
	}
	return c, nil
}

func (s *Store) DeleteExpiredCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.db.Write().Exec(ctx, s.sql(qPurgeCodes), s.time(utcMicro(now)), limit)
	return int(n), s.err("delete expired codes", err)
}
