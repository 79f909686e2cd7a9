package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/store"
)

// Sealer encrypts and decrypts secrets (internal/vault implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Triggers are the trigger types a destination may subscribe to: the
// grant notifications of nylas-v3-api.md §8 that grantd emits, and
// grantd's grant.recovered extension (opt-in: only destinations that name
// it receive it).
var Triggers = []string{grant.EventCreated, grant.EventUpdated, grant.EventDeleted, grant.EventExpired, grant.EventRecovered}

// Bounds of a destination.
const (
	MaxDescriptionBytes   = 256
	MaxNotificationEmails = 20
	// DefaultMaxPerApplication bounds an application's destinations when
	// Service.MaxPerApplication is 0.
	DefaultMaxPerApplication = 25
)

// Service manages webhook destinations (the /v3/webhooks API).
type Service struct {
	Store store.Store
	Vault Sealer
	// HTTP sends challenges (NewHTTPClient).
	HTTP  *http.Client
	Guard netx.Guard
	Now   func() time.Time
	NewID func() string
	// ChallengeTimeout bounds the challenge (0: ChallengeTimeout).
	ChallengeTimeout time.Duration
	// MaxPerApplication bounds an application's destinations (0:
	// DefaultMaxPerApplication).
	MaxPerApplication int
}

// Input is a create or update request; nil fields are not changed by an
// update.
type Input struct {
	URL                *string
	TriggerTypes       []string
	Description        *string
	NotificationEmails []string
	CompressedDelivery *bool
	// Status (update only): "active" re-activates a failing or failed
	// destination, "pause" stops its deliveries.
	Status *string
}

func (s *Service) challengeTimeout() time.Duration {
	if s.ChallengeTimeout > 0 {
		return s.ChallengeTimeout
	}
	return ChallengeTimeout
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func invalid(format string, args ...any) error { return fault.Invalidf(format, args...) }

func notFound(id string) error { return fault.NotFoundf("webhook %q not found", id) }

func secretAAD(w store.Webhook) []byte { return []byte("webhook/" + w.AppID + "/" + w.ID) }

// checkInput checks the fields in is that are set; create says they are
// all required where the API requires them.
func (s *Service) checkInput(in Input, create bool) error {
	if in.URL != nil || create {
		u := ""
		if in.URL != nil {
			u = *in.URL
		}
		if _, err := CheckURL(u, s.Guard); err != nil {
			return invalid("%s", err)
		}
	}
	if in.TriggerTypes != nil || create {
		if len(in.TriggerTypes) == 0 {
			return invalid("trigger_types is required: a list of one or more of %s", strings.Join(Triggers, ", "))
		}
		if len(in.TriggerTypes) > 2*len(Triggers) {
			return invalid("trigger_types has %d entries; there are only %d trigger types", len(in.TriggerTypes), len(Triggers))
		}
		for i, t := range in.TriggerTypes {
			if !slices.Contains(Triggers, t) {
				return invalid("trigger_types[%d] %q is not a trigger type grantd sends; use %s (grantd sends grant notifications only)", i, clip(t, 64), strings.Join(Triggers, ", "))
			}
		}
	}
	if in.Description != nil {
		if n := len(*in.Description); n > MaxDescriptionBytes {
			return invalid("description is %d bytes long; at most %d are allowed", n, MaxDescriptionBytes)
		}
		if !utf8.ValidString(*in.Description) {
			return invalid("description is not valid UTF-8")
		}
	}
	if len(in.NotificationEmails) > MaxNotificationEmails {
		return invalid("notification_email_addresses has %d entries; at most %d are allowed", len(in.NotificationEmails), MaxNotificationEmails)
	}
	for i, e := range in.NotificationEmails {
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e || len(e) > 254 {
			return invalid("notification_email_addresses[%d] %q is not an email address such as ops@example.com", i, clip(e, 64))
		}
	}
	if in.Status != nil && *in.Status != store.WebhookActive && *in.Status != store.WebhookPaused {
		return invalid("status can be set to %q (re-activates a failing or failed destination) or %q (stops its deliveries), not %q", store.WebhookActive, store.WebhookPaused, clip(*in.Status, 32))
	}
	return nil
}

// dedupe keeps the first of each trigger type.
func dedupe(ts []string) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Create checks in, sends the challenge to the URL and stores the
// destination; it returns the destination and its signing secret (the
// only time it is shown, with RotateSecret's).
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.Webhook, string, error) {
	if in.Status != nil {
		return store.Webhook{}, "", invalid("status cannot be set on create: a new destination is active")
	}
	if err := s.checkInput(in, true); err != nil {
		return store.Webhook{}, "", err
	}
	max := s.MaxPerApplication
	if max <= 0 {
		max = DefaultMaxPerApplication
	}
	existing, err := s.Store.ListWebhooks(ctx, appID)
	if err != nil {
		return store.Webhook{}, "", err
	}
	if len(existing) >= max {
		return store.Webhook{}, "", invalid("this application already has %d webhook destinations, the most allowed; delete one first", len(existing))
	}
	u, _ := CheckURL(*in.URL, s.Guard)
	if err := challenge(ctx, s.HTTP, u, s.challengeTimeout()); err != nil {
		return store.Webhook{}, "", invalid("%s", err)
	}
	now := s.now()
	w := store.Webhook{
		ID: s.NewID(), AppID: appID, URL: *in.URL, TriggerTypes: dedupe(in.TriggerTypes),
		NotificationEmails: in.NotificationEmails, Status: store.WebhookActive,
		CreatedAt: now, UpdatedAt: now, StatusUpdatedAt: now,
	}
	if w.NotificationEmails == nil {
		w.NotificationEmails = []string{}
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	if in.CompressedDelivery != nil {
		w.CompressedDelivery = *in.CompressedDelivery
	}
	secret := newSecret()
	if w.Secret, err = s.Vault.Seal([]byte(secret), secretAAD(w)); err != nil {
		return store.Webhook{}, "", err
	}
	if err := s.Store.CreateWebhook(ctx, w); err != nil {
		return store.Webhook{}, "", err
	}
	return w, secret, nil
}

// Get returns one destination of appID.
func (s *Service) Get(ctx context.Context, appID, id string) (store.Webhook, error) {
	w, err := s.Store.GetWebhook(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return w, notFound(id)
	}
	return w, err
}

// List returns appID's destinations, oldest first.
func (s *Service) List(ctx context.Context, appID string) ([]store.Webhook, error) {
	return s.Store.ListWebhooks(ctx, appID)
}

// Update changes the fields in sets; a new URL must answer the challenge
// first.
func (s *Service) Update(ctx context.Context, appID, id string, in Input) (store.Webhook, error) {
	if err := s.checkInput(in, false); err != nil {
		return store.Webhook{}, err
	}
	old, err := s.Get(ctx, appID, id)
	if err != nil {
		return old, err
	}
	if in.URL != nil && *in.URL != old.URL {
		u, _ := CheckURL(*in.URL, s.Guard)
		if err := challenge(ctx, s.HTTP, u, s.challengeTimeout()); err != nil {
			return store.Webhook{}, invalid("%s", err)
		}
	}
	now := s.now()
	w, err := s.Store.UpdateWebhook(ctx, appID, id, func(w store.Webhook) (store.Webhook, error) {
		if in.URL != nil {
			w.URL = *in.URL
		}
		if in.TriggerTypes != nil {
			w.TriggerTypes = dedupe(in.TriggerTypes)
		}
		if in.Description != nil {
			w.Description = *in.Description
		}
		if in.NotificationEmails != nil {
			w.NotificationEmails = in.NotificationEmails
		}
		if in.CompressedDelivery != nil {
			w.CompressedDelivery = *in.CompressedDelivery
		}
		if in.Status != nil && *in.Status != w.Status {
			w.Status, w.StatusUpdatedAt = *in.Status, now
			w.FailingSince, w.ConsecutiveFailures = time.Time{}, 0
			w.WindowStart, w.WindowAttempts, w.WindowFailures = time.Time{}, 0, 0
		}
		w.UpdatedAt = now
		return w, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return w, notFound(id)
	}
	return w, err
}

// Delete deletes a destination; its queued deliveries go with it.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	err := s.Store.DeleteWebhook(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// RotateSecret gives a destination a new signing secret and returns it;
// deliveries signed from then on use it.
func (s *Service) RotateSecret(ctx context.Context, appID, id string) (store.Webhook, string, error) {
	secret := newSecret()
	now := s.now()
	w, err := s.Store.UpdateWebhook(ctx, appID, id, func(w store.Webhook) (store.Webhook, error) {
		sealed, err := s.Vault.Seal([]byte(secret), secretAAD(w))
		if err != nil {
			return w, err
		}
		w.Secret, w.UpdatedAt = sealed, now
		return w, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return w, "", notFound(id)
	}
	return w, secret, err
}

// Secret decrypts a destination's signing secret.
func (s *Service) Secret(w store.Webhook) ([]byte, error) {
	b, err := s.Vault.Open(w.Secret, secretAAD(w))
	if err != nil {
		return nil, fmt.Errorf("open the secret of webhook %s: %w", w.ID, err)
	}
	return b, nil
}
