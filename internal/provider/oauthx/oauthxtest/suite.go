package oauthxtest

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/provider/microsoft"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/provider/yahoo"
	"github.com/grantd/grantd/internal/provider/zoom"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/sandbox"
)

// Suite is the sandbox conformance suite every OAuth provider package runs.
type Suite struct {
	// Provider is the provider's name (sandbox.Google, …).
	Provider string
	// New builds the provider under test from the sandbox's endpoints.
	New func(p providers.Config, hc *http.Client) provider.Provider
	// Scopes are granted when minting refresh tokens. They must make the
	// provider call the identity endpoint (for Google: no openid, so that
	// there is no id_token).
	Scopes []string
	// ReportsScope: the token response carries the granted scopes (Yahoo's
	// does not, so the requested ones come back).
	ReportsScope bool
	// RevokedError is the "error" field of the provider's answer to a
	// revoked refresh token (invalid_grant; Zoom says invalid_request).
	RevokedError string
	// Identity401 is the class of a 401 from the identity endpoint.
	Identity401 provider.Class
}

// Env is one sandbox with a client and a user, for a single test.
type Env struct {
	SB     *sandbox.Sandbox
	User   sandbox.User
	Client provider.Client
	Suite  Suite
}

// Client credentials every Env registers.
const (
	ClientID     = "grantd-test-client"
	ClientSecret = "cs-SECRET-sandbox-client"
)

// NewEnv starts a sandbox with ClientID/ClientSecret and one user.
func (s Suite) NewEnv(t *testing.T) *Env {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sb.AddClient(s.Provider, ClientID, ClientSecret)
	u := sb.AddUser(s.Provider, sandbox.User{Email: "ada.lovelace@example.com", Name: "Ada Lovelace"})
	return &Env{SB: sb, User: u, Client: provider.Client{ClientID: ClientID, ClientSecret: ClientSecret}, Suite: s}
}

// Mint mints a refresh token for the env's user with scopes (the suite's
// when nil).
func (e *Env) Mint(t *testing.T, scopes []string) string {
	t.Helper()
	if scopes == nil {
		scopes = e.Suite.Scopes
	}
	rt, err := e.SB.MintRefreshToken(e.Suite.Provider, ClientID, e.User.Email, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// Provider builds the provider under test with a client timing out
// after timeout (5s when zero).
func (e *Env) Provider(timeout time.Duration) provider.Provider {
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	return e.Suite.New(e.SB.Providers(), &http.Client{Timeout: timeout})
}

// Request is a validation request for rt with the env's client.
func (e *Env) Request(rt string) provider.Request {
	return provider.Request{Settings: map[string]any{"refresh_token": rt}, Client: e.Client}
}

// CheckSuccess checks what every successful validation must hold.
func (e *Env) CheckSuccess(t *testing.T, res provider.Result, wantScope []string) {
	t.Helper()
	if res.Email != e.User.Email || res.Name != e.User.Name || res.ProviderUserID != e.User.ID {
		t.Errorf("identity = %q %q %q, want %q %q %q", res.Email, res.Name, res.ProviderUserID, e.User.Email, e.User.Name, e.User.ID)
	}
	got, want := slices.Sorted(slices.Values(res.Scope)), slices.Sorted(slices.Values(wantScope))
	if !slices.Equal(got, want) {
		t.Errorf("scope = %q, want %q", got, want)
	}
	if res.Secrets["access_token"] == "" {
		t.Errorf("no access_token in secrets")
	}
	if rt := res.Secrets["refresh_token"]; !e.SB.IsValidRefreshToken(e.Suite.Provider, rt) {
		t.Errorf("the refresh token in Result.Secrets is not valid at the provider")
	}
	if d := time.Until(res.AccessTokenExpiresAt); d < 50*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("access token expires in %v, want about an hour", d)
	}
	if len(res.Secrets) != 2 {
		t.Errorf("secrets hold %d entries, want refresh_token and access_token", len(res.Secrets))
	}
	for k, v := range res.Settings {
		if s, ok := v.(string); ok && (s == res.Secrets["refresh_token"] || s == res.Secrets["access_token"]) {
			t.Errorf("settings[%q] holds a secret", k)
		}
	}
}

// deadProviders points every endpoint at a closed port.
func deadProviders(t *testing.T, p providers.Config, base string) providers.Config {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()
	r := strings.NewReplacer(base, dead)
	p.Google = google.Config{TokenURL: r.Replace(p.Google.TokenURL), UserinfoURL: r.Replace(p.Google.UserinfoURL),
		JWKSURL: r.Replace(p.Google.JWKSURL), Issuer: p.Google.Issuer, APIURL: r.Replace(p.Google.APIURL)}
	p.Microsoft = microsoft.Config{LoginURL: r.Replace(p.Microsoft.LoginURL), GraphURL: r.Replace(p.Microsoft.GraphURL)}
	p.Yahoo = yahoo.Config{TokenURL: r.Replace(p.Yahoo.TokenURL), UserinfoURL: r.Replace(p.Yahoo.UserinfoURL)}
	p.Zoom = zoom.Config{TokenURL: r.Replace(p.Zoom.TokenURL), APIURL: r.Replace(p.Zoom.APIURL)}
	return p
}

// Run runs the conformance suite: success, rejected tokens and clients,
// provider failures, timeouts, refused connections, bad requests, and no
// secret in any error.
func (s Suite) Run(t *testing.T) {
	ctx := context.Background()
	// failures collects every error of the suite with the secrets it must
	// not show, for the final leak check.
	type leak struct {
		name    string
		err     error
		secrets []string
	}
	var failures []leak
	record := func(t *testing.T, err error, rt string) {
		failures = append(failures, leak{t.Name(), err, []string{rt, ClientSecret}})
	}

	t.Run("success", func(t *testing.T) {
		e := s.NewEnv(t)
		rt := e.Mint(t, nil)
		req := e.Request(rt)
		if !s.ReportsScope {
			req.Scope = e.Suite.Scopes
		}
		res, err := e.Provider(0).Validate(ctx, req)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		e.CheckSuccess(t, res, s.Scopes)
	})

	rejected := []struct {
		name  string
		setup func(e *Env, rt string) (provider.Request, string)
		class provider.Class
		msg   string
		pe    map[string]any
	}{
		{name: "revoked refresh token", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.Revoke(s.Provider, rt)
			return e.Request(rt), rt
		}, class: provider.ClassInvalidCredentials, msg: "Ask the user to sign in again",
			pe: map[string]any{"error": s.RevokedError, "status": 400, "endpoint": "token"}},
		{name: "revoked user", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.RevokeUser(s.Provider, e.User.Email)
			return e.Request(rt), rt
		}, class: provider.ClassInvalidCredentials, msg: "refresh token", pe: map[string]any{"error": s.RevokedError}},
		{name: "unknown refresh token", setup: func(e *Env, rt string) (provider.Request, string) {
			return e.Request("unknown-" + rt), "unknown-" + rt
		}, class: provider.ClassInvalidCredentials, msg: "refresh token", pe: map[string]any{"error": s.RevokedError}},
		{name: "wrong client secret", setup: func(e *Env, rt string) (provider.Request, string) {
			req := e.Request(rt)
			req.Client.ClientSecret = "cs-WRONG-secret"
			return req, rt
		}, class: provider.ClassInvalidClient, msg: "client_id and client_secret",
			pe: map[string]any{"error": "invalid_client", "status": 401}},
		{name: "unknown client", setup: func(e *Env, rt string) (provider.Request, string) {
			req := e.Request(rt)
			req.Client.ClientID = "nobody"
			return req, rt
		}, class: provider.ClassInvalidClient, msg: "client credentials"},
		{name: "token 503", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "token", Status: 503})
			return e.Request(rt), rt
		}, class: provider.ClassUnavailable, msg: "try again", pe: map[string]any{"status": 503}},
		{name: "token 429", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "token", Status: 429})
			return e.Request(rt), rt
		}, class: provider.ClassUnavailable, msg: "try again"},
		{name: "token 500", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "token", Status: 500})
			return e.Request(rt), rt
		}, class: provider.ClassUnavailable},
		{name: "identity 503", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "identity", Status: 503, Count: -1})
			return e.Request(rt), rt
		}, class: provider.ClassUnavailable, msg: "try again", pe: map[string]any{"status": 503, "endpoint": "identity"}},
		{name: "identity 401", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "identity", Status: 401})
			return e.Request(rt), rt
		}, class: s.Identity401, pe: map[string]any{"status": 401, "endpoint": "identity"}},
		{name: "identity 403", setup: func(e *Env, rt string) (provider.Request, string) {
			e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "identity", Status: 403})
			return e.Request(rt), rt
		}, class: provider.ClassMissingScope, msg: "scopes"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			e := s.NewEnv(t)
			rt := e.Mint(t, nil)
			req, sent := tc.setup(e, rt)
			_, err := e.Provider(0).Validate(ctx, req)
			record(t, err, sent)
			pe := providertest.Class(t, err, tc.class)
			if !strings.Contains(pe.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", pe.Message, tc.msg)
			}
			for k, want := range tc.pe {
				if got := pe.ProviderError[k]; got != want {
					t.Errorf("ProviderError[%q] = %#v, want %#v (all: %v)", k, got, want, pe.ProviderError)
				}
			}
		})
	}

	t.Run("token delay beyond the client timeout", func(t *testing.T) {
		e := s.NewEnv(t)
		rt := e.Mint(t, nil)
		e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "token", Delay: 10 * time.Second})
		start := time.Now()
		_, err := e.Provider(200*time.Millisecond).Validate(ctx, e.Request(rt))
		record(t, err, rt)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "timed out") {
			t.Errorf("message = %q", pe.Message)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("identity delay beyond the context deadline", func(t *testing.T) {
		e := s.NewEnv(t)
		rt := e.Mint(t, nil)
		e.SB.InjectFailure(s.Provider, sandbox.Failure{Endpoint: "identity", Delay: 10 * time.Second})
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.Provider(0).Validate(ctx, e.Request(rt))
		record(t, err, rt)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "timed out") {
			t.Errorf("message = %q", pe.Message)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		e := s.NewEnv(t)
		rt := e.Mint(t, nil)
		v := s.New(deadProviders(t, e.SB.Providers(), e.SB.URL()), &http.Client{Timeout: 5 * time.Second})
		start := time.Now()
		_, err := v.Validate(ctx, e.Request(rt))
		record(t, err, rt)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "connection refused") {
			t.Errorf("message = %q", pe.Message)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		e := s.NewEnv(t)
		v := e.Provider(0)
		for name, req := range map[string]provider.Request{
			"no refresh_token":     {Settings: map[string]any{}, Client: e.Client},
			"numeric":              {Settings: map[string]any{"refresh_token": 42.0}, Client: e.Client},
			"empty":                {Settings: map[string]any{"refresh_token": ""}, Client: e.Client},
			"no client_secret":     {Settings: map[string]any{"refresh_token": "x"}, Client: provider.Client{ClientID: ClientID}},
			"no client_id":         {Settings: map[string]any{"refresh_token": "x"}, Client: provider.Client{ClientSecret: ClientSecret}},
			"no client at all":     {Settings: map[string]any{"refresh_token": "x"}},
			"nil settings, client": {Client: e.Client},
		} {
			_, err := v.Validate(ctx, req)
			pe := providertest.Class(t, err, provider.ClassBadRequest)
			if !strings.Contains(pe.Message, "refresh_token") && !strings.Contains(pe.Message, "client_") {
				t.Errorf("%s: message %q", name, pe.Message)
			}
		}
		if l := e.SB.Ledger(s.Provider); l.Rejections+l.Redemptions != 0 {
			t.Errorf("bad requests reached the provider: %+v", l)
		}
	})

	t.Run("no secret in any error", func(t *testing.T) {
		if len(failures) < 10 {
			t.Fatalf("only %d failures recorded", len(failures))
		}
		for _, f := range failures {
			if f.err == nil {
				t.Errorf("%s: no error", f.name)
				continue
			}
			providertest.NoSecrets(t, f.err, f.secrets...)
		}
	})
}
