package sqlstore

import (
	"context"

	"github.com/grantd/grantd/internal/store"
)

// Connectors and credentials.

const (
	connectorColumns  = `app_id, provider, name, settings, secret, scope, active_credential_id, created_at, updated_at`
	credentialColumns = `id, app_id, provider, name, type, data, created_at, updated_at`
)

var (
	qInsertConnector = newStmt(`INSERT INTO connectors (` + connectorColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetConnector    = newStmt(`SELECT ` + connectorColumns + ` FROM connectors WHERE app_id = ? AND provider = ?`)
	qLockConnector   = newStmt(`SELECT ` + connectorColumns + ` FROM connectors WHERE app_id = ? AND provider = ?{forUpdate}`)
	qUpdateConnector = newStmt(`UPDATE connectors SET name = ?, settings = ?, secret = ?, scope = ?, active_credential_id = ?, updated_at = ?
		WHERE app_id = ? AND provider = ?`)
	qDeleteConnectorCredentials = newStmt(`DELETE FROM credentials WHERE app_id = ? AND provider = ?`)
	qDeleteConnector            = newStmt(`DELETE FROM connectors WHERE app_id = ? AND provider = ?`)

	qInsertCredential = newStmt(`INSERT INTO credentials (` + credentialColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetCredential    = newStmt(`SELECT ` + credentialColumns + ` FROM credentials WHERE app_id = ? AND id = ?`)
	qLockCredential   = newStmt(`SELECT ` + credentialColumns + ` FROM credentials WHERE app_id = ? AND id = ?{forUpdate}`)
	qUpdateCredential = newStmt(`UPDATE credentials SET name = ?, type = ?, data = ?, updated_at = ? WHERE id = ?`)
	qDeleteCredential = newStmt(`DELETE FROM credentials WHERE app_id = ? AND id = ?`)
)

func scanConnector(row Row) (store.Connector, error) {
	var (
		c               store.Connector
		settings, scope []byte
	)
	if err := row.Scan(&c.AppID, &c.Provider, &c.Name, &settings, &c.Secret, &scope, &c.ActiveCredentialID, td(&c.CreatedAt), td(&c.UpdatedAt)); err != nil {
		return c, err
	}
	c.Secret = nilIfEmpty(c.Secret)
	var err error
	if c.Settings, err = decodeMap(settings); err != nil {
		return c, err
	}
	c.Scope, err = decodeStrings(scope)
	return c, err
}

func (s *Store) connectorArgs(c store.Connector) (settings, scope any, err error) {
	if settings, err = s.json(c.Settings); err != nil {
		return nil, nil, err
	}
	scope, err = s.json(c.Scope)
	return settings, scope, err
}

func (s *Store) CreateConnector(ctx context.Context, c store.Connector) error {
	c = newConnector(c, s.now())
	settings, scope, err := s.connectorArgs(c)
	if err != nil {
		return err
	}
	return s.configTx(ctx, c.AppID, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, s.sql(qInsertConnector),
			c.AppID, c.Provider, c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, s.time(c.CreatedAt), s.time(c.UpdatedAt))
		return s.err("create connector", err)
	})
}

func (s *Store) GetConnector(ctx context.Context, appID, provider string) (store.Connector, error) {
	c, err := scanConnector(s.db.Read().QueryRow(ctx, s.sql(qGetConnector), appID, provider))
	return c, s.err("get connector", err)
}

func (s *Store) ListConnectors(ctx context.Context, appID string, opts store.ListOptions) ([]store.Connector, error) {
	ord, err := order(opts, "provider")
	if err != nil {
		return nil, err
	}
	q := s.render(`SELECT ` + connectorColumns + ` FROM connectors WHERE app_id = ? ` + ord + s.limitOffset(opts.Limit, opts.Offset))
	rows, err := s.db.Read().Query(ctx, q, appID)
	return collect(s, rows, err, "list connectors", scanConnector)
}

func (s *Store) UpdateConnector(ctx context.Context, appID, provider string, update func(old store.Connector) (store.Connector, error)) (store.Connector, error) {
	return updateConfig(ctx, s, appID, "update connector", qLockConnector, []any{appID, provider}, scanConnector, update,
		func(ctx context.Context, q Querier, old, c store.Connector) (store.Connector, error) {
			c = updatedConnector(old, c)
			settings, scope, err := s.connectorArgs(c)
			if err != nil {
				return c, err
			}
			_, err = q.Exec(ctx, s.sql(qUpdateConnector),
				c.Name, settings, blob(c.Secret), scope, c.ActiveCredentialID, s.time(c.UpdatedAt), appID, provider)
			return c, s.err("update connector", err)
		})
}

// DeleteConnector deletes the credentials first, then the connector: the
// order in which requireClient locks them (the other order deadlocks).
func (s *Store) DeleteConnector(ctx context.Context, appID, provider string) error {
	return s.configTx(ctx, appID, func(ctx context.Context, q Querier) error {
		if _, err := q.Exec(ctx, s.sql(qDeleteConnectorCredentials), appID, provider); err != nil {
			return s.err("delete connector", err)
		}
		n, err := q.Exec(ctx, s.sql(qDeleteConnector), appID, provider)
		if err != nil {
			return s.err("delete connector", err)
		}
		return mustAffect("delete connector", n)
	})
}

func scanCredential(row Row) (store.Credential, error) {
	var c store.Credential
	if err := row.Scan(&c.ID, &c.AppID, &c.Provider, &c.Name, &c.Type, &c.Data, td(&c.CreatedAt), td(&c.UpdatedAt)); err != nil {
		return c, err
	}
	c.Data = nilIfEmpty(c.Data)
	return c, nil
}

// CreateCredential reports ErrNotFound when the application has no
// connector for c.Provider.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	c = newCredential(c, s.now())
	return s.configTx(ctx, c.AppID, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, s.sql(qInsertCredential),
			c.ID, c.AppID, c.Provider, c.Name, c.Type, blob(c.Data), s.time(c.CreatedAt), s.time(c.UpdatedAt))
		return s.err("create credential", err)
	})
}

func (s *Store) GetCredential(ctx context.Context, appID, id string) (store.Credential, error) {
	c, err := scanCredential(s.db.Read().QueryRow(ctx, s.sql(qGetCredential), appID, id))
	return c, s.err("get credential", err)
}

func (s *Store) ListCredentials(ctx context.Context, appID, provider string, opts store.ListOptions) ([]store.Credential, error) {
	ord, err := order(opts, "id")
	if err != nil {
		return nil, err
	}
	q := s.render(`SELECT ` + credentialColumns + ` FROM credentials WHERE app_id = ? AND provider = ? ` + ord + s.limitOffset(opts.Limit, opts.Offset))
	rows, err := s.db.Read().Query(ctx, q, appID, provider)
	return collect(s, rows, err, "list credentials", scanCredential)
}

func (s *Store) UpdateCredential(ctx context.Context, appID, id string, update func(old store.Credential) (store.Credential, error)) (store.Credential, error) {
	return updateConfig(ctx, s, appID, "update credential", qLockCredential, []any{appID, id}, scanCredential, update,
		func(ctx context.Context, q Querier, old, c store.Credential) (store.Credential, error) {
			c = updatedCredential(old, c)
			_, err := q.Exec(ctx, s.sql(qUpdateCredential), c.Name, c.Type, blob(c.Data), s.time(c.UpdatedAt), id)
			return c, s.err("update credential", err)
		})
}

func (s *Store) DeleteCredential(ctx context.Context, appID, id string) error {
	return s.configTx(ctx, appID, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, s.sql(qDeleteCredential), appID, id)
		if err != nil {
			return s.err("delete credential", err)
		}
		return mustAffect("delete credential", n)
	})
}
