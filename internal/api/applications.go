package api

import (
	"net/http"
	"strconv"
)

// applicationJSON is the shape the Node SDK's applications.getDetails reads.
type applicationJSON struct {
	ApplicationID  string        `json:"application_id"`
	OrganizationID string        `json:"organization_id"`
	Region         string        `json:"region"`
	Environment    string        `json:"environment"`
	Branding       brandingJSON  `json:"branding"`
	CallbackURIs   []callbackURI `json:"callback_uris"`
	CreatedAt      int64         `json:"created_at"`
	UpdatedAt      int64         `json:"updated_at"`
}

type brandingJSON struct {
	Name string `json:"name"`
}

type callbackURI struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	Platform string `json:"platform"`
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) {
	app := principal(r).App
	out := applicationJSON{
		ApplicationID:  app.ID,
		OrganizationID: app.OrganizationID,
		Region:         app.Region,
		Environment:    app.Environment,
		Branding:       brandingJSON{Name: app.Name},
		CallbackURIs:   []callbackURI{},
		CreatedAt:      app.CreatedAt.Unix(),
		UpdatedAt:      app.UpdatedAt.Unix(),
	}
	for i, u := range app.CallbackURIs {
		out.CallbackURIs = append(out.CallbackURIs, callbackURI{ID: app.ID + "-" + strconv.Itoa(i), URL: u, Platform: "web"})
	}
	respond(w, r, http.StatusOK, out)
}
