package oauthx_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
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
	"github.com/grantd/grantd/internal/provider/oauthx/oauthxtest"
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
	}, oauthx.Options{Provider: "Acme"}, hc)
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
	oauthxtest.RunTokenErrors(t, "Acme", []string{testRT, testSecret, testAccess}, func(u string, hc *http.Client) error {
		_, err := session(t, hc).Redeem(context.Background(), oauthx.TokenEndpoint{URL: u, AuthStyle: oauth2.AuthStyleInParams}, nil)
		return err
	}, []oauthxtest.TokenErrorCase{
		{Name: "google invalid_grant", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
			Class: provider.ClassInvalidCredentials, Msg: "rejected the refresh token (invalid_grant",
			PE: map[string]any{"error": "invalid_grant", "error_description": "Token has been expired or revoked.", "status": 400, "endpoint": "token"}},
		{Name: "microsoft 70008", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: x","error_codes":[70008],"trace_id":"t","correlation_id":"c","timestamp":"2026"}`,
			Class: provider.ClassInvalidCredentials, Msg: "Ask the user to sign in again",
			PE: map[string]any{"error": "invalid_grant", "trace_id": "t", "correlation_id": "c"}},
		{Name: "microsoft 50173 password changed", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"AADSTS50173: The provided grant has expired due to it being revoked.","error_codes":[50173]}`,
			Class: provider.ClassInvalidCredentials, Msg: "sign in again"},
		{Name: "microsoft bad secret", Status: 401, CType: js,
			Body:  `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`,
			Class: provider.ClassInvalidClient, Msg: "client_id and client_secret",
			PE: map[string]any{"error": "invalid_client", "status": 401}},
		{Name: "google unauthorized_client", Status: 400, CType: js,
			Body:  `{"error":"unauthorized_client","error_description":"Unauthorized"}`,
			Class: provider.ClassInvalidClient, Msg: "client credentials"},
		{Name: "invalid_scope", Status: 400, CType: js,
			Body:  `{"error":"invalid_scope","error_description":"Some requested scopes were invalid."}`,
			Class: provider.ClassMissingScope, Msg: "scopes"},
		{Name: "zoom invalid client", Status: 401, CType: js,
			Body:  `{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`,
			Class: provider.ClassInvalidClient, Msg: "client_id and client_secret"},
		{Name: "other 4xx keeps provider words", Status: 400, CType: js,
			Body:  `{"error":"invalid_request","error_description":"Missing required parameter: foo"}`,
			Class: provider.ClassInvalidCredentials, Msg: "Missing required parameter: foo"},
		{Name: "401 without body", Status: 401,
			Class: provider.ClassInvalidClient, Msg: "client_id and client_secret"},
		{Name: "form-encoded error", Status: 400, CType: "application/x-www-form-urlencoded",
			Body:  "error=invalid_grant&error_description=bad+token",
			Class: provider.ClassInvalidCredentials, Msg: "invalid_grant",
			PE: map[string]any{"error": "invalid_grant"}},
		{Name: "503 temporarily_unavailable", Status: 503, CType: js,
			Body:  `{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred.","error_codes":[90033]}`,
			Class: provider.ClassUnavailable, Msg: "try again"},
		{Name: "html 502", Status: 502, CType: "text/html; charset=UTF-8",
			Body:  "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>body{}</style></head><body><h1>Bad Gateway</h1></body></html>",
			Class: provider.ClassUnavailable, Msg: "502 Bad Gateway",
			PE: map[string]any{"status": 502, "body": "502 Bad Gateway"}},
		{Name: "429", Status: 429, CType: js, Body: `{"error":"rate_limit_exceeded"}`,
			Class: provider.ClassUnavailable, Msg: "try again"},
		{Name: "500 plain text", Status: 500, CType: "text/plain", Body: "internal error",
			Class: provider.ClassUnavailable},
		{Name: "invalid_grant with 5xx is still transient", Status: 500, CType: js, Body: `{"error":"invalid_grant"}`,
			Class: provider.ClassUnavailable},
		{Name: "200 not JSON", Status: 200, CType: "application/json", Body: "<html>oops</html>",
			Class: provider.ClassUnavailable, Msg: "without a usable token"},
		{Name: "200 without access_token", Status: 200, CType: js, Body: `{"token_type":"Bearer"}`,
			Class: provider.ClassUnavailable},
		// No OAuth error code: a proxy, firewall or wrong token URL, no
		// verdict on the token (a refresh must not invalidate the grant).
		{Name: "404 html is no verdict on the token, in the provider's words", Status: 404, CType: "text/html",
			Body:  "<html><body><p>Not Found</p></body></html>",
			Class: provider.ClassUnavailable, Msg: "Not Found"},
		{Name: "403 html from a proxy is no verdict on the token", Status: 403, CType: "text/html",
			Body:  "<html><head><title>Access denied</title></head></html>",
			Class: provider.ClassUnavailable, Msg: "Access denied"},
		{Name: "408 is transient", Status: 408, CType: "text/html", Body: "<html><title>Request Timeout</title></html>",
			Class: provider.ClassUnavailable},
		{Name: "409 with an OAuth body is still transient", Status: 409, CType: js, Body: `{"error":"invalid_request"}`,
			Class: provider.ClassUnavailable},
		{Name: "echoed request is dropped and secrets redacted", Status: 400, CType: js,
			Body: `{"error":"invalid_grant","error_description":"refresh token ` + testRT + ` is bad; client ` + url.QueryEscape(testSecret) + `",` +
				`"request":"grant_type=refresh_token&client_secret=` + testSecret + `","access_token":"` + testAccess + `"}`,
			Class: provider.ClassInvalidCredentials, NotInPE: []string{"request", "access_token"}, NoSecret: true},
	})
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
		wait   time.Duration // the RetryAfter wanted
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
		{name: "429 graph throttling with Retry-After", status: 429, header: map[string]string{"Retry-After": "12"},
			body:  `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`,
			class: provider.ClassUnavailable, wait: 12 * time.Second},
		{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "3"}, class: provider.ClassUnavailable, wait: 3 * time.Second},
		{name: "403 with Retry-After is no pause", status: 403, header: map[string]string{"Retry-After": "3"}, class: provider.ClassMissingScope},
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
			if pe.RetryAfter != tc.wait {
				t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tc.wait)
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
			}, oauthx.Options{Provider: "Acme"}, srv.Client())
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

// A provider's Classify hook decides what OAuth's codes leave open, in
// OAuth's order: a 5xx stays unavailable and invalid_scope stays a missing
// scope whatever the hook says; the hook's message goes with its class.
func TestClassifyHook(t *testing.T) {
	const js = "application/json"
	hook := func(pe map[string]any) (provider.Class, string) {
		if d, _ := pe["error_description"].(string); strings.Contains(d, "ACME-7") {
			return provider.ClassInvalidClient, "Acme's code 7: the app is suspended (" + oauthx.Words(pe) + ")"
		}
		return "", ""
	}
	oauthxtest.RunTokenErrors(t, "Acme", []string{testRT, testSecret}, func(u string, hc *http.Client) error {
		_, err := oauthx.Refresh(context.Background(), oauthx.Options{Provider: "Acme", Classify: hook}, hc,
			provider.Client{ClientID: "client-1", ClientSecret: testSecret}, testRT, nil,
			oauthx.TokenEndpoint{URL: u, AuthStyle: oauth2.AuthStyleInParams}, nil)
		return err
	}, []oauthxtest.TokenErrorCase{
		{Name: "hook's class and message", Status: 400, CType: js,
			Body:  `{"error":"invalid_request","error_description":"ACME-7 suspended"}`,
			Class: provider.ClassInvalidClient, Msg: "Acme's code 7: the app is suspended (HTTP 400 invalid_request: ACME-7 suspended)"},
		{Name: "hook beats invalid_grant", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"ACME-7 suspended"}`,
			Class: provider.ClassInvalidClient, Msg: "code 7"},
		{Name: "5xx beats the hook", Status: 503, CType: js,
			Body:  `{"error":"invalid_request","error_description":"ACME-7 suspended"}`,
			Class: provider.ClassUnavailable, Msg: "try again later"},
		{Name: "invalid_scope beats the hook", Status: 400, CType: js,
			Body:  `{"error":"invalid_scope","error_description":"ACME-7 suspended"}`,
			Class: provider.ClassMissingScope, Msg: "rejected the requested scopes"},
		{Name: "no opinion: OAuth's rules", Status: 400, CType: js,
			Body:  `{"error":"invalid_grant","error_description":"expired"}`,
			Class: provider.ClassInvalidCredentials, Msg: "Ask the user to sign in again"},
	})
}

// TestAnswered: an error the token endpoint answered is marked Answered
// (the refresher's limiter learns the provider's latency from it); a
// certificate that does not verify or a refused connection is not, nor is
// a request refused before it was sent.
func TestAnswered(t *testing.T) {
	ep := func(u string) oauthx.TokenEndpoint {
		return oauthx.TokenEndpoint{URL: u, AuthStyle: oauth2.AuthStyleInParams}
	}
	answered := func(t *testing.T, err error, want bool) {
		t.Helper()
		var pe *provider.Error
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want a *provider.Error", err)
		}
		if pe.Answered != want {
			t.Errorf("%s: Answered = %v, want %v", pe.Class, pe.Answered, want)
		}
	}
	t.Run("invalid_grant", func(t *testing.T) {
		srv, _ := tokenServer(t, 400, "application/json", `{"error":"invalid_grant"}`)
		_, err := session(t, srv.Client()).Redeem(context.Background(), ep(srv.URL), nil)
		providertest.Class(t, err, provider.ClassInvalidCredentials)
		answered(t, err, true)
	})
	t.Run("429", func(t *testing.T) {
		srv, _ := tokenServer(t, 429, "application/json", `{"error":"rate_limited"}`)
		_, err := session(t, srv.Client()).Redeem(context.Background(), ep(srv.URL), nil)
		providertest.Class(t, err, provider.ClassUnavailable)
		answered(t, err, true)
	})
	t.Run("certificate", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the client refuses
		srv.StartTLS()
		defer srv.Close()
		_, err := session(t, &http.Client{Timeout: 5 * time.Second}).Redeem(context.Background(), ep(srv.URL), nil)
		providertest.Class(t, err, provider.ClassTLS)
		answered(t, err, false)
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = session(t, &http.Client{Timeout: 5 * time.Second}).Redeem(context.Background(), ep("http://"+addr+"/token"), nil)
		providertest.Class(t, err, provider.ClassUnavailable)
		answered(t, err, false)
	})
}

// TestCodeExchangeTransportErrors: a transport failure at the token
// endpoint is the same failure whether a refresh token or an
// authorization code (hosted OAuth's callback) is redeemed: the class, the
// message the user reads and the error logged, all from one request path.
func TestCodeExchangeTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/token"
	l.Close()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	client := provider.Client{ClientID: "client-1", ClientSecret: testSecret}
	for _, tc := range []struct {
		name, url string
		class     provider.Class
		says      string
	}{
		{"connection refused", closed, provider.ClassUnavailable, "connection refused"},
		{"untrusted certificate", untrusted.URL + "/token", provider.ClassTLS, "could not be verified; check network.ca_file"},
		{"timeout", slow.URL + "/token", provider.ClassUnavailable, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Timeout: 300 * time.Millisecond}
			ep := oauthx.TokenEndpoint{URL: tc.url, AuthStyle: oauth2.AuthStyleInParams}
			_, rerr := session(t, hc).Redeem(context.Background(), ep, url.Values{"scope": {"a"}})
			refresh := providertest.Class(t, rerr, tc.class)
			_, xerr := oauthx.ExchangeCode(context.Background(), provider.CodeExchange{Client: client, Code: "code-SECRET", RedirectURI: "https://app.example/cb", CodeVerifier: "verifier-SECRET"},
				oauthx.Options{Provider: "Acme"}, hc, ep, url.Values{"scope": {"a"}},
				func(context.Context, *oauthx.Session, *oauth2.Token) (oauthx.Identity, error) {
					t.Fatal("identify called after a failed exchange")
					return oauthx.Identity{}, nil
				})
			exchange := providertest.Class(t, xerr, tc.class)
			if !strings.Contains(exchange.Message, tc.says) {
				t.Errorf("code exchange message = %q; want it to say %q", exchange.Message, tc.says)
			}
			if exchange.Message != refresh.Message || xerr.Error() != rerr.Error() {
				t.Errorf("code exchange and refresh differ:\n exchange %v\n refresh  %v", xerr, rerr)
			}
			providertest.NoSecrets(t, xerr, "code-SECRET", "verifier-SECRET", testSecret)
		})
	}
}
