package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Applications and API keys.

const appColumns = `id, name, organization_id, region, environment, callback_uris, created_at, updated_at`

func scanApp(row scanner) (store.Application, error) {
	var (
		a                store.Application
		uris             []byte
		created, updated sql.NullInt64
	)
	if err := row.Scan(&a.ID, &a.Name, &a.OrganizationID, &a.Region, &a.Environment, &uris, &created, &updated); err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	a.CallbackURIs, err = sqlutil.DecodeStrings(uris)
	return a, err
}

func (s *Store) CreateApplication(ctx context.Context, a store.Application) error {
	a = sqlutil.NewApplication(a, s.now())
	uris, err := encodeJSON(a.CallbackURIs)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO applications (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.OrganizationID, a.Region, a.Environment, uris, micros(a.CreatedAt), micros(a.UpdatedAt))
	return dbErr("create application", err)
}

func (s *Store) GetApplication(ctx context.Context, id string) (store.Application, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE id = ?`, id))
	return a, dbErr("get application", err)
}

func (s *Store) ListApplications(ctx context.Context) ([]store.Application, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appColumns+` FROM applications ORDER BY created_at, id`)
	return collect(rows, err, "list applications", scanApp)
}

func (s *Store) UpdateApplication(ctx context.Context, id string, update func(old store.Application) (store.Application, error)) (store.Application, error) {
	var out store.Application
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanApp(tx.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE id = ?`, id))
		if err != nil {
			return dbErr("update application", err)
		}
		a, err := update(old)
		if err != nil {
			return err
		}
		a = sqlutil.UpdatedApplication(old, a)
		uris, err := encodeJSON(a.CallbackURIs)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE applications SET name = ?, organization_id = ?, region = ?, environment = ?,
			callback_uris = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.OrganizationID, a.Region, a.Environment, uris, micros(a.UpdatedAt), id)
		if err != nil {
			return dbErr("update application", err)
		}
		out = a
		return nil
	})
	return out, err
}

const apiKeyColumns = `id, app_id, name, hash, prefix, scopes, created_at, revoked_at`

func scanAPIKey(row scanner) (store.APIKey, error) {
	var (
		k                store.APIKey
		scopes           []byte
		created, revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.AppID, &k.Name, &k.Hash, &k.Prefix, &scopes, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = fromMicros(created), fromMicros(revoked)
	var err error
	k.Scopes, err = sqlutil.DecodeStrings(scopes)
	return k, err
}

func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	k = sqlutil.NewAPIKey(k, s.now())
	scopes, err := encodeJSON(k.Scopes)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AppID, k.Name, k.Hash, k.Prefix, scopes, micros(k.CreatedAt), micros(k.RevokedAt))
	return dbErr("create api key", err)
}

func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	return k, dbErr("get api key", err)
}

func (s *Store) ListAPIKeys(ctx context.Context, appID string) ([]store.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE app_id = ? ORDER BY created_at, id`, appID)
	return collect(rows, err, "list api keys", scanAPIKey)
}

func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
		micros(sqlutil.Time(at)), id)
	if err != nil {
		return dbErr("revoke api key", err)
	}
	return mustAffect("revoke api key", res)
}

// collect scans every row of a query.
func collect[T any](rows *sql.Rows, err error, op string, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}
