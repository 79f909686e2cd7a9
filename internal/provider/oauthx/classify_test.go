package oauthx_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
	"github.com/grantd/grantd/internal/provider/providertest"
)

const (
	testRT     = "1//rt-SECRET-refresh/abc+def"
	testSecret = "cs-SECRET-client-xyz"
	testAccess = "at-SECRET-access-123"
)

func session(t *testing.T, hc *http.Client) *oauthx.Session {
	t.Helper()
	s, err := oauthx.Start(provider.Request{
		Settings: map[string]any{"refresh_token": testRT},
		Client:   provider.Client{ClientID: "client-1", ClientSecret: testSecret},
		Scope:    []string{"a", "b"},
	}, "Acme", hc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tokenServer answers every request with status, content type and body,
// counting requests.
func tokenServer(t *testing.T, status int, ctype, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestTokenErrorClassification(t *testing.T) {
	const js = "application/json"
	cases := []struct {
		name     string
		status   int
		ctype    string
		body     string
		class    provider.Class
		msg      string         // substring of the message
		pe       map[string]any // entries ProviderError must hold
		notInPE  []string       // keys ProviderError must not hold
		noSecret bool
	}{
		{name: "google invalid_grant", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
			class: provider.ClassInvalidCredentials, msg: "rejected the refresh token (invalid_grant",
			pe: map[string]any{"error": "invalid_grant", "error_description": "Token has been expired or revoked.", "status": 400, "endpoint": "token"}},
		{name: "microsoft 70008", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: x","error_codes":[70008],"trace_id":"t","correlation_id":"c","timestamp":"2026"}`,
			class: provider.ClassInvalidCredentials, msg: "Ask the user to sign in again",
			pe: map[string]any{"error": "invalid_grant", "trace_id": "t", "correlation_id": "c"}},
		{name: "microsoft 700082 in description only", status: 400, ctype: js,
			body:  `{"error":"interaction_required","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`,
			class: provider.ClassInvalidCredentials, msg: "invalid_grant"},
		{name: "microsoft 50173 password changed", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS50173: The provided grant has expired due to it being revoked.","error_codes":[50173]}`,
			class: provider.ClassInvalidCredentials, msg: "sign in again"},
		{name: "microsoft bad secret", status: 401, ctype: js,
			body:  `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`,
			class: provider.ClassInvalidClient, msg: "client_id and client_secret",
			pe: map[string]any{"error": "invalid_client", "status": 401}},
		{name: "google unauthorized_client", status: 400, ctype: js,
			body:  `{"error":"unauthorized_client","error_description":"Unauthorized"}`,
			class: provider.ClassInvalidClient, msg: "client credentials"},
		{name: "invalid_scope", status: 400, ctype: js,
			body:  `{"error":"invalid_scope","error_description":"Some requested scopes were invalid."}`,
			class: provider.ClassMissingScope, msg: "scopes"},
		{name: "microsoft 65001 consent", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented","error_codes":[65001]}`,
			class: provider.ClassMissingScope, msg: "consent"},
		{name: "zoom invalid token", status: 400, ctype: js,
			body:  `{"reason":"Invalid Token!","error":"invalid_request"}`,
			class: provider.ClassInvalidCredentials, msg: "rejected the refresh token",
			pe: map[string]any{"reason": "Invalid Token!", "error": "invalid_request"}},
		{name: "zoom invalid client", status: 401, ctype: js,
			body:  `{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`,
			class: provider.ClassInvalidClient, msg: "client_id and client_secret"},
		{name: "other 4xx keeps provider words", status: 400, ctype: js,
			body:  `{"error":"invalid_request","error_description":"Missing required parameter: foo"}`,
			class: provider.ClassInvalidCredentials, msg: "Missing required parameter: foo"},
		{name: "401 without body", status: 401,
			class: provider.ClassInvalidClient, msg: "client_id and client_secret"},
		{name: "form-encoded error", status: 400, ctype: "application/x-www-form-urlencoded",
			body:  "error=invalid_grant&error_description=bad+token",
			class: provider.ClassInvalidCredentials, msg: "invalid_grant",
			pe: map[string]any{"error": "invalid_grant"}},
		{name: "503 temporarily_unavailable", status: 503, ctype: js,
			body:  `{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred.","error_codes":[90033]}`,
			class: provider.ClassUnavailable, msg: "try again"},
		{name: "html 502", status: 502, ctype: "text/html; charset=UTF-8",
			body:  "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>body{}</style></head><body><h1>Bad Gateway</h1></body></html>",
			class: provider.ClassUnavailable, msg: "502 Bad Gateway",
			pe: map[string]any{"status": 502, "body": "502 Bad Gateway"}},
		{name: "429", status: 429, ctype: js, body: `{"error":"rate_limit_exceeded"}`,
			class: provider.ClassUnavailable, msg: "try again"},
		{name: "500 plain text", status: 500, ctype: "text/plain", body: "internal error",
			class: provider.ClassUnavailable},
		{name: "invalid_grant with 5xx is still transient", status: 500, ctype: js, body: `{"error":"invalid_grant"}`,
			class: provider.ClassUnavailable},
		{name: "200 not JSON", status: 200, ctype: "application/json", body: "<html>oops</html>",
			class: provider.ClassUnavailable, msg: "without a usable token"},
		{name: "200 without access_token", status: 200, ctype: js, body: `{"token_type":"Bearer"}`,
			class: provider.ClassUnavailable},
		// No OAuth error code: a proxy, firewall or wrong token URL, no
		// verdict on the token (a refresh must not invalidate the grant).
		{name: "404 html is no verdict on the token, in the provider's words", status: 404, ctype: "text/html",
			body:  "<html><body><p>Not Found</p></body></html>",
			class: provider.ClassUnavailable, msg: "Not Found"},
		{name: "403 html from a proxy is no verdict on the token", status: 403, ctype: "text/html",
			body:  "<html><head><title>Access denied</title></head></html>",
			class: provider.ClassUnavailable, msg: "Access denied"},
		{name: "408 is transient", status: 408, ctype: "text/html", body: "<html><title>Request Timeout</title></html>",
			class: provider.ClassUnavailable},
		{name: "409 with an OAuth body is still transient", status: 409, ctype: js, body: `{"error":"invalid_request"}`,
			class: provider.ClassUnavailable},
		{name: "Entra throttling (AADSTS50196 as invalid_grant) is transient", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop.","error_codes":[50196]}`,
			class: provider.ClassUnavailable},
		{name: "Entra unknown tenant is the client's configuration", status: 400, ctype: js,
			body:  `{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.","error_codes":[90002]}`,
			class: provider.ClassInvalidClient, msg: "tenant"},
		{name: "Entra invalid tenant identifier is the client's configuration", status: 400, ctype: js,
			body:  `{"error":"invalid_request","error_description":"AADSTS900023: Specified tenant identifier 'x y' is neither a valid DNS name, nor a valid external domain.","error_codes":[900023]}`,
			class: provider.ClassInvalidClient, msg: "tenant"},
		{name: "Entra MFA required says so", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.","error_codes":[50076]}`,
			class: provider.ClassInvalidCredentials, msg: "multi-factor authentication"},
		{name: "Entra conditional access says so", status: 400, ctype: js,
			body:  `{"error":"invalid_grant","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies.","error_codes":[53003]}`,
			class: provider.ClassInvalidCredentials, msg: "conditional access policy"},
		{name: "echoed request is dropped and secrets redacted", status: 400, ctype: js,
			body: `{"error":"invalid_grant","error_description":"refresh token ` + testRT + ` is bad; client ` + url.QueryEscape(testSecret) + `",` +
				`"request":"grant_type=refresh_token&client_secret=` + testSecret + `","access_token":"` + testAccess + `"}`,
			class: provider.ClassInvalidCredentials, notInPE: []string{"request", "access_token"}, noSecret: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := tokenServer(t, tc.status, tc.ctype, tc.body)
			s := session(t, srv.Client())
			_, err := s.Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}, nil)
			pe := providertest.Class(t, err, tc.class)
			if tc.msg != "" && !strings.Contains(pe.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", pe.Message, tc.msg)
			}
			if !strings.Contains(pe.Message, "Acme") && !strings.Contains(pe.Message, "provider") {
				t.Errorf("message %q names neither the provider nor 'provider'", pe.Message)
			}
			for k, want := range tc.pe {
				if got := pe.ProviderError[k]; got != want {
					t.Errorf("ProviderError[%q] = %#v, want %#v (all: %v)", k, got, want, pe.ProviderError)
				}
			}
			for _, k := range tc.notInPE {
				if _, ok := pe.ProviderError[k]; ok {
					t.Errorf("ProviderError holds %q: %v", k, pe.ProviderError)
				}
			}
			if got := n.Load(); got != 1 {
				t.Errorf("token endpoint called %d times, want 1 (AuthStyle probing?)", got)
			}
			providertest.NoSecrets(t, err, testRT, testSecret, testAccess)
			if tc.noSecret && !strings.Contains(pe.Message, provider.Redacted) {
				t.Errorf("message %q: secrets were not replaced by %s", pe.Message, provider.Redacted)
			}
		})
	}
}

func TestMicrosoftErrorCodesKept(t *testing.T) {
	srv, _ := tokenServer(t, 400, "application/json",
		`{"error":"invalid_grant","error_description":"AADSTS70000: bad","error_codes":[70000,123],"error_uri":"https://login/error?code=70000"}`)
	_, err := session(t, srv.Client()).Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}, nil)
	pe := providertest.Class(t, err, provider.ClassInvalidCredentials)
	codes, ok := pe.ProviderError["error_codes"].([]any)
	if !ok || len(codes) != 2 || codes[0] != int64(70000) {
		t.Fatalf("error_codes = %#v", pe.ProviderError["error_codes"])
	}
	if pe.ProviderError["error_uri"] != "https://login/error?code=70000" {
		t.Errorf("error_uri = %#v", pe.ProviderError["error_uri"])
	}
}

func TestTransportErrors(t *testing.T) {
	ep := func(u string) oauthx.TokenEndpoint {
		return oauthx.TokenEndpoint{URL: u, AuthStyle: oauth2.AuthStyleInParams}
	}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		start := time.Now()
		_, err = session(t, &http.Client{Timeout: 5 * time.Second}).Redeem(context.Background(), ep("http://"+addr+"/token"), nil)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "connection refused") || !strings.Contains(pe.Message, "try again") {
			t.Errorf("message = %q", pe.Message)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		providertest.NoSecrets(t, err, testRT, testSecret)
	})

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	t.Run("client timeout", func(t *testing.T) {
		start := time.Now()
		_, err := session(t, &http.Client{Timeout: 150 * time.Millisecond}).Redeem(context.Background(), ep(slow.URL), nil)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "timed out") {
			t.Errorf("message = %q", pe.Message)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := session(t, &http.Client{Timeout: 10 * time.Second}).Redeem(ctx, ep(slow.URL), nil)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "timed out") {
			t.Errorf("message = %q", pe.Message)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("dns failure", func(t *testing.T) {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "token.example", IsNotFound: true}}
		}}
		_, err := session(t, &http.Client{Transport: tr}).Redeem(context.Background(), ep("http://token.example/token"), nil)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "cannot resolve host token.example") {
			t.Errorf("message = %q", pe.Message)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
		defer tlsSrv.Close()
		_, err := session(t, &http.Client{Timeout: 5 * time.Second}).Redeem(context.Background(), ep(tlsSrv.URL), nil)
		pe := providertest.Class(t, err, provider.ClassTLS)
		if !strings.Contains(pe.Message, "certificate") {
			t.Errorf("message = %q", pe.Message)
		}
	})

	t.Run("trusted certificate works", func(t *testing.T) {
		tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"` + testAccess + `","expires_in":60}`))
		}))
		defer tlsSrv.Close()
		if _, err := session(t, tlsSrv.Client()).Redeem(context.Background(), ep(tlsSrv.URL), nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("tls handshake to a plain http server", func(t *testing.T) {
		plain := httptest.NewServer(http.NotFoundHandler())
		defer plain.Close()
		u := strings.Replace(plain.URL, "http://", "https://", 1)
		_, err := session(t, &http.Client{Timeout: 5 * time.Second}).Redeem(context.Background(), ep(u), nil)
		providertest.Class(t, err, provider.ClassUnavailable)
	})
}

func TestIdentityErrorClassification(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		unauth provider.Class
		class  provider.Class
		pe     map[string]any
	}{
		{name: "401 invalid token", status: 401, body: `{"code":124,"message":"Invalid access token."}`,
			class: provider.ClassInvalidCredentials, pe: map[string]any{"code": int64(124), "message": "Invalid access token.", "endpoint": "identity"}},
		{name: "401 counts as missing scope where the provider says so", status: 401,
			body: `{"error":"invalid_request","error_description":"Invalid Credentials"}`, unauth: provider.ClassMissingScope,
			class: provider.ClassMissingScope},
		{name: "401 insufficient_scope header", status: 401,
			header: map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope"`},
			class:  provider.ClassMissingScope},
		{name: "403 graph", status: 403,
			body:  `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`,
			class: provider.ClassMissingScope, pe: map[string]any{"error": "Authorization_RequestDenied", "error_description": "Insufficient privileges to complete the operation."}},
		{name: "403 google api", status: 403,
			body:  `{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED"}}`,
			class: provider.ClassMissingScope, pe: map[string]any{"error": "PERMISSION_DENIED"}},
		{name: "zoom 4711", status: 400, body: `{"code":4711,"message":"Invalid access token, does not contain scopes:[user:read:user]."}`,
			class: provider.ClassMissingScope},
		{name: "404", status: 404, body: `{"error":"not_found"}`, class: provider.ClassInvalidCredentials},
		{name: "503", status: 503, body: `{"error":{"code":"serviceNotAvailable","message":"Service Unavailable"}}`,
			class: provider.ClassUnavailable},
		{name: "429", status: 429, class: provider.ClassUnavailable},
		{name: "502 html", status: 502, body: "<html><head><title>Bad Gateway</title></head></html>",
			class: provider.ClassUnavailable, pe: map[string]any{"body": "Bad Gateway"}},
		{name: "200 not JSON", status: 200, body: "<html>hello</html>", class: provider.ClassUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotAuth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth = r.Header.Get("Authorization")
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			s := session(t, srv.Client())
			s.Unauthorized = tc.unauth
			var out map[string]any
			err := s.GetJSON(context.Background(), "me endpoint", srv.URL+"/me", testAccess, &out)
			pe := providertest.Class(t, err, tc.class)
			for k, want := range tc.pe {
				if got := pe.ProviderError[k]; got != want {
					t.Errorf("ProviderError[%q] = %#v, want %#v (all %v)", k, got, want, pe.ProviderError)
				}
			}
			if gotAuth != "Bearer "+testAccess {
				t.Errorf("Authorization = %q", gotAuth)
			}
			if !strings.Contains(pe.Message, "me endpoint") {
				t.Errorf("message %q does not name the endpoint", pe.Message)
			}
			providertest.NoSecrets(t, err, testRT, testSecret, testAccess)
		})
	}
}

func TestRedeemSendsClientAndParams(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		var form url.Values
		var user, pass string
		var basic bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			form = r.PostForm
			user, pass, basic = r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"` + testAccess + `","refresh_token":"rt-new-SECRET","expires_in":3600,"scope":"x y,z"}`))
		}))
		s := session(t, srv.Client())
		tok, err := s.Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: style}, url.Values{"scope": {"x y offline_access"}})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != testRT || form.Get("scope") != "x y offline_access" {
			t.Errorf("style %v: form = %v", style, form)
		}
		switch style {
		case oauth2.AuthStyleInParams:
			if basic || form.Get("client_id") != "client-1" || form.Get("client_secret") != testSecret {
				t.Errorf("in params: basic=%v form=%v", basic, form)
			}
		case oauth2.AuthStyleInHeader:
			if !basic || user != "client-1" || pass != testSecret || form.Has("client_secret") {
				t.Errorf("in header: basic=%v user=%q form=%v", basic, user, form)
			}
		}
		res := s.Result(tok, oauthx.Identity{Email: "a@b.c"})
		if res.Secrets["refresh_token"] != "rt-new-SECRET" || res.Secrets["access_token"] != testAccess {
			t.Errorf("secrets = %v", res.Secrets)
		}
		if strings.Join(res.Scope, "|") != "x|y|z" {
			t.Errorf("scope = %v", res.Scope)
		}
		if d := time.Until(res.AccessTokenExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Errorf("expires in %v", d)
		}
	}
}

func TestResultKeepsOriginalTokenAndRequestedScope(t *testing.T) {
	srv, _ := tokenServer(t, 200, "application/json", `{"access_token":"`+testAccess+`"}`)
	s := session(t, srv.Client())
	tok, err := s.Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := s.Result(tok, oauthx.Identity{Email: "a@b.c", Name: "A", ProviderUserID: "1"})
	if res.Secrets["refresh_token"] != testRT {
		t.Errorf("refresh_token = %q, want the original", res.Secrets["refresh_token"])
	}
	if strings.Join(res.Scope, " ") != "a b" {
		t.Errorf("scope = %v, want the requested", res.Scope)
	}
	if !res.AccessTokenExpiresAt.IsZero() {
		t.Errorf("expiry = %v, want zero", res.AccessTokenExpiresAt)
	}
	if res.Settings == nil || len(res.Settings) != 0 {
		t.Errorf("settings = %v", res.Settings)
	}
}

// A token endpoint that echoes what it was sent (in its error text, cut
// at the provider's or grantd's length limits, or as the Basic header it
// received) must not get a secret into the error.
func TestEchoedSecretsRedacted(t *testing.T) {
	long := "M.C5_BAY." + strings.Repeat("Xy0-!*", 120) // an Entra-sized refresh token
	var style oauth2.AuthStyle
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
		echo  func(r *http.Request) string
	}{
		{"long token in the description", oauth2.AuthStyleInParams, func(r *http.Request) string {
			return "The refresh token " + r.PostFormValue("refresh_token") + " is invalid."
		}},
		{"token across the 200-character cut", oauth2.AuthStyleInParams, func(r *http.Request) string {
			return strings.Repeat("x", 190) + " " + r.PostFormValue("refresh_token")
		}},
		{"Basic header", oauth2.AuthStyleInHeader, func(r *http.Request) string {
			return "bad client; you sent Authorization: " + r.Header.Get("Authorization")
		}},
		{"JSON-escaped client secret", oauth2.AuthStyleInParams, func(r *http.Request) string {
			return "client_secret " + r.PostFormValue("client_secret") + " unknown"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			style = tc.style
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant", "error_description": tc.echo(r)})
			}))
			defer srv.Close()
			secret := `cs-"SECRET"\client<&>`
			s, err := oauthx.Start(provider.Request{
				Settings: map[string]any{"refresh_token": long},
				Client:   provider.Client{ClientID: "client-1", ClientSecret: secret},
			}, "Acme", srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: style}, nil)
			pe := providertest.Class(t, err, provider.ClassInvalidCredentials)
			all := err.Error() + " " + fmt.Sprint(pe.ProviderError)
			for _, leak := range []string{long[:12], "SECRET", base64.StdEncoding.EncodeToString([]byte("client-1:" + url.QueryEscape(secret)))[:12]} {
				if strings.Contains(all, leak) {
					t.Errorf("%q in the error: %s", leak, all)
				}
			}
			if !strings.Contains(all, provider.Redacted) {
				t.Errorf("nothing was redacted: %s", all)
			}
		})
	}
}

// A token endpoint that redirects does not get the refresh token and the
// client secret sent on to wherever it points.
func TestTokenRedirectNotFollowed(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"x","token_type":"Bearer","expires_in":3600}`)
	}))
	defer elsewhere.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv, _ := tokenServer(t, 0, "", "")
		srv.Config.Handler = http.RedirectHandler(elsewhere.URL+"/token", code)
		_, err := session(t, srv.Client()).Redeem(context.Background(), oauthx.TokenEndpoint{URL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}, nil)
		pe := providertest.Class(t, err, provider.ClassUnavailable)
		if !strings.Contains(pe.Message, "unexpected answer") {
			t.Errorf("%d: message %q", code, pe.Message)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}
