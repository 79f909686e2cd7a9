package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// One-time codes, webhooks and secret rewrapping.

const codeColumns = `hash, app_id, grant_id, data, expires_at, created_at`

func (s *Store) CreateCode(ctx context.Context, c store.Code) error {
	c = sqlutil.NewCode(c, s.now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO codes (`+codeColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Hash, c.AppID, c.GrantID, blob(c.Data), micros(c.ExpiresAt), micros(c.CreatedAt))
	return dbErr("create code", err)
}

// ConsumeCode deletes the code and returns it. The delete runs on the single
// writer, so two calls never both see the row.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (store.Code, error) {
	var (
		c                store.Code
		expires, created sql.NullInt64
	)
	err := s.w.QueryRowContext(ctx, `DELETE FROM codes WHERE hash = ? RETURNING `+codeColumns, hash).
		Scan(&c.Hash, &c.AppID, &c.GrantID, &c.Data, &expires, &created)
	if err != nil {
		return store.Code{}, dbErr("consume code", err)
	}
	c.ExpiresAt, c.CreatedAt = fromMicros(expires), fromMicros(created)
	c.Data = nilIfEmpty(c.Data)
	if c.ExpiresAt.Before(now) {
		return store.Code{}, fmt.Errorf("consume code: expired: %w", store.ErrNotFound)
	}
	return c, nil
}

const webhookColumns = `id, app_id, url, description, trigger_types, notification_emails, status, secret, created_at, updated_at, status_updated_at`

func scanWebhook(row scanner) (store.Webhook, error) {
	var (
		w                        store.Webhook
		triggers, emails         []byte
		created, updated, status sql.NullInt64
	)
	if err := row.Scan(&w.ID, &w.AppID, &w.URL, &w.Description, &triggers, &emails, &w.Status, &w.Secret, &created, &updated, &status); err != nil {
		return w, err
	}
	w.CreatedAt, w.UpdatedAt, w.StatusUpdatedAt = fromMicros(created), fromMicros(updated), fromMicros(status)
	w.Secret = nilIfEmpty(w.Secret)
	var err error
	if w.TriggerTypes, err = sqlutil.DecodeStrings(triggers); err != nil {
		return w, err
	}
	w.NotificationEmails, err = sqlutil.DecodeStrings(emails)
	return w, err
}

func webhookArgs(w store.Webhook) (triggers, emails string, err error) {
	if triggers, err = encodeJSON(w.TriggerTypes); err != nil {
		return "", "", err
	}
	emails, err = encodeJSON(w.NotificationEmails)
	return triggers, emails, err
}

func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	w = sqlutil.NewWebhook(w, s.now())
	triggers, emails, err := webhookArgs(w)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.AppID, w.URL, w.Description, triggers, emails, w.Status, blob(w.Secret),
		micros(w.CreatedAt), micros(w.UpdatedAt), micros(w.StatusUpdatedAt))
	return dbErr("create webhook", err)
}

func (s *Store) GetWebhook(ctx context.Context, appID, id string) (store.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = ? AND id = ?`, appID, id))
	return w, dbErr("get webhook", err)
}

func (s *Store) ListWebhooks(ctx context.Context, appID string) ([]store.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = ? ORDER BY created_at, id`, appID)
	return collect(rows, err, "list webhooks", scanWebhook)
}

func (s *Store) UpdateWebhook(ctx context.Context, appID, id string, update func(old store.Webhook) (store.Webhook, error)) (store.Webhook, error) {
	var out store.Webhook
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE app_id = ? AND id = ?`, appID, id))
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
		_, err = tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, description = ?, trigger_types = ?, notification_emails = ?,
			status = ?, secret = ?, updated_at = ?, status_updated_at = ? WHERE id = ?`,
			w.URL, w.Description, triggers, emails, w.Status, blob(w.Secret), micros(w.UpdatedAt), micros(w.StatusUpdatedAt), id)
		if err != nil {
			return dbErr("update webhook", err)
		}
		out = w
		return nil
	})
	return out, err
}

func (s *Store) DeleteWebhook(ctx context.Context, appID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhooks WHERE app_id = ? AND id = ?`, appID, id)
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
	params := "?" + strings.Repeat(", ?", len(bc.Keys)-1)
	match := strings.Join(bc.Keys, " = ? AND ") + " = ?"
	first := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE length(%s) > 0 ORDER BY %s LIMIT ?`,
		keys, bc.Column, bc.Table, bc.Column, keys)
	next := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE (%s) > (%s) AND length(%s) > 0 ORDER BY %s LIMIT ?`,
		keys, bc.Column, bc.Table, keys, params, bc.Column, keys)
	write := fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s AND %s = ?`, bc.Table, bc.Column, match, bc.Column)

	read := func(after []any) ([]sqlutil.BlobRow, error) {
		var rows *sql.Rows
		var err error
		if after == nil {
			rows, err = s.r.QueryContext(ctx, first, batchSize)
		} else {
			rows, err = s.r.QueryContext(ctx, next, append(after, batchSize)...)
		}
		return collect(rows, err, "read", func(sc scanner) (sqlutil.BlobRow, error) {
			dest, row := sqlutil.ScanBlobRow(len(bc.Keys))
			err := sc.Scan(dest...)
			return row(), err
		})
	}
	save := func(changed []sqlutil.BlobRow) (int, error) {
		written := 0
		err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			written = 0
			for _, r := range changed {
				res, err := tx.ExecContext(ctx, write, append(append([]any{blob(r.New)}, r.Key...), r.Old)...)
				if err != nil {
					return dbErr("write", err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return dbErr("write", err)
				}
				written += int(n)
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
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO keyring_check (id, sealed) VALUES ('keyring', ?) ON CONFLICT (id) DO NOTHING`, sealed); err != nil {
			return dbErr("keyring check", err)
		}
		return dbErr("keyring check", tx.QueryRowContext(ctx, `SELECT sealed FROM keyring_check WHERE id = 'keyring'`).Scan(&stored))
	})
	return stored, err
}
