package api

import (
	"context"
	"net/http"

	"github.com/grantd/grantd/internal/refresh"
	"github.com/grantd/grantd/internal/tenant"
)

// AccessTokens hands out fresh provider access tokens (internal/refresh
// implements it).
type AccessTokens interface {
	AccessToken(ctx context.Context, appID, grantID string) (refresh.AccessToken, error)
}

type accessTokenJSON struct {
	AccessToken string `json:"access_token"`
	ExpiresAt   int64  `json:"expires_at"`
	Provider    string `json:"provider"`
	GrantID     string `json:"grant_id"`
}

// accessToken is the grantd extension GET /grantd/v1/grants/{id}/access-token:
// a provider access token valid for at least refresh.access_token_margin,
// for API keys with the credentials:read scope only.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !p.Has(tenant.ScopeReadCredentials) {
		s.respondError(w, r, &Error{Status: http.StatusForbidden, Type: TypeForbidden,
			Message: "this API key may not read provider credentials: create a key with the " + tenant.ScopeReadCredentials + " scope (grantd apikey create --app ID --scope " + tenant.ScopeReadCredentials + ")"})
		return
	}
	if s.cfg.AccessTokens == nil {
		s.respondError(w, r, NotFound("the access-token endpoint is not available on this server"))
		return
	}
	id := r.PathValue("id")
	tok, err := s.cfg.AccessTokens.AccessToken(r.Context(), p.App.ID, id)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, accessTokenJSON{AccessToken: tok.AccessToken, ExpiresAt: tok.ExpiresAt.Unix(), Provider: tok.Provider, GrantID: id})
}
