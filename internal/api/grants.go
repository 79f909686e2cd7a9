package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/store"
)

// grantJSON is the Nylas grant object. Secrets are never part of it.
type grantJSON struct {
	ID             string         `json:"id"`
	Provider       string         `json:"provider"`
	GrantStatus    string         `json:"grant_status"`
	Email          string         `json:"email"`
	Name           string         `json:"name"`
	Scope          []string       `json:"scope"`
	Settings       map[string]any `json:"settings"`
	State          string         `json:"state"`
	UserAgent      string         `json:"user_agent"`
	IP             string         `json:"ip"`
	CreatedAt      int64          `json:"created_at"`
	UpdatedAt      int64          `json:"updated_at"`
	ProviderUserID string         `json:"provider_user_id"`
	CredentialID   string         `json:"credential_id,omitempty"`
	AccountID      string         `json:"account_id,omitempty"`
	WorkspaceID    string         `json:"workspace_id,omitempty"`
	Blocked        bool           `json:"blocked"`
	// Grantd is grantd's extension: the refresh state (SDKs ignore it).
	Grantd grantdJSON `json:"grantd"`
}

// grantdJSON is the refresh state of a grant, in Unix seconds (0: never
// or not applicable).
type grantdJSON struct {
	LastRefreshAt      int64  `json:"last_refresh_at"`
	NextRefreshAt      int64  `json:"next_refresh_at"`
	TokenExpiresAt     int64  `json:"token_expires_at"`
	LastFailureAt      int64  `json:"last_failure_at"`
	LastFailureClass   string `json:"last_failure_class"`
	LastFailureMessage string `json:"last_failure_message"`
	RefreshFailures    int    `json:"refresh_failures"`
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func grantView(g store.Grant) grantJSON {
	scope := g.Scope
	if scope == nil {
		scope = []string{}
	}
	settings := g.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	return grantJSON{
		ID: g.ID, Provider: g.Provider, GrantStatus: g.Status, Email: g.Email, Name: g.Name,
		Scope: scope, Settings: settings, State: g.State, UserAgent: g.UserAgent, IP: g.IP,
		CreatedAt: g.CreatedAt.Unix(), UpdatedAt: g.UpdatedAt.Unix(), ProviderUserID: g.ProviderUserID,
		CredentialID: g.CredentialID, AccountID: g.AccountID, WorkspaceID: g.WorkspaceID, Blocked: g.Blocked,
		Grantd: grantdJSON{
			LastRefreshAt: unix(g.LastRefreshAt), NextRefreshAt: unix(g.NextRefreshAt), TokenExpiresAt: unix(g.AccessTokenExpiresAt),
			LastFailureAt: unix(g.LastFailureAt), LastFailureClass: g.LastFailureClass, LastFailureMessage: g.LastFailureMessage,
			RefreshFailures: g.RefreshFailures,
		},
	}
}

// ReauthenticatedHeader, on a 201 to POST /v3/connect/custom, is "true"
// when the email already had a grant (re-authenticated: same id) and
// "false" when the grant was created.
const ReauthenticatedHeader = "Grantd-Reauthenticated"

// customAuthBody is POST /v3/connect/custom.
type customAuthBody struct {
	Provider string         `json:"provider"`
	Settings map[string]any `json:"settings"`
	State    string         `json:"state"`
	Scope    scopeList      `json:"scope"`
	// Name and WorkspaceID: the agent accounts' (provider nylas)
	// display name and workspace.
	Name        string `json:"name"`
	WorkspaceID string `json:"workspace_id"`
}

func (s *Server) connectCustom(w http.ResponseWriter, r *http.Request) {
	var body customAuthBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	if body.Provider == "" {
		s.respondError(w, r, BadRequest("provider is required; one of: %s", strings.Join(s.cfg.Grants.Supported(), ", ")))
		return
	}
	if body.Settings == nil {
		s.respondError(w, r, BadRequest("settings is required: an object with the %s credentials", body.Provider))
		return
	}
	g, created, err := s.cfg.Grants.Authenticate(r.Context(), grant.AuthRequest{
		AppID:       principal(r).App.ID,
		Provider:    body.Provider,
		Settings:    body.Settings,
		Scope:       body.Scope.get(),
		State:       body.State,
		Name:        body.Name,
		WorkspaceID: body.WorkspaceID,
	})
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	// grantd's extension: whether the email already had a grant (the
	// importer reports created and re-authenticated lines apart).
	w.Header().Set(ReauthenticatedHeader, strconv.FormatBool(!created))
	respond(w, r, http.StatusCreated, grantView(g))
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	f := store.GrantFilter{ListOptions: opts, Email: q.Get("email"), IP: q.Get("ip"), Provider: q.Get("provider"), WorkspaceID: q.Get("workspace_id")}
	if token := q.Get("page_token"); token != "" {
		if f.After, err = parseGrantCursor(token, opts); err != nil {
			s.respondError(w, r, err)
			return
		}
		// The cursor is the place: an offset sent along (the SDK's
		// iterator repeats the first request's) does not move it.
		f.Offset, opts.Offset = 0, 0
	}
	if f.Since, err = queryTime(q, "since"); err != nil {
		s.respondError(w, r, err)
		return
	}
	if f.Before, err = queryTime(q, "before"); err != nil {
		s.respondError(w, r, err)
		return
	}
	if !f.Before.IsZero() {
		// created_at is kept to the microsecond and shown in seconds:
		// before=T includes every grant whose created_at reads T.
		f.Before = f.Before.Add(time.Second - time.Microsecond)
	}
	switch st := q.Get("grant_status"); st {
	case "", store.GrantValid, store.GrantInvalid:
		f.Status = st
	default:
		s.respondError(w, r, BadRequest("query parameter grant_status must be valid or invalid, not %q", fault.Shorten(st, 40)))
		return
	}
	if id := q.Get("account_id"); id != "" {
		f.AccountIDs = append(f.AccountIDs, id)
	}
	f.AccountIDs = append(f.AccountIDs, splitList(q.Get("account_ids"))...)
	gs, err := s.cfg.Grants.List(r.Context(), principal(r).App.ID, f)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]grantJSON, len(gs))
	for i, g := range gs {
		out[i] = grantView(g)
	}
	next := ""
	if len(gs) == opts.Limit {
		// A full page: there may be more.
		next = grantCursor(gs[len(gs)-1], opts)
	}
	respondList(w, r, out, opts.Limit, opts.Offset, next)
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request) {
	g, err := s.cfg.Grants.Get(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, grantView(g))
}

type grantPatchBody struct {
	Settings map[string]any `json:"settings"`
	Scope    scopeList      `json:"scope"`
}

func (s *Server) updateGrant(w http.ResponseWriter, r *http.Request) {
	var body grantPatchBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	g, err := s.cfg.Grants.Update(r.Context(), principal(r).App.ID, r.PathValue("id"), grant.Patch{Settings: body.Settings, Scope: body.Scope.get()})
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, grantView(g))
}

func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Grants.Delete(r.Context(), principal(r).App.ID, r.PathValue("id")); err != nil {
		s.respondError(w, r, err)
		return
	}
	respondDeleted(w, r)
}
