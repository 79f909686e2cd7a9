package google_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/provider/oauthx/oauthxtest"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

const (
	scEmail   = "https://www.googleapis.com/auth/userinfo.email"
	scProfile = "https://www.googleapis.com/auth/userinfo.profile"
	scGmail   = "https://www.googleapis.com/auth/gmail.readonly"
)

var suite = oauthxtest.Suite{
	Provider: sandbox.Google,
	New: func(p providers.Config, hc *http.Client) provider.Provider {
		return google.New(p.Google, hc)
	},
	// No openid: no id_token, so every validation calls userinfo.
	Scopes:       []string{scEmail, scProfile, scGmail},
	ReportsScope: true,
	RevokedError: "invalid_grant",
	// Google's userinfo answers 401 to a token without the identity scopes.
	Identity401: provider.ClassMissingScope,
}

func TestSandboxConformance(t *testing.T) { suite.Run(t) }

func TestIDTokenPath(t *testing.T) {
	e := suite.NewEnv(t)
	scopes := []string{"openid", scEmail, scProfile, scGmail}
	rt := e.Mint(t, scopes)
	res, err := e.Provider(0).Validate(context.Background(), e.Request(rt))
	if err != nil {
		t.Fatal(err)
	}
	e.CheckSuccess(t, res, scopes)
	if l := e.SB.Ledger(sandbox.Google); l.IdentityCalls != 0 {
		t.Errorf("userinfo called %d times although the id_token had the email", l.IdentityCalls)
	}
	if res.Secrets["refresh_token"] != rt {
		t.Errorf("Google does not rotate: the original refresh token must be kept")
	}
}

func TestUserinfoFallback(t *testing.T) {
	e := suite.NewEnv(t)
	scopes := []string{scEmail, scProfile}
	rt := e.Mint(t, scopes)
	res, err := e.Provider(0).Validate(context.Background(), e.Request(rt))
	if err != nil {
		t.Fatal(err)
	}
	e.CheckSuccess(t, res, scopes)
	if l := e.SB.Ledger(sandbox.Google); l.IdentityCalls != 1 {
		t.Errorf("userinfo called %d times, want 1", l.IdentityCalls)
	}
}

func TestIDTokenKeysCached(t *testing.T) {
	e := suite.NewEnv(t)
	v := e.Provider(0)
	for range 3 {
		rt := e.Mint(t, []string{"openid", scEmail})
		if _, err := v.Validate(context.Background(), e.Request(rt)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIDTokenWrongIssuer(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, []string{"openid", scEmail})
	p := e.SB.Providers()
	p.Google.Issuer = "https://accounts.google.com"
	_, err := google.New(p.Google, nil).Validate(context.Background(), e.Request(rt))
	pe := providertest.Class(t, err, provider.ClassInvalidCredentials)
	providertest.NoSecrets(t, pe, rt, oauthxtest.ClientSecret)
}

func TestInvalidScopeRequested(t *testing.T) {
	e := suite.NewEnv(t)
	rt := e.Mint(t, nil)
	req := e.Request(rt)
	req.Scope = []string{"https://www.googleapis.com/auth/calendar"}
	// Google ignores req.Scope in the refresh request (it is not sent), so
	// this succeeds with the granted scopes.
	res, err := e.Provider(0).Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	e.CheckSuccess(t, res, suite.Scopes)
}
