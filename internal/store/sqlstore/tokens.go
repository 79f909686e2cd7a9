package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Issued tokens (/v3/connect/token).

const tokenColumns = `hash, kind, app_id, grant_id, family, scope, expires_at, created_at, used_at, revoked_at, pkce_only`

var (
	qInsertToken = newStmt(`INSERT INTO oauth_tokens (` + tokenColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetToken    = newStmt(`SELECT ` + tokenColumns + ` FROM oauth_tokens WHERE hash = ?`)
	qLockToken   = newStmt(`SELECT ` + tokenColumns + ` FROM oauth_tokens WHERE hash = ?{forUpdate}`)
	qUseToken    = newStmt(`UPDATE oauth_tokens SET used_at = ? WHERE hash = ?`)
	qRevokeFam   = newStmt(`UPDATE oauth_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`)
	qPurgeTokens = newStmt(`DELETE FROM oauth_tokens WHERE hash IN (SELECT hash FROM oauth_tokens
		WHERE expires_at < ? OR used_at < ? OR revoked_at < ? LIMIT ?)`)
)

func scanToken(row Row) (store.IssuedToken, error) {
	var (
		t     store.IssuedToken
		scope []byte
	)
	if err := row.Scan(&t.Hash, &t.Kind, &t.AppID, &t.GrantID, &t.Family, &scope,
		td(&t.ExpiresAt), td(&t.CreatedAt), td(&t.UsedAt), td(&t.RevokedAt), &t.PKCEOnly); err != nil {
		return t, err
	}
	var err error
	t.Scope, err = decodeStrings(scope)
	return t, err
}

func (s *Store) insertTokens(ctx context.Context, q Querier, ts []store.IssuedToken) error {
	now := s.now()
	for _, t := range ts {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = now
		}
		scope, err := s.json(t.Scope)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, s.sql(qInsertToken), t.Hash, t.Kind, t.AppID, t.GrantID, t.Family, scope,
			s.time(utcMicro(t.ExpiresAt)), s.time(utcMicro(t.CreatedAt)), s.time(utcMicro(t.UsedAt)), s.time(utcMicro(t.RevokedAt)), t.PKCEOnly)
		if err != nil {
			return s.err("create token", err)
		}
	}
	return nil
}

func (s *Store) CreateTokens(ctx context.Context, ts ...store.IssuedToken) error {
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error { return s.insertTokens(ctx, q, ts) })
}

func (s *Store) GetToken(ctx context.Context, hash []byte) (store.IssuedToken, error) {
	t, err := scanToken(s.db.Read().QueryRow(ctx, s.sql(qGetToken), hash))
	return t, s.err("get token", err)
}

func (s *Store) UseRefreshToken(ctx context.Context, hash []byte, now time.Time, next func(old store.IssuedToken) ([]store.IssuedToken, error)) (store.IssuedToken, error) {
	var (
		old    store.IssuedToken
		replay bool
	)
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		replay = false
		var err error
		old, err = scanToken(q.QueryRow(ctx, s.sql(qLockToken), hash))
		if err != nil {
			return s.err("use refresh token", err)
		}
		switch {
		case old.Kind != store.TokenRefresh || !old.RevokedAt.IsZero() || (!old.ExpiresAt.IsZero() && !old.ExpiresAt.After(now)):
			return fmt.Errorf("use refresh token: %w", store.ErrNotFound)
		case !old.UsedAt.IsZero():
			// A replay: whoever holds the family's tokens may be an
			// attacker (RFC 9700 §4.14.2). Revoke them all and keep
			// that.
			replay = true
			_, err := q.Exec(ctx, s.sql(qRevokeFam), s.time(utcMicro(now)), old.Family)
			return s.err("revoke token family", err)
		}
		rows, err := next(old)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, s.sql(qUseToken), s.time(utcMicro(now)), hash); err != nil {
			return s.err("use refresh token", err)
		}
		return s.insertTokens(ctx, q, rows)
	})
	if err != nil {
		return store.IssuedToken{}, err
	}
	if replay {
		return old, fmt.Errorf("use refresh token: already used: %w", store.ErrConflict)
	}
	return old, nil
}

func (s *Store) RevokeTokenFamily(ctx context.Context, family string, at time.Time) (int, error) {
	if at.IsZero() {
		at = s.now()
	}
	n, err := s.db.Write().Exec(ctx, s.sql(qRevokeFam), s.time(utcMicro(at)), family)
	return int(n), s.err("revoke token family", err)
}

func (s *Store) DeleteStaleTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	b := s.time(utcMicro(before))
	n, err := s.db.Write().Exec(ctx, s.sql(qPurgeTokens), b, b, b, limit)
	return int(n), s.err("delete stale tokens", err)
}

// ExplainDeleteStaleTokens returns the query plan of
// DeleteStaleTokens(before, limit), one line per plan node, with
// sequential scans discouraged (PostgreSQL): for the test that checks the
// purge reads its indexes, not the table.
func (s *Store) ExplainDeleteStaleTokens(ctx context.Context, before time.Time, limit int) ([]string, error) {
	b := s.time(utcMicro(before))
	return s.explain(ctx, s.f.ExplainNoScan, s.sql(qPurgeTokens), b, b, b, limit)
}

// Signing keys (id_tokens).

const signingKeyColumns = `id, seq, alg, private_key, public_key, created_at`

var (
	qInsertSigningKey = newStmt(`INSERT INTO signing_keys (` + signingKeyColumns + `) VALUES (?, ?, ?, ?, ?, ?)`)
	qListSigningKeys  = newStmt(`SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY seq DESC`)
	qDeleteSigningKey = newStmt(`DELETE FROM signing_keys WHERE id = ?`)
)

func scanSigningKey(row Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Seq, &k.Alg, &k.PrivateKey, &k.PublicKey, td(&k.CreatedAt))
	return k, err
}

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	_, err := s.db.Write().Exec(ctx, s.sql(qInsertSigningKey), k.ID, k.Seq, k.Alg, k.PrivateKey, k.PublicKey, s.time(utcMicro(k.CreatedAt)))
	return s.err("create signing key", err)
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListSigningKeys))
	return collect(s, rows, err, "list signing keys", scanSigningKey)
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteSigningKey), id)
	if err != nil {
		return s.err("delete signing key", err)
	}
	return mustAffect("delete signing key", n)
}
