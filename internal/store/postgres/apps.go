package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Applications and API keys.

const appColumns = `id, name, organization_id, region, environment, callback_uris, created_at, updated_at`

func scanApp(row pgx.Row) (store.Application, error) {
	var (
		a                store.Application
		uris             []byte
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&a.ID, &a.Name, &a.OrganizationID, &a.Region, &a.Environment, &uris, &created, &updated); err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt = fromTS(created), fromTS(updated)
	var err error
	a.CallbackURIs, err = sqlutil.DecodeStrings(uris)
	return a, err
}

func (s *Store) CreateApplication(ctx context.Context, a store.Application) error {
	a = sqlutil.NewApplication(a, s.now())
	uris, err := sqlutil.EncodeJSON(a.CallbackURIs)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO applications (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.Name, a.OrganizationID, a.Region, a.Environment, uris, ts(a.CreatedAt), ts(a.UpdatedAt))
	return dbErr("create application", err)
}

func (s *Store) GetApplication(ctx context.Context, id string) (store.Application, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM applications WHERE id = $1`, id))
	return a, dbErr("get application", err)
}

func (s *Store) ListApplications(ctx context.Context) ([]store.Application, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+appColumns+` FROM applications ORDER BY created_at, id`)
	return collect(rows, err, "list applications", scanApp)
}

func (s *Store) UpdateApplication(ctx context.Context, id string, update func(old store.Application) (store.Application, error)) (store.Application, error) {
	var out store.Application
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanApp(tx.QueryRow(ctx, `SELECT `+appColumns+` FROM applications WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return dbErr("update application", err)
		}
		a, err := update(old)
		if err != nil {
			return err
		}
		a = sqlutil.UpdatedApplication(old, a)
		uris, err := sqlutil.EncodeJSON(a.CallbackURIs)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE applications SET name = $1, organization_id = $2, region = $3, environment = $4,
			callback_uris = $5, updated_at = $6 WHERE id = $7`,
			a.Name, a.OrganizationID, a.Region, a.Environment, uris, ts(a.UpdatedAt), id)
		if err != nil {
			return dbErr("update application", err)
		}
		out = a
		return nil
	})
	return out, err
}

const apiKeyColumns = `id, app_id, name, hash, prefix, scopes, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (store.APIKey, error) {
	var (
		k                store.APIKey
		scopes           []byte
		created, revoked pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &k.AppID, &k.Name, &k.Hash, &k.Prefix, &scopes, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = fromTS(created), fromTS(revoked)
	var err error
	k.Scopes, err = sqlutil.DecodeStrings(scopes)
	return k, err
}

func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	k = sqlutil.NewAPIKey(k, s.now())
	scopes, err := sqlutil.EncodeJSON(k.Scopes)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.AppID, k.Name, k.Hash, k.Prefix, scopes, ts(k.CreatedAt), ts(k.RevokedAt))
	return dbErr("create api key", err)
}

func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	return k, dbErr("get api key", err)
}

func (s *Store) ListAPIKeys(ctx context.Context, appID string) ([]store.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE app_id = $1 ORDER BY created_at, id`, appID)
	return collect(rows, err, "list api keys", scanAPIKey)
}

func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	res, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`,
		ts(sqlutil.Time(at)), id)
	if err != nil {
		return dbErr("revoke api key", err)
	}
	return mustAffect("revoke api key", res)
}
