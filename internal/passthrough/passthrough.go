// Package passthrough is the yardstick grantd's cost is measured against:
// an HTTP handler that answers a Bring-Your-Own create by making exactly
// the provider calls a validated create makes (the refresh token's
// redemption at the token endpoint, then the identity call with the access
// token) and nothing else: no API key, no connector, no store, no
// encryption, no event, no log line. Whatever grantd spends beyond it is
// grantd's own work. grantd-bench runs it as a process of its own; the
// in-process API benchmark serves it next to grantd.
package passthrough

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Handler answers POST bodies of the form
// {"settings":{"refresh_token":"…"}} with 201 and a grant-like JSON body.
type Handler struct {
	// Client makes the provider calls: give it grantd's provider client
	// settings (netx.NewHTTPClient) for a fair comparison.
	Client                *http.Client
	TokenURL, UserinfoURL string
	ClientID, Secret      string
	// Provider is echoed in the answer.
	Provider string
	// BasicAuth sends the client's credentials in an Authorization header
	// (as grantd does for Yahoo) instead of in the form (Google).
	BasicAuth bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Settings struct {
			RefreshToken string `json:"refresh_token"`
		} `json:"settings"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {in.Settings.RefreshToken}}
	if !h.BasicAuth {
		form.Set("client_id", h.ClientID)
		form.Set("client_secret", h.Secret)
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, h.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if h.BasicAuth {
		req.SetBasicAuth(h.ClientID, h.Secret)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := h.getJSON(req, &tok); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req, _ = http.NewRequestWithContext(r.Context(), http.MethodGet, h.UserinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var id struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := h.getJSON(req, &id); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
		"provider": h.Provider, "grant_status": "valid", "email": id.Email, "name": id.Name, "provider_user_id": id.Sub,
	}})
}

func (h *Handler) getJSON(req *http.Request, v any) error {
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
