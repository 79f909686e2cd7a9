package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Refresh leases. Every statement runs on the single writer connection,
// so one UPDATE … RETURNING is atomic with respect to every other claim.

func (s *Store) ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Grant, error) {
	if limit <= 0 {
		return nil, nil
	}
	now = sqlutil.Time(now)
	until := sqlutil.Time(now.Add(lease))
	rows, err := s.w.QueryContext(ctx, `UPDATE grants SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM grants
			WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
			AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY next_refresh_at LIMIT ?)
		RETURNING `+grantColumns, owner, until.UnixMicro(), now.UnixMicro(), now.UnixMicro(), limit)
	return collect(rows, err, "claim due grants", scanGrant)
}

func (s *Store) ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (store.Grant, bool, error) {
	now = sqlutil.Time(now)
	until := sqlutil.Time(now.Add(lease))
	g, err := scanGrant(s.w.QueryRowContext(ctx, `UPDATE grants SET lease_owner = ?, lease_until = ?
		WHERE app_id = ? AND id = ? AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)
		RETURNING `+grantColumns, owner, until.UnixMicro(), appID, id, now.UnixMicro(), owner))
	if err == nil {
		return g, true, nil
	}
	if err != sql.ErrNoRows {
		return g, false, dbErr("claim grant", err)
	}
	g, err = s.GetGrant(ctx, appID, id)
	return g, false, err
}

func (s *Store) ReleaseGrant(ctx context.Context, appID, id, owner string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE grants SET lease_owner = '', lease_until = NULL WHERE app_id = ? AND id = ? AND lease_owner = ?`, appID, id, owner)
	return dbErr("release grant", err)
}

func (s *Store) CountDueGrants(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM grants WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?`,
		sqlutil.Time(now).UnixMicro()).Scan(&n)
	return n, dbErr("count due grants", err)
}
