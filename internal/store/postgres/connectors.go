package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Connectors and credentials.

const connectorColumns = `app_id, provider, name, settings, secret, scope, active_credential_id, created_at, updated_at`

func scanConnector(row pgx.Row) (store.Connector, error) {
	var (
		c                store.Connector
		settings, scope  []byte
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&c.AppID, &c.Provider, &c.Name, &settings, &c.Secret, &scope, &c.ActiveCredentialID, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
	c.Secret = nilIfEmpty(c.Secret)
	var err error
	if c.Settings, err = sqlutil.DecodeMap(settings); err != nil {
		return c, err
	}
	c.Scope, err = sqlutil.DecodeStrings(scope)
	return c, err
}

func connectorArgs(c store.Connector) (settings, scope []byte, err error) {
	if settings, err = sqlutil.EncodeJSON(c.Settings); err != nil {
		return nil, nil, err
	}
	scope, err = sqlutil.EncodeJSON(c.Scope)
	return settings, scope, err
}

func (s *Store) CreateConnector(ctx context.Context, c store.Connector) error {
	c = sqlutil.NewConnector(c, s.now())
	settings, scope, err := connectorArgs(c)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.AppID, c.Provider, c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, ts(c.CreatedAt), ts(c.UpdatedAt))
	return dbErr("create connector", err)
}

func (s *Store) GetConnector(ctx context.Context, appID, provider string) (store.Connector, error) {
	c, err := scanConnector(s.pool.QueryRow(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = $1 AND provider = $2`, appID, provider))
	return c, dbErr("get connector", err)
}

func (s *Store) ListConnectors(ctx context.Context, appID string, opts store.ListOptions) ([]store.Connector, error) {
	order, err := sqlutil.Order(opts, "provider")
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = $1 `+order+limitOffset(opts.Limit, opts.Offset), appID)
	return collect(rows, err, "list connectors", scanConnector)
}

func (s *Store) UpdateConnector(ctx context.Context, appID, provider string, update func(old store.Connector) (store.Connector, error)) (store.Connector, error) {
	var out store.Connector
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanConnector(tx.QueryRow(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = $1 AND provider = $2 FOR UPDATE`, appID, provider))
		if err != nil {
			return dbErr("update connector", err)
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		c = sqlutil.UpdatedConnector(old, c)
		settings, scope, err := connectorArgs(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE connectors SET name = $1, settings = $2, secret = $3, scope = $4, active_credential_id = $5, updated_at = $6
			WHERE app_id = $7 AND provider = $8`,
			c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, ts(c.UpdatedAt), appID, provider)
		if err != nil {
			return dbErr("update connector", err)
		}
		out = c
		return nil
	})
	return out, err
}

func (s *Store) DeleteConnector(ctx context.Context, appID, provider string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM credentials WHERE app_id = $1 AND provider = $2`, appID, provider); err != nil {
			return dbErr("delete connector", err)
		}
		res, err := tx.Exec(ctx, `DELETE FROM connectors WHERE app_id = $1 AND provider = $2`, appID, provider)
		if err != nil {
			return dbErr("delete connector", err)
		}
		return mustAffect("delete connector", res)
	})
}

const credentialColumns = `id, app_id, provider, name, type, data, created_at, updated_at`

func scanCredential(row pgx.Row) (store.Credential, error) {
	var (
		c                store.Credential
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&c.ID, &c.AppID, &c.Provider, &c.Name, &c.Type, &c.Data, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
	c.Data = nilIfEmpty(c.Data)
	return c, nil
}

// CreateCredential reports ErrNotFound when the application has no
// connector for c.Provider.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	c = sqlutil.NewCredential(c, s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, c.AppID, c.Provider, c.Name, c.Type, blob(c.Data), ts(c.CreatedAt), ts(c.UpdatedAt))
	return dbErr("create credential", err)
}

func (s *Store) GetCredential(ctx context.Context, appID, id string) (store.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = $1 AND id = $2`, appID, id))
	return c, dbErr("get credential", err)
}

func (s *Store) ListCredentials(ctx context.Context, appID, provider string, opts store.ListOptions) ([]store.Credential, error) {
	order, err := sqlutil.Order(opts, "id")
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = $1 AND provider = $2 `+order+limitOffset(opts.Limit, opts.Offset), appID, provider)
	return collect(rows, err, "list credentials", scanCredential)
}

func (s *Store) UpdateCredential(ctx context.Context, appID, id string, update func(old store.Credential) (store.Credential, error)) (store.Credential, error) {
	var out store.Credential
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanCredential(tx.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = $1 AND id = $2 FOR UPDATE`, appID, id))
		if err != nil {
			return dbErr("update credential", err)
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		c = sqlutil.UpdatedCredential(old, c)
		_, err = tx.Exec(ctx, `UPDATE credentials SET name = $1, type = $2, data = $3, updated_at = $4 WHERE id = $5`,
			c.Name, c.Type, blob(c.Data), ts(c.UpdatedAt), id)
		if err != nil {
			return dbErr("update credential", err)
		}
		out = c
		return nil
	})
	return out, err
}

func (s *Store) DeleteCredential(ctx context.Context, appID, id string) error {
	res, err := s.pool.Exec(ctx, `DELETE FROM credentials WHERE app_id = $1 AND id = $2`, appID, id)
	if err != nil {
		return dbErr("delete credential", err)
	}
	return mustAffect("delete credential", res)
}
