package yahoo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx/oauthxtest"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/provider/yahoo"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

var suite = oauthxtest.Suite{
	Provider: sandbox.Yahoo,
	New: func(p providers.Config, hc *http.Client) provider.Provider {
		return yahoo.New(p.Yahoo, hc)
	},
	Scopes:       []string{"openid", "email", "profile", "mail-r"},
	ReportsScope: false, // Yahoo's token response has no scope
	RevokedError: "invalid_grant",
	Identity401:  provider.ClassInvalidCredentials,
}

func TestSandboxConformance(t *testing.T) { suite.Run(t) }

func TestNoRotation(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, nil)
	res, err := e.Provider(0).Validate(context.Background(), e.Request(rt))
	if err != nil {
		t.Fatal(err)
	}
	if res.Secrets["refresh_token"] != rt {
		t.Errorf("refresh token changed without rotation")
	}
	if len(res.Scope) != 0 {
		t.Errorf("scope = %v, want none (none requested, none reported)", res.Scope)
	}
}

func TestEmailRequired(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			if _, _, ok := r.BasicAuth(); !ok {
				w.WriteHeader(401)
				_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
				return
			}
			_, _ = w.Write([]byte(`{"access_token":"at","refresh_token":"rt","expires_in":3600}`))
			return
		}
		_, _ = w.Write([]byte(`{"sub":"G1"}`))
	}))
	defer srv.Close()
	_, err := yahoo.New(yahoo.Config{TokenURL: srv.URL + "/token", UserinfoURL: srv.URL + "/ui"}, srv.Client()).
		Validate(context.Background(), provider.Request{Settings: map[string]any{"refresh_token": "rt"}, Client: provider.Client{ClientID: "c", ClientSecret: "s"}})
	providertest.Class(t, err, provider.ClassMissingScope)
}
