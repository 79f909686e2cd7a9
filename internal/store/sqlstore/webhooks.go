package sqlstore

import (
	"context"

	"github.com/grantd/grantd/internal/store"
)

// Webhook destinations.

const webhookColumns = `id, app_id, url, description, trigger_types, notification_emails, status, secret, created_at, updated_at, status_updated_at,
	compressed_delivery, last_delivery_at, last_delivery_status, consecutive_failures, failing_since, window_start, window_attempts, window_failures`

var (
	qInsertWebhook = newStmt(`INSERT INTO webhooks (` + webhookColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qGetWebhook    = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE app_id = ? AND id = ?`)
	qLockWebhook   = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE app_id = ? AND id = ?{forUpdate}`)
	qListWebhooks  = newStmt(`SELECT ` + webhookColumns + ` FROM webhooks WHERE app_id = ? ORDER BY created_at, id`)
	qUpdateWebhook = newStmt(`UPDATE webhooks SET url = ?, description = ?, trigger_types = ?, notification_emails = ?,
		status = ?, secret = ?, updated_at = ?, status_updated_at = ?, compressed_delivery = ?, last_delivery_at = ?,
		last_delivery_status = ?, consecutive_failures = ?, failing_since = ?, window_start = ?, window_attempts = ?,
		window_failures = ? WHERE id = ?`)
	qDeleteWebhook = newStmt(`DELETE FROM webhooks WHERE app_id = ? AND id = ?`)
)

func scanWebhook(row Row) (store.Webhook, error) {
	var (
		w                store.Webhook
		triggers, emails []byte
	)
	if err := row.Scan(&w.ID, &w.AppID, &w.URL, &w.Description, &triggers, &emails, &w.Status, &w.Secret,
		td(&w.CreatedAt), td(&w.UpdatedAt), td(&w.StatusUpdatedAt), &w.CompressedDelivery, td(&w.LastDeliveryAt),
		&w.LastDeliveryStatus, &w.ConsecutiveFailures, td(&w.FailingSince), td(&w.WindowStart), &w.WindowAttempts,
		&w.WindowFailures); err != nil {
		return w, err
	}
	w.Secret = nilIfEmpty(w.Secret)
	var err error
	if w.TriggerTypes, err = decodeStrings(triggers); err != nil {
		return w, err
	}
	w.NotificationEmails, err = decodeStrings(emails)
	return w, err
}

func (s *Store) webhookArgs(w store.Webhook) (triggers, emails any, err error) {
	if triggers, err = s.json(w.TriggerTypes); err != nil {
		return nil, nil, err
	}
	emails, err = s.json(w.NotificationEmails)
	return triggers, emails, err
}

func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	w = newWebhook(w, s.now())
	triggers, emails, err := s.webhookArgs(w)
	if err != nil {
		return err
	}
	_, err = s.db.Write().Exec(ctx, s.sql(qInsertWebhook), w.ID, w.AppID, w.URL, w.Description, triggers, emails, w.Status,
		blob(w.Secret), s.time(w.CreatedAt), s.time(w.UpdatedAt), s.time(w.StatusUpdatedAt), w.CompressedDelivery,
		s.time(w.LastDeliveryAt), w.LastDeliveryStatus, w.ConsecutiveFailures, s.time(w.FailingSince), s.time(w.WindowStart),
		w.WindowAttempts, w.WindowFailures)
	return s.err("create webhook", err)
}

func (s *Store) GetWebhook(ctx context.Context, appID, id string) (store.Webhook, error) {
	w, err := scanWebhook(s.db.Read().QueryRow(ctx, s.sql(qGetWebhook), appID, id))
	return w, s.err("get webhook", err)
}

func (s *Store) ListWebhooks(ctx context.Context, appID string) ([]store.Webhook, error) {
	rows, err := s.db.Read().Query(ctx, s.sql(qListWebhooks), appID)
	return collect(s, rows, err, "list webhooks", scanWebhook)
}

func (s *Store) UpdateWebhook(ctx context.Context, appID, id string, update func(old store.Webhook) (store.Webhook, error)) (store.Webhook, error) {
	return updateRecord(ctx, s, "update webhook", qLockWebhook, []any{appID, id}, scanWebhook, update,
		func(ctx context.Context, q Querier, old, w store.Webhook) (store.Webhook, error) {
			return s.writeWebhook(ctx, q, old, w)
		})
}

// writeWebhook stores w, an update of old, in the transaction of q.
func (s *Store) writeWebhook(ctx context.Context, q Querier, old, w store.Webhook) (store.Webhook, error) {
	w = updatedWebhook(old, w)
	triggers, emails, err := s.webhookArgs(w)
	if err != nil {
		return w, err
	}
	_, err = q.Exec(ctx, s.sql(qUpdateWebhook), w.URL, w.Description, triggers, emails, w.Status, blob(w.Secret),
		s.time(w.UpdatedAt), s.time(w.StatusUpdatedAt), w.CompressedDelivery, s.time(w.LastDeliveryAt),
		w.LastDeliveryStatus, w.ConsecutiveFailures, s.time(w.FailingSince), s.time(w.WindowStart), w.WindowAttempts,
		w.WindowFailures, w.ID)
	return w, s.err("update webhook", err)
}

func (s *Store) DeleteWebhook(ctx context.Context, appID, id string) error {
	n, err := s.db.Write().Exec(ctx, s.sql(qDeleteWebhook), appID, id)
	if err != nil {
		return s.err("delete webhook", err)
	}
	return mustAffect("delete webhook", n)
}
