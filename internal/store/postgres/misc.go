package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// One-time codes, webhooks and secret rewrapping.

const codeColumns = `hash, app_id, grant_id, data, expires_at, created_at`

func (s *Store) CreateCode(ctx context.Context, c store.Code) error {
	c = sqlutil.NewCode(c, s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO codes (`+codeColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Hash, c.AppID, c.GrantID, blob(c.Data), ts(c.ExpiresAt), ts(c.CreatedAt))
	return dbErr("create code", err)
}

// ConsumeCode deletes the code and returns it. Of two concurrent DELETEs of
// one row, the second waits for the first and then finds nothing.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (store.Code, error) {
	var (
		c                store.Code
		expires, created pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `DELETE FROM codes WHERE hash = $1 RETURNING `+codeColumns, hash).
		Scan(&c.Hash, &c.AppID, &c.GrantID, &c.Data, &expires, &created)
	if err != nil {
		return store.Code{}, dbErr("consume code", err)
	}
	c.ExpiresAt, c.CreatedAt = fromTS(expires), fromTS(created)
	c.Data = nilIfEmpty(c.Data)
	if c.ExpiresAt.Before(now) {
		return store.Code{}, fmt.Errorf("consume code: expired: %w", store.ErrNotFound)
	}
	return c, nil
}

const webhookColumns = `id, app_id, url, description, trigger_types, notification_emails, status, secret, created_at, updated_at, status_updated_at`

func scanWebhook(row pgx.Row) (store.Webhook, error) {
	var (
		w                        store.Webhook
		triggers, emails         []byte
		created, updated, status pgtype.Timestamptz
	)
	if err := row.Scan(&w.ID, &w.AppID, &w.URL, &w.Description, &triggers, &emails, &w.Status, &w.Secret, &created, &updated, &status); err != nil {
		return w, err
	}
	w.CreatedAt, w.UpdatedAt, w.StatusUpdatedAt = fromTS(created), fromTS(updated), fromTS(status)
	w.Secret = nilIfEmpty(w.Secret)
	var err error
	if w.TriggerTypes, err = sqlutil.DecodeStrings(triggers); err != nil {
		return w, err
	}
	w.NotificationEmails, err = sqlutil.DecodeStrings(emails)
	return w, err
}

func webhookArgs(w store.Webhook) (triggers, emails []byte, err error) {
	if triggers, err = sqlutil.EncodeJSON(w.TriggerTypes); err != nil {
		return nil, nil, err
	}
	emails, err = sqlutil.EncodeJSON(w.NotificationEmails)
	return triggers, emails, err
}

func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	w = sqlutil.NewWebhook(w, s.now())
	triggers, emails, err := webhookArgs(w)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		w.ID, w.AppID, w.URL, w.Description, triggers, emails, w.Status, blob(w.Secret),
		ts(w.CreatedAt), ts(w.UpdatedAt), ts(w.StatusUpdatedAt))
	return dbErr("create webhook", err)
}

func (s *Store) GetWebhook(ctx context.Context, appID, id string) (store.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = $1 AND id = $2`, appID, id))
	return w, dbErr("get webhook", err)
}

func (s *Store) ListWebhooks(ctx context.Context, appID string) ([]store.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = $1 ORDER BY created_at, id`, appID)
	return collect(rows, err, "list webhooks", scanWebhook)
}

func (s *Store) UpdateWebhook(ctx context.Context, appID, id string, update func(old store.Webhook) (store.Webhook, error)) (store.Webhook, error) {
	var out store.Webhook
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = $1 AND id = $2 FOR UPDATE`, appID, id))
		if err != nil {
			return dbErr("update webhook", err)
		}
		w, err := update(old)
		if err != nil {
			return err
		}
		w = sqlutil.UpdatedWebhook(old, w)
		triggers, emails, err := webhookArgs(w)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhooks SET url = $1, description = $2, trigger_types = $3, notification_emails = $4,
			status = $5, secret = $6, updated_at = $7, status_updated_at = $8 WHERE id = $9`,
			w.URL, w.Description, triggers, emails, w.Status, blob(w.Secret), ts(w.UpdatedAt), ts(w.StatusUpdatedAt), id)
		if err != nil {
			return dbErr("update webhook", err)
		}
		out = w
		return nil
	})
	return out, err
}

func (s *Store) DeleteWebhook(ctx context.Context, appID, id string) error {
	res, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE app_id = $1 AND id = $2`, appID, id)
	if err != nil {
		return dbErr("delete webhook", err)
	}
	return mustAffect("delete webhook", res)
}

// RewrapSecrets walks every blob column in primary key order, batchSize rows
// at a time. Each batch is read from the read pool and its changed blobs
// are written in one transaction, each UPDATE conditional on the blob
// still holding the value that was read.
func (s *Store) RewrapSecrets(ctx context.Context, batchSize int, rewrap store.SecretRewrapper) (int, error) {
	return sqlutil.RewrapSecrets(batchSize, func(bc sqlutil.BlobColumn, batchSize int) (int, error) {
		return s.rewrapColumn(ctx, bc, batchSize, rewrap)
	})
}

func (s *Store) rewrapColumn(ctx context.Context, bc sqlutil.BlobColumn, batchSize int, rewrap store.SecretRewrapper) (int, error) {
	keys := strings.Join(bc.Keys, ", ")
	n := len(bc.Keys)
	params := make([]string, n) // $1…$n: the last key read
	match := make([]string, n)  // key1 = $2 AND … (the new blob is $1)
	for i, k := range bc.Keys {
		params[i] = fmt.Sprintf("$%d", i+1)
		match[i] = fmt.Sprintf("%s = $%d", k, i+2)
	}
	first := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE octet_length(%s) > 0 ORDER BY %s LIMIT $1`,
		keys, bc.Column, bc.Table, bc.Column, keys)
	next := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE (%s) > (%s) AND octet_length(%s) > 0 ORDER BY %s LIMIT $%d`,
		keys, bc.Column, bc.Table, keys, strings.Join(params, ", "), bc.Column, keys, n+1)
	write := fmt.Sprintf(`UPDATE %s SET %s = $1 WHERE %s AND %s = $%d`, bc.Table, bc.Column, strings.Join(match, " AND "), bc.Column, n+2)

	read := func(after []any) ([]sqlutil.BlobRow, error) {
		var rows pgx.Rows
		var err error
		if after == nil {
			rows, err = s.pool.Query(ctx, first, batchSize)
		} else {
			rows, err = s.pool.Query(ctx, next, append(after, batchSize)...)
		}
		return collect(rows, err, "read", func(sc pgx.Row) (sqlutil.BlobRow, error) {
			dest, row := sqlutil.ScanBlobRow(len(bc.Keys))
			err := sc.Scan(dest...)
			return row(), err
		})
	}
	save := func(changed []sqlutil.BlobRow) (int, error) {
		written := 0
		err := s.tx(ctx, func(tx pgx.Tx) error {
			written = 0
			for _, r := range changed {
				tag, err := tx.Exec(ctx, write, append(append([]any{blob(r.New)}, r.Key...), r.Old)...)
				if err != nil {
					return dbErr("write", err)
				}
				written += int(tag.RowsAffected())
			}
			return nil
		})
		return written, err
	}
	return sqlutil.RewrapColumn(batchSize, rewrap, read, save)
}

// KeyringCheck implements store.Store.
func (s *Store) KeyringCheck(ctx context.Context, sealed []byte) ([]byte, error) {
	var stored []byte
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO keyring_check (id, sealed) VALUES ('keyring', $1) ON CONFLICT (id) DO NOTHING`, sealed); err != nil {
			return dbErr("keyring check", err)
		}
		return dbErr("keyring check", tx.QueryRow(ctx, `SELECT sealed FROM keyring_check WHERE id = 'keyring'`).Scan(&stored))
	})
	return stored, err
}
