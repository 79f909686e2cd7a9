package sqlstore

import (
	"context"

	"github.com/grantd/grantd/internal/store"
)

// Redirect URIs (hosted OAuth).

const redirectURIColumns = `id, app_id, url, platform, settings, created_at, updated_at`

var (
	qInsertRedirectURI = newStmt(`INSERT INTO redirect_uris (` + redirectURIColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	qGetRedirectURI    = newStmt(`SELECT ` + redirectURIColumns + ` FROM redirect_uris WHERE app_id = ? AND id = ?`)
	qLockRedirectURI   = newStmt(`SELECT ` + redirectURIColumns + ` FROM redirect_uris WHERE app_id = ? AND id = ?{forUpdate}`)
	qListRedirectURIs  = newStmt(`SELECT ` + redirectURIColumns + ` FROM redirect_uris WHERE app_id = ? ORDER BY created_at, id`)
	qUpdateRedirectURI = newStmt(`UPDATE redirect_uris SET url = ?, platform = ?, settings = ?, updated_at = ? WHERE app_id = ? AND id = ?`)
	qDeleteRedirectURI = newStmt(`DELETE FROM redirect_uris WHERE app_id = ? AND id = ?`)
)

func scanRedirectURI(row Row) (store.RedirectURI, error) {
	var (
		u        store.RedirectURI
		settings []byte
	)
	if err := row.Scan(&u.ID, &u.AppID, &u.URL, &u.Platform, &settings, td(&u.CreatedAt), td(&u.UpdatedAt)); err != nil {
		return u, err
	}
	var err error
	u.Settings, err = decodeMap(settings)
	return u, err
}

func (s *Store) CreateRedirectURI(ctx context.Context, u store.RedirectURI) error {
	u.CreatedAt, u.UpdatedAt = created(u.CreatedAt, u.UpdatedAt, s.now())
	settings, err := s.json(u.Settings)
	if err != nil {
		return err
	}
	_, err = s.db.Write().Exec(ctx, s.sql(qInsertRedirectURI),
		u.ID, u.AppID, u.URL, u.Platform, settings, s.time(u.CreatedAt), s.time(u.UpdatedAt))
	return s.err("create redirect uri", err)
}

func (s *Store) GetRedirectURI(ctx context.Context, appID, id string) (store.RedirectURI, error) {
	u, err := scanRedirectURI(s.db.Read().QueryRow(ctx, s.sql(qGetRedirectURI), appID, id))
	return u, s.err("get redirect uri", err)
}

func (s *Store) ListRedirectURIs(ctx context.Context, appID string) ([]store.RedirectURI, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListRedirectURIs), appID)
	return collect(s, rows, err, "list redirect uris", scanRedirectURI)
}

func (s *Store) UpdateRedirectURI(ctx context.Context, appID, id string, update func(old store.RedirectURI) (store.RedirectURI, error)) (store.RedirectURI, error) {
	return updateRecord(ctx, s, "update redirect uri", qLockRedirectURI, []any{appID, id}, scanRedirectURI, update,
		func(ctx context.Context, q Querier, old, u store.RedirectURI) (store.RedirectURI, error) {
			u.ID, u.AppID, u.CreatedAt = old.ID, old.AppID, old.CreatedAt
			u.UpdatedAt = utcMicro(u.UpdatedAt)
			settings, err := s.json(u.Settings)
			if err != nil {
				return u, err
			}
			_, err = q.Exec(ctx, s.sql(qUpdateRedirectURI), u.URL, u.Platform, settings, s.time(u.UpdatedAt), appID, id)
			return u, s.err("update redirect uri", err)
		})
}

func (s *Store) DeleteRedirectURI(ctx context.Context, appID, id string) error {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteRedirectURI), appID, id)
	if err != nil {
		return s.err("delete redirect uri", err)
	}
	return mustAffect("delete redirect uri", n)
}
