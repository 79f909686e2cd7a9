package conformance

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Webhook destinations.

func testWebhooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	w := store.Webhook{ID: newID("wh"), AppID: app, URL: "https://hooks.example/x", Description: "prod",
		TriggerTypes: []string{"grant.created", "grant.deleted"}, NotificationEmails: []string{"ops@example.com"},
		Status: "active", Secret: []byte("sig"), CreatedAt: t0, UpdatedAt: t0, StatusUpdatedAt: t0.Add(time.Nanosecond * 1001)}
	must(t, "CreateWebhook", s.CreateWebhook(ctx, w))
	mustIs(t, "CreateWebhook duplicate", s.CreateWebhook(ctx, w), store.ErrAlreadyExists)
	w2 := store.Webhook{ID: newID("wh"), AppID: app, URL: "https://hooks.example/y", CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second)}
	must(t, "CreateWebhook 2", s.CreateWebhook(ctx, w2))
	mustIs(t, "CreateWebhook for missing app", s.CreateWebhook(ctx, store.Webhook{ID: newID("wh"), AppID: "no-such-app"}), store.ErrNotFound)

	want := w
	want.CreatedAt, want.UpdatedAt, want.StatusUpdatedAt = us(w.CreatedAt), us(w.UpdatedAt), us(w.StatusUpdatedAt)
	got, err := s.GetWebhook(ctx, app, w.ID)
	must(t, "GetWebhook", err)
	mustEqual(t, "GetWebhook", got, want)
	want2 := w2
	want2.CreatedAt, want2.UpdatedAt = us(w2.CreatedAt), us(w2.UpdatedAt)
	list, err := s.ListWebhooks(ctx, app)
	must(t, "ListWebhooks", err)
	mustEqual(t, "ListWebhooks", list, []store.Webhook{want, want2})

	updated, err := s.UpdateWebhook(ctx, app, w.ID, func(old store.Webhook) (store.Webhook, error) {
		mustEqual(t, "closure input", old, want)
		old.ID, old.AppID, old.CreatedAt = "x", "y", time.Time{} // ignored
		old.Status, old.StatusUpdatedAt, old.UpdatedAt = "failing", t0.Add(time.Hour), t0.Add(time.Hour)
		old.TriggerTypes, old.NotificationEmails, old.Secret = []string{"grant.expired"}, nil, []byte("sig2")
		old.CompressedDelivery, old.LastDeliveryAt, old.LastDeliveryStatus = true, t0.Add(2*time.Hour), "503"
		old.ConsecutiveFailures, old.FailingSince, old.WindowStart = 7, t0.Add(3*time.Hour), t0.Add(4*time.Hour)
		old.WindowAttempts, old.WindowFailures = 20, 19
		return old, nil
	})
	must(t, "UpdateWebhook", err)
	want.Status, want.StatusUpdatedAt, want.UpdatedAt = "failing", us(t0.Add(time.Hour)), us(t0.Add(time.Hour))
	want.TriggerTypes, want.NotificationEmails, want.Secret = []string{"grant.expired"}, nil, []byte("sig2")
	want.CompressedDelivery, want.LastDeliveryAt, want.LastDeliveryStatus = true, us(t0.Add(2*time.Hour)), "503"
	want.ConsecutiveFailures, want.FailingSince, want.WindowStart = 7, us(t0.Add(3*time.Hour)), us(t0.Add(4*time.Hour))
	want.WindowAttempts, want.WindowFailures = 20, 19
	mustEqual(t, "UpdateWebhook result", updated, want)
	got, _ = s.GetWebhook(ctx, app, w.ID)
	mustEqual(t, "GetWebhook after update", got, want)

	_, err = s.UpdateWebhook(ctx, app, w.ID, func(old store.Webhook) (store.Webhook, error) {
		old.URL = "not written"
		return old, store.ErrConflict
	})
	if err != store.ErrConflict {
		t.Fatalf("UpdateWebhook closure error: got %v, want ErrConflict unchanged", err)
	}
	got, _ = s.GetWebhook(ctx, app, w.ID)
	mustEqual(t, "after failed update", got, want)
	_, err = s.UpdateWebhook(ctx, app, "missing", func(old store.Webhook) (store.Webhook, error) { return old, nil })
	mustIs(t, "UpdateWebhook missing", err, store.ErrNotFound)

	must(t, "DeleteWebhook", s.DeleteWebhook(ctx, app, w.ID))
	_, err = s.GetWebhook(ctx, app, w.ID)
	mustIs(t, "GetWebhook after delete", err, store.ErrNotFound)
	mustIs(t, "DeleteWebhook again", s.DeleteWebhook(ctx, app, w.ID), store.ErrNotFound)
	list, _ = s.ListWebhooks(ctx, app)
	if len(list) != 1 || list[0].ID != w2.ID {
		t.Fatalf("ListWebhooks after delete = %+v", list)
	}
}
