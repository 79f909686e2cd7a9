package zoom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx/oauthxtest"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/provider/zoom"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

var suite = oauthxtest.Suite{
	Provider: sandbox.Zoom,
	New: func(p providers.Config, hc *http.Client) provider.Provider {
		return zoom.New(p.Zoom, hc)
	},
	Scopes:       []string{"user:read:user", "meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting"},
	ReportsScope: true,
	// Zoom answers a dead refresh token with 400 {"reason":"Invalid Token!","error":"invalid_request"}.
	RevokedError: "invalid_request",
	Identity401:  provider.ClassInvalidCredentials,
}

func TestSandboxConformance(t *testing.T) { suite.Run(t) }

func TestStrictRotationPersisted(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, nil)
	v := e.Provider(0)
	res, err := v.Validate(context.Background(), e.Request(rt))
	if err != nil {
		t.Fatal(err)
	}
	e.CheckSuccess(t, res, suite.Scopes)
	rotated := res.Secrets["refresh_token"]
	if rotated == rt {
		t.Fatal("Result.Secrets keeps the redeemed refresh token")
	}
	if e.SB.IsValidRefreshToken(sandbox.Zoom, rt) {
		t.Error("the original refresh token still works after a strict rotation")
	}
	// The original is now dead: validating it again is an invalid token…
	_, err = v.Validate(context.Background(), e.Request(rt))
	pe := providertest.Class(t, err, provider.ClassInvalidCredentials)
	if pe.ProviderError["reason"] != "Invalid Token!" {
		t.Errorf("ProviderError = %v", pe.ProviderError)
	}
	providertest.NoSecrets(t, err, rt, rotated, oauthxtest.ClientSecret, res.Secrets["access_token"])
	// …while the rotated one works.
	if _, err := v.Validate(context.Background(), e.Request(rotated)); err != nil {
		t.Fatal(err)
	}
}

func TestNameFromFirstAndLast(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _, ok := r.BasicAuth()
			if !ok || r.FormValue("client_secret") != "" {
				w.WriteHeader(401)
				_, _ = w.Write([]byte(`{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`))
				return
			}
			_, _ = w.Write([]byte(`{"access_token":"at","refresh_token":"rt2","expires_in":3599,"scope":"user:read:user,meeting:write:meeting"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"z1","email":"kim@example.com","first_name":"Kim","last_name":"Lee"}`))
	}))
	defer srv.Close()
	res, err := zoom.New(zoom.Config{TokenURL: srv.URL + "/oauth/token", APIURL: srv.URL + "/v2/"}, srv.Client()).
		Validate(context.Background(), provider.Request{Settings: map[string]any{"refresh_token": "rt"}, Client: provider.Client{ClientID: "c", ClientSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "Kim Lee" || res.Email != "kim@example.com" || res.ProviderUserID != "z1" {
		t.Errorf("result = %+v", res)
	}
	if len(res.Scope) != 2 || res.Scope[1] != "meeting:write:meeting" {
		t.Errorf("scope = %q (comma-separated scopes must be split)", res.Scope)
	}
	if res.Secrets["refresh_token"] != "rt2" {
		t.Errorf("rotated token not kept")
	}
}

// Once Zoom has rotated the token, a transient identity failure is retried:
// giving up would leave the caller with a dead token and grantd with none.
func TestIdentityRetriedAfterRotation(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, nil)
	e.SB.InjectFailure(sandbox.Zoom, sandbox.Failure{Endpoint: "identity", Status: 503, Count: 2})
	res, err := e.Provider(0).Validate(context.Background(), e.Request(rt))
	if err != nil {
		t.Fatalf("two identity failures after a rotation were not retried: %v", err)
	}
	if !e.SB.IsValidRefreshToken(sandbox.Zoom, res.Secrets["refresh_token"]) {
		t.Error("the rotated token in the result is not valid")
	}

	// A lasting outage still ends in ClassUnavailable, saying the token
	// sent may be dead now.
	rt = e.Mint(t, nil)
	e.SB.InjectFailure(sandbox.Zoom, sandbox.Failure{Endpoint: "identity", Status: 503, Count: -1})
	defer e.SB.ClearFailures()
	_, err = e.Provider(0).Validate(context.Background(), e.Request(rt))
	pe := providertest.Class(t, err, provider.ClassUnavailable)
	if !strings.Contains(pe.Message, "rotated the refresh token") {
		t.Errorf("message does not warn about the rotation: %s", pe.Message)
	}
	providertest.NoSecrets(t, err, rt, oauthxtest.ClientSecret)
}

// Zoom's answer to a dead refresh token is not invalid_grant.
func TestTokenErrorClassification(t *testing.T) {
	const js = "application/json"
	rt := "rt-SECRET-refresh"
	client := provider.Client{ClientID: "client-1", ClientSecret: "cs-SECRET-client"}
	oauthxtest.RunTokenErrors(t, "Zoom", []string{rt, client.ClientSecret}, func(u string, hc *http.Client) error {
		_, err := zoom.New(zoom.Config{TokenURL: u}, hc).Refresh(context.Background(), client, rt, nil)
		return err
	}, []oauthxtest.TokenErrorCase{
		{Name: "zoom invalid token", Status: 400, CType: js,
			Body:  `{"reason":"Invalid Token!","error":"invalid_request"}`,
			Class: provider.ClassInvalidCredentials, Msg: "rejected the refresh token",
			PE: map[string]any{"reason": "Invalid Token!", "error": "invalid_request"}},
	})
}
