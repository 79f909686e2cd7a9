package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/fault"
)

// detectJSON is the data of POST /v3/providers/detect: the Nylas fields
// (email_address, detected, provider, type) and grantd's explanation
// (detected_by, settings, reason…), which the SDKs ignore.
type detectJSON struct {
	EmailAddress        string           `json:"email_address"`
	Detected            bool             `json:"detected"`
	Provider            string           `json:"provider,omitempty"`
	Type                string           `json:"type,omitempty"`
	DetectedBy          string           `json:"detected_by,omitempty"`
	Match               string           `json:"match,omitempty"`
	AppPasswordRequired bool             `json:"app_password_required,omitempty"`
	Settings            *detect.Settings `json:"settings,omitempty"`
	Reason              string           `json:"reason,omitempty"`
}

// detectProvider is POST /v3/providers/detect?email=…&all_provider_types=…
// (query only; a body is ignored, the SDK sends none).
func (s *Server) detectProvider(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	emails, ok := q["email"]
	if !ok || len(emails) == 0 || emails[0] == "" {
		s.respondError(w, r, BadRequest("query parameter email is required: the address to detect, like ?email=user@example.com"))
		return
	}
	if len(emails) > 1 {
		s.respondError(w, r, BadRequest("query parameter email is given %d times; give one address", len(emails)))
		return
	}
	email := emails[0]
	if _, err := emailaddr.Parse(email); err != nil {
		s.respondError(w, r, BadRequest("query parameter %s", err.Error()))
		return
	}
	all := false
	if v := q.Get("all_provider_types"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.respondError(w, r, BadRequest("query parameter all_provider_types must be true or false, not %q", fault.Shorten(v, 40)))
			return
		}
		all = b
	}
	if s.cfg.Detector == nil {
		s.respondError(w, r, errors.New("provider detection is not configured"))
		return
	}
	appID := principal(r).App.ID
	hasConnector := func(prov string) (bool, error) {
		return s.cfg.Connectors.Has(r.Context(), appID, prov)
	}
	res, err := s.cfg.Detector.Detect(r.Context(), email, hasConnector, all)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := detectJSON{
		EmailAddress: strings.TrimSpace(email), Detected: res.Detected, Provider: res.Provider, Type: res.Type,
		DetectedBy: res.DetectedBy, Match: res.Match, AppPasswordRequired: res.AppPasswordRequired, Reason: res.Reason,
	}
	if res.Settings != (detect.Settings{}) {
		out.Settings = &res.Settings
	}
	respond(w, r, http.StatusOK, out)
}
