package sqlstore

import (
	"context"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Applications and API keys.

const (
	appColumns    = `id, name, organization_id, region, environment, callback_uris, created_at, updated_at`
	apiKeyColumns = `id, app_id, name, hash, prefix, scopes, created_at, revoked_at`
)

var (
	qInsertApp = newStmt(`INSERT INTO applications (` + appColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetApp    = newStmt(`SELECT ` + appColumns + ` FROM applications WHERE id = ?`)
	qLockApp   = newStmt(`SELECT ` + appColumns + ` FROM applications WHERE id = ?{forUpdate}`)
	qListApps  = newStmt(`SELECT ` + appColumns + ` FROM applications ORDER BY created_at, id`)
	qUpdateApp = newStmt(`UPDATE applications SET name = ?, organization_id = ?, region = ?, environment = ?, callback_uris = ?, updated_at = ? WHERE id = ?`)
	qInsertKey = newStmt(`INSERT INTO api_keys (` + apiKeyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetKey    = newStmt(`SELECT ` + apiKeyColumns + ` FROM api_keys WHERE hash = ?`)
	qListKeys  = newStmt(`SELECT ` + apiKeyColumns + ` FROM api_keys WHERE app_id = ? ORDER BY created_at, id`)
	qRevokeKey = newStmt(`UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`)

	qBumpConfig    = newStmt(`UPDATE applications SET config_version = config_version + 1 WHERE id = ?`)
	qBumpKeyConfig = newStmt(`UPDATE applications SET config_version = config_version + 1 WHERE id = (SELECT app_id FROM api_keys WHERE id = ?)`)
	qConfigVersion = newStmt(`SELECT config_version FROM applications WHERE id = ?`)
	qGetKeyAuth    = newStmt(`SELECT k.id, k.app_id, k.name, k.hash, k.prefix, k.scopes, k.created_at, k.revoked_at,
		a.id, a.name, a.organization_id, a.region, a.environment, a.callback_uris, a.created_at, a.updated_at, a.config_version
		FROM api_keys k JOIN applications a ON a.id = k.app_id WHERE k.hash = ?`)
)

// bumpConfig grows application appID's configuration version
// (store.Store.GetConfigVersion), first in the transaction of a change to
// its configuration: on PostgreSQL it locks the application's row (FOR NO
// KEY UPDATE, which grant writes' foreign-key checks do not wait for), so
// configuration changes of one application take their locks in one order.
func (s *Store) bumpConfig(ctx context.Context, q Querier, appID string) error {
	_, err := q.Exec(ctx, s.sql(qBumpConfig), appID)
	return s.err("bump configuration version", err)
}

// configTx runs fn in a transaction that first bumps appID's
// configuration version.
func (s *Store) configTx(ctx context.Context, appID string, fn func(ctx context.Context, q Querier) error) error {
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		if err := s.bumpConfig(ctx, q, appID); err != nil {
			return err
		}
		return fn(ctx, q)
	})
}

func (s *Store) GetConfigVersion(ctx context.Context, appID string) (int64, error) {
	var v int64
	err := s.db.Read().QueryRow(ctx, s.sql(qConfigVersion), appID).Scan(&v)
	return v, s.err("get configuration version", err)
}

func (s *Store) GetAPIKeyAuth(ctx context.Context, hash []byte) (store.APIKey, store.Application, int64, error) {
	var (
		k            store.APIKey
		a            store.Application
		v            int64
		scopes, uris []byte
	)
	err := s.db.Read().QueryRow(ctx, s.sql(qGetKeyAuth), hash).Scan(&k.ID, &k.AppID, &k.Name, &k.Hash, &k.Prefix, &scopes, td(&k.CreatedAt), td(&k.RevokedAt),
		&a.ID, &a.Name, &a.OrganizationID, &a.Region, &a.Environment, &uris, td(&a.CreatedAt), td(&a.UpdatedAt), &v)
	if err == nil {
		k.Scopes, err = decodeStrings(scopes)
	}
	if err == nil {
		a.CallbackURIs, err = decodeStrings(uris)
	}
	return k, a, v, s.err("get api key", err)
}

func scanApp(row Row) (store.Application, error) {
	var (
		a    store.Application
		uris []byte
	)
	if err := row.Scan(&a.ID, &a.Name, &a.OrganizationID, &a.Region, &a.Environment, &uris, td(&a.CreatedAt), td(&a.UpdatedAt)); err != nil {
		return a, err
	}
	var err error
	a.CallbackURIs, err = decodeStrings(uris)
	return a, err
}

func (s *Store) CreateApplication(ctx context.Context, a store.Application) error {
	a = newApplication(a, s.now())
	uris, err := s.json(a.CallbackURIs)
	if err != nil {
		return err
	}
	_, err = s.db.Write().Exec(ctx, s.sql(qInsertApp),
		a.ID, a.Name, a.OrganizationID, a.Region, a.Environment, uris, s.time(a.CreatedAt), s.time(a.UpdatedAt))
	return s.err("create application", err)
}

func (s *Store) GetApplication(ctx context.Context, id string) (store.Application, error) {
	a, err := scanApp(s.db.Read().QueryRow(ctx, s.sql(qGetApp), id))
	return a, s.err("get application", err)
}

func (s *Store) ListApplications(ctx context.Context) ([]store.Application, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListApps))
	return collect(s, rows, err, "list applications", scanApp)
}

func (s *Store) UpdateApplication(ctx context.Context, id string, update func(old store.Application) (store.Application, error)) (store.Application, error) {
	return updateConfig(ctx, s, id, "update application", qLockApp, []any{id}, scanApp, update,
		func(ctx context.Context, q Querier, old, a store.Application) (store.Application, error) {
			a = updatedApplication(old, a)
			uris, err := s.json(a.CallbackURIs)
			if err != nil {
				return a, err
			}
			_, err = q.Exec(ctx, s.sql(qUpdateApp), a.Name, a.OrganizationID, a.Region, a.Environment, uris, s.time(a.UpdatedAt), id)
			return a, s.err("update application", err)
		})
}

func scanAPIKey(row Row) (store.APIKey, error) {
	var (
		k      store.APIKey
		scopes []byte
	)
	if err := row.Scan(&k.ID, &k.AppID, &k.Name, &k.Hash, &k.Prefix, &scopes, td(&k.CreatedAt), td(&k.RevokedAt)); err != nil {
		return k, err
	}
	var err error
	k.Scopes, err = decodeStrings(scopes)
	return k, err
}

func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	k = newAPIKey(k, s.now())
	scopes, err := s.json(k.Scopes)
	if err != nil {
		return err
	}
	return s.configTx(ctx, k.AppID, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, s.sql(qInsertKey),
			k.ID, k.AppID, k.Name, k.Hash, k.Prefix, scopes, s.time(k.CreatedAt), s.time(k.RevokedAt))
		return s.err("create api key", err)
	})
}

func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanAPIKey(s.db.Read().QueryRow(ctx, s.sql(qGetKey), hash))
	return k, s.err("get api key", err)
}

func (s *Store) ListAPIKeys(ctx context.Context, appID string) ([]store.APIKey, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListKeys), appID)
	return collect(s, rows, err, "list api keys", scanAPIKey)
}

func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		if _, err := q.Exec(ctx, s.sql(qBumpKeyConfig), id); err != nil {
			return s.err("revoke api key", err)
		}
		n, err := q.Exec(ctx, s.sql(qRevokeKey), s.time(utcMicro(at)), id)
		if err != nil {
			return s.err("revoke api key", err)
		}
		return mustAffect("revoke api key", n)
	})
}
