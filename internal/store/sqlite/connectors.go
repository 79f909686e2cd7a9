package sqlite

import (
	"context"
	"database/sql"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Connectors and credentials.

const connectorColumns = `app_id, provider, name, settings, secret, scope, active_credential_id, created_at, updated_at`

func scanConnector(row scanner) (store.Connector, error) {
	var (
		c                store.Connector
		settings, scope  []byte
		created, updated sql.NullInt64
	)
	if err := row.Scan(&c.AppID, &c.Provider, &c.Name, &settings, &c.Secret, &scope, &c.ActiveCredentialID, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.Secret = nilIfEmpty(c.Secret)
	var err error
	if c.Settings, err = sqlutil.DecodeMap(settings); err != nil {
		return c, err
	}
	c.Scope, err = sqlutil.DecodeStrings(scope)
	return c, err
}

func connectorArgs(c store.Connector) (settings, scope string, err error) {
	if settings, err = encodeJSON(c.Settings); err != nil {
		return "", "", err
	}
	scope, err = encodeJSON(c.Scope)
	return settings, scope, err
}

func (s *Store) CreateConnector(ctx context.Context, c store.Connector) error {
	c = sqlutil.NewConnector(c, s.now())
	settings, scope, err := connectorArgs(c)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.AppID, c.Provider, c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, micros(c.CreatedAt), micros(c.UpdatedAt))
	return dbErr("create connector", err)
}

func (s *Store) GetConnector(ctx context.Context, appID, provider string) (store.Connector, error) {
	c, err := scanConnector(s.r.QueryRowContext(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = ? AND provider = ?`, appID, provider))
	return c, dbErr("get connector", err)
}

func (s *Store) ListConnectors(ctx context.Context, appID string, opts store.ListOptions) ([]store.Connector, error) {
	order, err := sqlutil.Order(opts, "provider")
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = ? `+order+limitOffset(opts.Limit, opts.Offset), appID)
	return collect(rows, err, "list connectors", scanConnector)
}

func (s *Store) UpdateConnector(ctx context.Context, appID, provider string, update func(old store.Connector) (store.Connector, error)) (store.Connector, error) {
	var out store.Connector
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanConnector(tx.QueryRowContext(ctx, `SELECT `+connectorColumns+` FROM connectors WHERE app_id = ? AND provider = ?`, appID, provider))
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
		_, err = tx.ExecContext(ctx, `UPDATE connectors SET name = ?, settings = ?, secret = ?, scope = ?, active_credential_id = ?, updated_at = ?
			WHERE app_id = ? AND provider = ?`,
			c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, micros(c.UpdatedAt), appID, provider)
		if err != nil {
			return dbErr("update connector", err)
		}
		out = c
		return nil
	})
	return out, err
}

func (s *Store) DeleteConnector(ctx context.Context, appID, provider string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE app_id = ? AND provider = ?`, appID, provider); err != nil {
			return dbErr("delete connector", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM connectors WHERE app_id = ? AND provider = ?`, appID, provider)
		if err != nil {
			return dbErr("delete connector", err)
		}
		return mustAffect("delete connector", res)
	})
}

const credentialColumns = `id, app_id, provider, name, type, data, created_at, updated_at`

func scanCredential(row scanner) (store.Credential, error) {
	var (
		c                store.Credential
		created, updated sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.AppID, &c.Provider, &c.Name, &c.Type, &c.Data, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.Data = nilIfEmpty(c.Data)
	return c, nil
}

// CreateCredential reports ErrNotFound when the application has no
// connector for c.Provider.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	c = sqlutil.NewCredential(c, s.now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AppID, c.Provider, c.Name, c.Type, blob(c.Data), micros(c.CreatedAt), micros(c.UpdatedAt))
	return dbErr("create credential", err)
}

func (s *Store) GetCredential(ctx context.Context, appID, id string) (store.Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = ? AND id = ?`, appID, id))
	return c, dbErr("get credential", err)
}

func (s *Store) ListCredentials(ctx context.Context, appID, provider string, opts store.ListOptions) ([]store.Credential, error) {
	order, err := sqlutil.Order(opts, "id")
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = ? AND provider = ? `+order+limitOffset(opts.Limit, opts.Offset), appID, provider)
	return collect(rows, err, "list credentials", scanCredential)
}

func (s *Store) UpdateCredential(ctx context.Context, appID, id string, update func(old store.Credential) (store.Credential, error)) (store.Credential, error) {
	var out store.Credential
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanCredential(tx.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE app_id = ? AND id = ?`, appID, id))
		if err != nil {
			return dbErr("update credential", err)
		}
		c, err := update(old)
		if err != nil {
			return err
		}
		c = sqlutil.UpdatedCredential(old, c)
		_, err = tx.ExecContext(ctx, `UPDATE credentials SET name = ?, type = ?, data = ?, updated_at = ? WHERE id = ?`,
			c.Name, c.Type, blob(c.Data), micros(c.UpdatedAt), id)
		if err != nil {
			return dbErr("update credential", err)
		}
		out = c
		return nil
	})
	return out, err
}

func (s *Store) DeleteCredential(ctx context.Context, appID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM credentials WHERE app_id = ? AND id = ?`, appID, id)
	if err != nil {
		return dbErr("delete credential", err)
	}
	return mustAffect("delete credential", res)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
