package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Refresh leases. ClaimDueGrants locks its candidates with FOR UPDATE SKIP
// LOCKED, so nodes claiming at once take disjoint sets; a row another
// claimer leased and committed meanwhile is re-checked against the lease
// condition (READ COMMITTED re-evaluation) and dropped.

func (s *Store) ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Grant, error) {
	if limit <= 0 {
		return nil, nil
	}
	now = sqlutil.Time(now)
	rows, err := s.pool.Query(ctx, `UPDATE grants SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM grants
			WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= $3
			AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY next_refresh_at LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+grantColumns, owner, sqlutil.Time(now.Add(lease)), now, limit)
	return collect(rows, err, "claim due grants", scanGrant)
}

func (s *Store) ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (store.Grant, bool, error) {
	now = sqlutil.Time(now)
	g, err := scanGrant(s.pool.QueryRow(ctx, `UPDATE grants SET lease_owner = $1, lease_until = $2
		WHERE app_id = $3 AND id = $4 AND (lease_until IS NULL OR lease_until < $5 OR lease_owner = $1)
		RETURNING `+grantColumns, owner, sqlutil.Time(now.Add(lease)), appID, id, now))
	if err == nil {
		return g, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return g, false, dbErr("claim grant", err)
	}
	g, err = s.GetGrant(ctx, appID, id)
	return g, false, err
}

func (s *Store) ReleaseGrant(ctx context.Context, appID, id, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE grants SET lease_owner = '', lease_until = NULL WHERE app_id = $1 AND id = $2 AND lease_owner = $3`, appID, id, owner)
	return dbErr("release grant", err)
}

func (s *Store) CountDueGrants(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM grants WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= $1`,
		sqlutil.Time(now)).Scan(&n)
	return n, dbErr("count due grants", err)
}
