package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/grantd/grantd/internal/redirecturi"
	"github.com/grantd/grantd/internal/store"
)

// applicationJSON is the shape the Node SDK's applications.getDetails reads.
type applicationJSON struct {
	ApplicationID  string            `json:"application_id"`
	OrganizationID string            `json:"organization_id"`
	Region         string            `json:"region"`
	Environment    string            `json:"environment"`
	Branding       brandingJSON      `json:"branding"`
	CallbackURIs   []redirectURIJSON `json:"callback_uris"`
	CreatedAt      int64             `json:"created_at"`
	UpdatedAt      int64             `json:"updated_at"`
}

type brandingJSON struct {
	Name string `json:"name"`
}

// redirectURIJSON is the SDK's RedirectUri (also the items of
// callback_uris): settings only when the URI has some.
type redirectURIJSON struct {
	ID       string         `json:"id"`
	URL      string         `json:"url"`
	Platform string         `json:"platform"`
	Settings map[string]any `json:"settings,omitempty"`
}

func redirectURIView(u store.RedirectURI) redirectURIJSON {
	out := redirectURIJSON{ID: u.ID, URL: u.URL, Platform: u.Platform}
	if len(u.Settings) > 0 {
		out.Settings = u.Settings
	}
	return out
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) {
	app := principal(r).App
	out := applicationJSON{
		ApplicationID:  app.ID,
		OrganizationID: app.OrganizationID,
		Region:         app.Region,
		Environment:    app.Environment,
		Branding:       brandingJSON{Name: app.Name},
		CallbackURIs:   []redirectURIJSON{},
		CreatedAt:      app.CreatedAt.Unix(),
		UpdatedAt:      app.UpdatedAt.Unix(),
	}
	if s.cfg.RedirectURIs == nil {
		for i, u := range app.CallbackURIs {
			out.CallbackURIs = append(out.CallbackURIs, redirectURIJSON{ID: app.ID + "-" + strconv.Itoa(i), URL: u, Platform: "web"})
		}
	} else {
		list, err := s.cfg.RedirectURIs.List(r.Context(), app.ID)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		for _, u := range list {
			out.CallbackURIs = append(out.CallbackURIs, redirectURIView(u))
		}
	}
	respond(w, r, http.StatusOK, out)
}

// applicationPatch is the body of PATCH /v3/applications. Only the
// redirect URIs (callback_uris, the whole list) can be changed through the
// API; the rest of the application is set with the grantd CLI.
type applicationPatch struct {
	CallbackURIs   *[]redirectURIBody `json:"callback_uris"`
	Branding       json.RawMessage    `json:"branding"`
	Region         json.RawMessage    `json:"region"`
	Environment    json.RawMessage    `json:"environment"`
	OrganizationID json.RawMessage    `json:"organization_id"`
	ApplicationID  json.RawMessage    `json:"application_id"`
}

// updateApplication replaces the application's redirect URIs with
// callback_uris: a listed URL that is registered already keeps its id (its
// platform and settings are updated), the others are created, the
// registered ones not listed are deleted. Every entry is checked before
// anything changes.
func (s *Server) updateApplication(w http.ResponseWriter, r *http.Request) {
	var body applicationPatch
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	for name, v := range map[string]json.RawMessage{"branding": body.Branding, "region": body.Region, "environment": body.Environment,
		"organization_id": body.OrganizationID, "application_id": body.ApplicationID} {
		if v != nil {
			s.respondError(w, r, BadRequest("%s cannot be changed through the API (only callback_uris can); use the grantd CLI", name))
			return
		}
	}
	app := principal(r).App
	if body.CallbackURIs != nil {
		want := *body.CallbackURIs
		if len(want) > redirecturi.MaxPerApp {
			s.respondError(w, r, BadRequest("callback_uris has %d entries; at most %d are allowed", len(want), redirecturi.MaxPerApp))
			return
		}
		seen := map[string]bool{}
		for i, b := range want {
			in := b.input()
			p := "web"
			if in.Platform != nil {
				p = *in.Platform
			}
			u := ""
			if in.URL != nil {
				u = *in.URL
			}
			if err := redirecturi.Check(u, p); err != nil {
				s.respondError(w, r, BadRequest("callback_uris[%d]: %s", i, err.Error()))
				return
			}
			if seen[u] {
				s.respondError(w, r, BadRequest("callback_uris[%d]: %s is listed twice", i, u))
				return
			}
			seen[u] = true
		}
		ctx := r.Context()
		have, err := s.cfg.RedirectURIs.List(ctx, app.ID)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		byURL := map[string]store.RedirectURI{}
		for _, u := range have {
			byURL[u.URL] = u
		}
		for _, u := range have {
			if !seen[u.URL] {
				if err := s.cfg.RedirectURIs.Delete(ctx, app.ID, u.ID); err != nil {
					s.respondError(w, r, err)
					return
				}
			}
		}
		for _, b := range want {
			in := b.input()
			if old, ok := byURL[*in.URL]; ok {
				_, err = s.cfg.RedirectURIs.Update(ctx, app.ID, old.ID, redirecturi.Input{Platform: in.Platform, Settings: in.Settings})
			} else {
				_, err = s.cfg.RedirectURIs.Create(ctx, app.ID, in)
			}
			if err != nil {
				s.respondError(w, r, err)
				return
			}
		}
	}
	s.getApplication(w, r)
}

// redirectURIBody is a create (POST) or update (PATCH, partial) body.
type redirectURIBody struct {
	URL      *string        `json:"url"`
	Platform *string        `json:"platform"`
	Settings map[string]any `json:"settings"`
}

func (b redirectURIBody) input() redirecturi.Input {
	return redirecturi.Input{URL: b.URL, Platform: b.Platform, Settings: b.Settings}
}

func (s *Server) createRedirectURI(w http.ResponseWriter, r *http.Request) {
	var body redirectURIBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	u, err := s.cfg.RedirectURIs.Create(r.Context(), principal(r).App.ID, body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, redirectURIView(u))
}

func (s *Server) listRedirectURIs(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.RedirectURIs.List(r.Context(), principal(r).App.ID)
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	out := make([]redirectURIJSON, 0, len(list))
	for _, u := range list {
		out = append(out, redirectURIView(u))
	}
	respond(w, r, http.StatusOK, out)
}

func (s *Server) getRedirectURI(w http.ResponseWriter, r *http.Request) {
	u, err := s.cfg.RedirectURIs.Get(r.Context(), principal(r).App.ID, r.PathValue("id"))
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, redirectURIView(u))
}

func (s *Server) updateRedirectURI(w http.ResponseWriter, r *http.Request) {
	var body redirectURIBody
	if err := decodeJSON(r, &body); err != nil {
		s.respondError(w, r, err)
		return
	}
	u, err := s.cfg.RedirectURIs.Update(r.Context(), principal(r).App.ID, r.PathValue("id"), body.input())
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, redirectURIView(u))
}

func (s *Server) deleteRedirectURI(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.RedirectURIs.Delete(r.Context(), principal(r).App.ID, r.PathValue("id")); err != nil {
		s.respondError(w, r, err)
		return
	}
	respondDeleted(w, r)
}
