package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Refresh leases. Each claim is one UPDATE … RETURNING, run through
// DB.Lease: on SQLite on the single writer connection, so atomic with
// respect to every other claim; on PostgreSQL the candidates are locked
// FOR UPDATE SKIP LOCKED, so nodes claiming at once take disjoint sets,
// and a row another claimer leased and committed meanwhile is re-checked
// against the lease condition (READ COMMITTED re-evaluation) and dropped.
// The due grants are read in next_refresh_at order from the grants_due
// index, or, for one provider's, from grants_due_provider (migration
// 0014: a claim of one provider's grants never reads another's).

var (
	qClaimDue = newStmt(`UPDATE grants SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM grants
			WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
			AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY next_refresh_at LIMIT ?{skipLocked})
		RETURNING ` + grantColumns)
	qClaimDueOf = newStmt(`UPDATE grants SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM grants
			WHERE provider = ? AND status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
			AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY next_refresh_at LIMIT ?{skipLocked})
		RETURNING ` + grantColumns)
	qClaim = newStmt(`UPDATE grants SET lease_owner = ?, lease_until = ?
		WHERE app_id = ? AND id = ? AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)
		RETURNING ` + grantColumns)
	qRelease      = newStmt(`UPDATE grants SET lease_owner = '', lease_until = NULL WHERE app_id = ? AND id = ? AND lease_owner = ?`)
	qExtendLapsed = newStmt(`UPDATE grants SET lease_until = ?
		WHERE lease_owner <> '' AND lease_until IS NOT NULL AND lease_until < ?`)
	qCountDue = newStmt(`SELECT count(*) FROM grants WHERE status = 'valid' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?`)
)

func (s *Store) ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Grant, error) {
	return s.claimDue(ctx, now, owner, lease, "", limit)
}

func (s *Store) ClaimDueGrantsOf(ctx context.Context, now time.Time, owner string, lease time.Duration, provider string, limit int) ([]store.Grant, error) {
	if provider == "" {
		return nil, nil
	}
	return s.claimDue(ctx, now, owner, lease, provider, limit)
}

func (s *Store) claimDue(ctx context.Context, now time.Time, owner string, lease time.Duration, provider string, limit int) ([]store.Grant, error) {
	if limit <= 0 {
		return nil, nil
	}
	q, args := s.claimDueQuery(now, owner, lease, provider, limit)
	rows, err := s.db.Lease().Query(ctx, q, args...)
	return collect(s, rows, err, "claim due grants", scanGrant)
}

// claimDueQuery is the claim of every provider's due grants (provider ""),
// or of one provider's.
func (s *Store) claimDueQuery(now time.Time, owner string, lease time.Duration, provider string, limit int) (string, []any) {
	now = utcMicro(now)
	at, until := s.time(now), s.time(utcMicro(now.Add(lease)))
	if provider == "" {
		return s.sql(qClaimDue), []any{owner, until, at, at, limit}
	}
	return s.sql(qClaimDueOf), []any{owner, until, provider, at, at, limit}
}

// ExplainClaimDueGrants returns the query plan of ClaimDueGrants, or of
// ClaimDueGrantsOf when provider is set (see ExplainListGrants), for the
// tests that check the claims read the due grants from their index, in
// order.
func (s *Store) ExplainClaimDueGrants(ctx context.Context, now time.Time, provider string, limit int) ([]string, error) {
	q, args := s.claimDueQuery(now, "explain", time.Minute, provider, limit)
	return s.explain(ctx, s.f.ExplainSetup, q, args...)
}

func (s *Store) ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (store.Grant, bool, error) {
	now = utcMicro(now)
	g, err := scanGrant(s.db.Lease().QueryRow(ctx, s.sql(qClaim), owner, s.time(utcMicro(now.Add(lease))), appID, id, s.time(now), owner))
	if err == nil {
		return g, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) { // pgx.ErrNoRows is one too
		return g, false, s.err("claim grant", err)
	}
	g, err = s.GetGrant(ctx, appID, id)
	return g, false, err
}

func (s *Store) ReleaseGrant(ctx context.Context, appID, id, owner string) error {
	_, err := s.db.Lease().Exec(ctx, s.sql(qRelease), appID, id, owner)
	return s.err("release grant", err)
}

func (s *Store) CountDueGrants(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.Read().QueryRow(ctx, s.sql(qCountDue), s.time(utcMicro(now))).Scan(&n)
	return n, s.err("count due grants", err)
}

func (s *Store) ExtendLapsedLeases(ctx context.Context, now time.Time, lease time.Duration) (int, error) {
	now = utcMicro(now)
	n, err := s.db.Lease().Exec(ctx, s.sql(qExtendLapsed), s.time(utcMicro(now.Add(lease))), s.time(now))
	return int(n), s.err("extend lapsed leases", err)
}
