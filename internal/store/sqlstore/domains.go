package sqlstore

import (
	"context"

	"github.com/grantd/grantd/internal/store"
)

// Domains of agent accounts.

const domainColumns = `id, app_id, name, address, token, mx_host, ownership_verified_at, ownership_checked_at, mx_verified_at, mx_checked_at, created_at, updated_at`

var (
	qInsertDomain       = newStmt(`INSERT INTO domains (` + domainColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetDomain          = newStmt(`SELECT ` + domainColumns + ` FROM domains WHERE app_id = ? AND id = ?`)
	qGetDomainByAddress = newStmt(`SELECT ` + domainColumns + ` FROM domains WHERE app_id = ? AND address = ?`)
	qLockDomain         = newStmt(`SELECT ` + domainColumns + ` FROM domains WHERE app_id = ? AND id = ?{forUpdate}`)
	qListDomains        = newStmt(`SELECT ` + domainColumns + ` FROM domains WHERE app_id = ? AND id > ? ORDER BY id LIMIT ?`)
	qUpdateDomain       = newStmt(`UPDATE domains SET name = ?, mx_host = ?, ownership_verified_at = ?, ownership_checked_at = ?, mx_verified_at = ?, mx_checked_at = ?, updated_at = ? WHERE app_id = ? AND id = ?`)
	qDeleteDomain       = newStmt(`DELETE FROM domains WHERE app_id = ? AND id = ?`)
)

func scanDomain(row Row) (store.Domain, error) {
	var d store.Domain
	err := row.Scan(&d.ID, &d.AppID, &d.Name, &d.Address, &d.Token, &d.MXHost,
		td(&d.OwnershipVerifiedAt), td(&d.OwnershipCheckedAt), td(&d.MXVerifiedAt), td(&d.MXCheckedAt), td(&d.CreatedAt), td(&d.UpdatedAt))
	return d, err
}

func (s *Store) CreateDomain(ctx context.Context, d store.Domain) error {
	d.CreatedAt, d.UpdatedAt = created(d.CreatedAt, d.UpdatedAt, s.now())
	_, err := s.db.Write().Exec(ctx, s.sql(qInsertDomain),
		d.ID, d.AppID, d.Name, d.Address, d.Token, d.MXHost,
		s.time(utcMicro(d.OwnershipVerifiedAt)), s.time(utcMicro(d.OwnershipCheckedAt)), s.time(utcMicro(d.MXVerifiedAt)), s.time(utcMicro(d.MXCheckedAt)),
		s.time(d.CreatedAt), s.time(d.UpdatedAt))
	return s.err("create domain", err)
}

func (s *Store) GetDomain(ctx context.Context, appID, id string) (store.Domain, error) {
	d, err := scanDomain(s.db.Read().QueryRow(ctx, s.sql(qGetDomain), appID, id))
	return d, s.err("get domain", err)
}

func (s *Store) GetDomainByAddress(ctx context.Context, appID, address string) (store.Domain, error) {
	d, err := scanDomain(s.db.Read().QueryRow(ctx, s.sql(qGetDomainByAddress), appID, address))
	return d, s.err("get domain by address", err)
}

func (s *Store) ListDomains(ctx context.Context, appID, after string, limit int) ([]store.Domain, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListDomains), appID, after, limit)
	return collect(s, rows, err, "list domains", scanDomain)
}

func (s *Store) UpdateDomain(ctx context.Context, appID, id string, update func(old store.Domain) (store.Domain, error)) (store.Domain, error) {
	return updateRecord(ctx, s, "update domain", qLockDomain, []any{appID, id}, scanDomain, update,
		func(ctx context.Context, q Querier, old, d store.Domain) (store.Domain, error) {
			// The address and its token are the domain's identity: an
			// update keeps them.
			d.ID, d.AppID, d.Address, d.Token, d.CreatedAt = old.ID, old.AppID, old.Address, old.Token, old.CreatedAt
			d.OwnershipVerifiedAt, d.OwnershipCheckedAt = utcMicro(d.OwnershipVerifiedAt), utcMicro(d.OwnershipCheckedAt)
			d.MXVerifiedAt, d.MXCheckedAt, d.UpdatedAt = utcMicro(d.MXVerifiedAt), utcMicro(d.MXCheckedAt), utcMicro(d.UpdatedAt)
			_, err := q.Exec(ctx, s.sql(qUpdateDomain), d.Name, d.MXHost,
				s.time(d.OwnershipVerifiedAt), s.time(d.OwnershipCheckedAt), s.time(d.MXVerifiedAt), s.time(d.MXCheckedAt),
				s.time(d.UpdatedAt), appID, id)
			return d, s.err("update domain", err)
		})
}

func (s *Store) DeleteDomain(ctx context.Context, appID, id string) error {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteDomain), appID, id)
	if err != nil {
		return s.err("delete domain", err)
	}
	return mustAffect("delete domain", n)
}
