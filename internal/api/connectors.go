package api

import (
	"net/http"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/store"
)

type connectorJSON struct {
	Name               string         `json:"name"`
	Provider           string         `json:"provider"`
	Settings           map[string]any `json:"settings"`
	Scope              []string       `json:"scope"`
	ActiveCredentialID string         `json:"active_credential_id,omitempty"`
	CreatedAt          int64          `json:"created_at"`
	UpdatedAt          int64          `json:"updated_at"`
}

func connectorView(c store.Connector) connectorJSON {
	settings := c.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	scope := c.Scope
	if scope == nil {
		scope = []string{}
	}
	return connectorJSON{
		Name: c.Name, Provider: c.Provider, Settings: settings, Scope: scope,
		ActiveCredentialID: c.ActiveCredentialID, CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix(),
	}
}

// connectorBody is a create or update body. Settings stay raw so that a
// setting sent as null can remove it.
type connectorBody struct {
	Name               *string        `json:"name"`
	Provider           string         `json:"provider"`
	Settings           map[string]any `json:"settings"`
	Scope              scopeList      `json:"scope"`
	Scopes             scopeList      `json:"scopes"` // EWS connectors use "scopes"
	ActiveCredentialID *string        `json:"active_credential_id"`
}

func (b connectorBody) input() connector.Input {
	in := connector.Input{Name: b.Name, Provider: b.Provider, Settings: b.Settings, ActiveCredentialID: b.ActiveCredentialID}
	in.Scope = b.Scope.get()
	if in.Scope == nil {
		in.Scope = b.Scopes.get()
	}
	return in
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) {
	var body connectorBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	c, err := s.cfg.Connectors.Create(r.Context(), principal(r).App.ID, body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusCreated, connectorView(c))
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r.URL.Query())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	cs, err := s.cfg.Connectors.List(r.Context(), principal(r).App.ID, opts)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]connectorJSON, len(cs))
	for i, c := range cs {
		out[i] = connectorView(c)
	}
	respondList(w, r, out, opts.Limit, opts.Offset, "")
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Connectors.Get(r.Context(), principal(r).App.ID, r.PathValue("provider"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, connectorView(c))
}

func (s *Server) updateConnector(w http.ResponseWriter, r *http.Request) {
	var body connectorBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	prov := r.PathValue("provider")
	if body.Provider != "" && body.Provider != prov {
		s.respondError(w, r, BadRequest("provider %q in the body does not match the connector %q in the path; a connector's provider cannot change", body.Provider, prov))
		return
	}
	c, err := s.cfg.Connectors.Update(r.Context(), principal(r).App.ID, prov, body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, connectorView(c))
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) {
	appID, prov := principal(r).App.ID, r.PathValue("provider")
	if err := s.cfg.Connectors.Delete(r.Context(), appID, prov); err != nil {
		s.respondError(w, r, err)
		return
	}
	// Without its connector an OAuth grant can no longer be refreshed
	// (password grants do not need one).
	if s.cfg.Connectors.OAuth(prov) {
		if err := s.cfg.Grants.InvalidateProvider(r.Context(), appID, prov, grant.CauseConnectorDeleted, "the "+prov+" connector was deleted"); err != nil {
			s.respondError(w, r, err)
			return
		}
	}
	respondDeleted(w, r)
}

type credentialJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	CredentialType string `json:"credential_type"`
	CreatedAt      int64  `json:"created_at"`
	UpdatedAt      int64  `json:"updated_at"`
}

func credentialView(c store.Credential) credentialJSON {
	return credentialJSON{ID: c.ID, Name: c.Name, CredentialType: c.Type, CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix()}
}

type credentialBody struct {
	Name           *string        `json:"name"`
	CredentialType string         `json:"credential_type"`
	CredentialData map[string]any `json:"credential_data"`
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request) {
	var body credentialBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	c, err := s.cfg.Connectors.CreateCredential(r.Context(), principal(r).App.ID, r.PathValue("provider"),
		connector.CredentialInput{Name: body.Name, Type: body.CredentialType, Data: body.CredentialData})
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusCreated, credentialView(c))
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r.URL.Query())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	cs, err := s.cfg.Connectors.ListCredentials(r.Context(), principal(r).App.ID, r.PathValue("provider"), opts)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]credentialJSON, len(cs))
	for i, c := range cs {
		out[i] = credentialView(c)
	}
	respondList(w, r, out, opts.Limit, opts.Offset, "")
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Connectors.GetCredential(r.Context(), principal(r).App.ID, r.PathValue("provider"), r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, credentialView(c))
}

func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) {
	var body credentialBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	if body.CredentialType != "" {
		s.respondError(w, r, BadRequest("credential_type cannot change; create a new credential instead"))
		return
	}
	c, err := s.cfg.Connectors.UpdateCredential(r.Context(), principal(r).App.ID, r.PathValue("provider"), r.PathValue("id"),
		connector.CredentialInput{Name: body.Name, Data: body.CredentialData})
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, credentialView(c))
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) {
	appID, prov, id := principal(r).App.ID, r.PathValue("provider"), r.PathValue("id")
	if err := s.cfg.Connectors.DeleteCredential(r.Context(), appID, prov, id); err != nil {
		s.respondError(w, r, err)
		return
	}
	// The grants made with it hold refresh tokens of its OAuth client,
	// which is gone: they can no longer be refreshed.
	if err := s.cfg.Grants.InvalidateCredential(r.Context(), appID, id, grant.CauseCredentialDeleted, "the "+prov+" credential "+id+" was deleted"); err != nil {
		s.respondError(w, r, err)
		return
	}
	respondDeleted(w, r)
}
