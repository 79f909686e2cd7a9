package google_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/provider/providertest"
)

// TestEmailRequired: a token whose userinfo has no email (no
// userinfo.email scope) is a missing scope, explained.
func TestEmailRequired(t *testing.T) {
	var form string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/token":
			_ = r.ParseForm()
			form = r.PostForm.Encode()
			_, _ = w.Write([]byte(`{"access_token":"at-SECRET-1","expires_in":3599,"scope":"https://www.googleapis.com/auth/gmail.readonly","token_type":"Bearer"}`))
		case "/userinfo":
			_, _ = w.Write([]byte(`{"sub":"1234"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	v := google.New(google.Config{TokenURL: srv.URL + "/token", UserinfoURL: srv.URL + "/userinfo", JWKSURL: srv.URL + "/certs"}, srv.Client())
	_, err := v.Validate(context.Background(), provider.Request{
		Settings: map[string]any{"refresh_token": "rt-SECRET-1"},
		Client:   provider.Client{ClientID: "cid", ClientSecret: "cs-SECRET-1"},
	})
	pe := providertest.Class(t, err, provider.ClassMissingScope)
	for _, want := range []string{"openid", "https://www.googleapis.com/auth/userinfo.email", "userinfo.profile"} {
		if !strings.Contains(pe.Message, want) {
			t.Errorf("message %q does not name %s", pe.Message, want)
		}
	}
	providertest.NoSecrets(t, err, "rt-SECRET-1", "cs-SECRET-1", "at-SECRET-1")
	// Google takes the client in the body.
	if !strings.Contains(form, "client_secret=cs-SECRET-1") || !strings.Contains(form, "client_id=cid") {
		t.Errorf("form = %q", form)
	}
}
