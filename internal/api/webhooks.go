package api

import (
	"net/http"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/webhook"
)

// webhookJSON is the Nylas webhook destination object.
type webhookJSON struct {
	ID                         string   `json:"id"`
	Description                string   `json:"description"`
	TriggerTypes               []string `json:"trigger_types"`
	WebhookURL                 string   `json:"webhook_url"`
	Status                     string   `json:"status"`
	NotificationEmailAddresses []string `json:"notification_email_addresses"`
	StatusUpdatedAt            int64    `json:"status_updated_at"`
	CreatedAt                  int64    `json:"created_at"`
	UpdatedAt                  int64    `json:"updated_at"`
	CompressedDelivery         bool     `json:"compressed_delivery"`
	// WebhookSecret is shown by create and rotate-secret only.
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// Grantd is grantd's extension: how deliveries are going.
	Grantd webhookStateJSON `json:"grantd"`
}

// webhookStateJSON is a destination's delivery state (Unix seconds; 0:
// never).
type webhookStateJSON struct {
	LastDeliveryAt      int64  `json:"last_delivery_at"`
	LastDeliveryStatus  string `json:"last_delivery_status"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	FailingSince        int64  `json:"failing_since"`
}

func webhookView(w store.Webhook, secret string) webhookJSON {
	triggers, emails := w.TriggerTypes, w.NotificationEmails
	if triggers == nil {
		triggers = []string{}
	}
	if emails == nil {
		emails = []string{}
	}
	return webhookJSON{
		ID: w.ID, Description: w.Description, TriggerTypes: triggers, WebhookURL: w.URL, Status: w.Status,
		NotificationEmailAddresses: emails, StatusUpdatedAt: unix(w.StatusUpdatedAt), CreatedAt: unix(w.CreatedAt),
		UpdatedAt: unix(w.UpdatedAt), CompressedDelivery: w.CompressedDelivery, WebhookSecret: secret,
		Grantd: webhookStateJSON{
			LastDeliveryAt: unix(w.LastDeliveryAt), LastDeliveryStatus: w.LastDeliveryStatus,
			ConsecutiveFailures: w.ConsecutiveFailures, FailingSince: unix(w.FailingSince),
		},
	}
}

// webhookBody is a create (POST) or update (PUT, partial) body.
type webhookBody struct {
	WebhookURL                 *string  `json:"webhook_url"`
	TriggerTypes               []string `json:"trigger_types"`
	Description                *string  `json:"description"`
	NotificationEmailAddresses []string `json:"notification_email_addresses"`
	CompressedDelivery         *bool    `json:"compressed_delivery"`
	Status                     *string  `json:"status"`
}

func (b webhookBody) input() webhook.Input {
	return webhook.Input{
		URL: b.WebhookURL, TriggerTypes: b.TriggerTypes, Description: b.Description,
		NotificationEmails: b.NotificationEmailAddresses, CompressedDelivery: b.CompressedDelivery, Status: b.Status,
	}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var body webhookBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	hook, secret, err := s.cfg.Webhooks.Create(r.Context(), principal(r).App.ID, body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, webhookView(hook, secret))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	hooks, err := s.cfg.Webhooks.List(r.Context(), principal(r).App.ID)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]webhookJSON, len(hooks))
	for i, h := range hooks {
		out[i] = webhookView(h, "")
	}
	respond(w, r, http.StatusOK, out)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	hook, err := s.cfg.Webhooks.Get(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, webhookView(hook, ""))
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	var body webhookBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	hook, err := s.cfg.Webhooks.Update(r.Context(), principal(r).App.ID, r.PathValue("id"), body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, webhookView(hook, ""))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Webhooks.Delete(r.Context(), principal(r).App.ID, r.PathValue("id")); err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, map[string]string{"status": "success"})
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	// The Node SDK sends {}; any body is ignored.
	hook, secret, err := s.cfg.Webhooks.RotateSecret(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, webhookView(hook, secret))
}

type ipAddressesJSON struct {
	IPAddresses []string `json:"ip_addresses"`
	UpdatedAt   int64    `json:"updated_at"`
}

func (s *Server) webhookIPAddresses(w http.ResponseWriter, r *http.Request) {
	ips := s.cfg.WebhookIPAddresses
	if ips == nil {
		ips = []string{}
	}
	respond(w, r, http.StatusOK, ipAddressesJSON{IPAddresses: ips, UpdatedAt: s.started.Unix()})
}
