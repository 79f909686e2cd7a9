package oauthx_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
	"github.com/grantd/grantd/internal/provider/providertest"
)

func TestStartBadRequests(t *testing.T) {
	good := provider.Client{ClientID: "id", ClientSecret: "secret"}
	cases := []struct {
		name     string
		settings map[string]any
		client   provider.Client
		msg      string
	}{
		{"no settings", nil, good, "settings.refresh_token is required"},
		{"missing", map[string]any{"other": 1}, good, "settings.refresh_token is required"},
		{"null", map[string]any{"refresh_token": nil}, good, "settings.refresh_token is required"},
		{"number", map[string]any{"refresh_token": 12.0}, good, "must be a string holding the user's OAuth refresh token, got a number"},
		{"object", map[string]any{"refresh_token": map[string]any{}}, good, "got an object"},
		{"array", map[string]any{"refresh_token": []any{"x"}}, good, "got an array"},
		{"bool", map[string]any{"refresh_token": true}, good, "got a boolean"},
		{"empty", map[string]any{"refresh_token": ""}, good, "settings.refresh_token is empty"},
		{"blank", map[string]any{"refresh_token": "  \t"}, good, "settings.refresh_token is empty"},
		{"no client id", map[string]any{"refresh_token": "rt"}, provider.Client{ClientSecret: "s"}, "has no client_id"},
		{"no client secret", map[string]any{"refresh_token": "rt"}, provider.Client{ClientID: "i"}, "has no client_secret"},
		{"no client", map[string]any{"refresh_token": "rt"}, provider.Client{}, "no client_id and no client_secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oauthx.Start(provider.Request{Settings: tc.settings, Client: tc.client}, oauthx.Options{Provider: "Acme"}, nil)
			pe := providertest.Class(t, err, provider.ClassBadRequest)
			if !strings.Contains(pe.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", pe.Message, tc.msg)
			}
		})
	}
}

func TestSplitScope(t *testing.T) {
	got := oauthx.SplitScope(" a b,c,,d  a\tb ")
	if strings.Join(got, "|") != "a|b|c|d" {
		t.Fatalf("SplitScope = %q", got)
	}
	if got := oauthx.SplitScope(""); len(got) != 0 {
		t.Fatalf("SplitScope(\"\") = %q", got)
	}
}

func TestRedact(t *testing.T) {
	secret := "s3cr/et+token"
	cause := fmt.Errorf("wrapped: %w", errors.New("body had s3cr%2Fet%2Btoken in it"))
	in := &provider.Error{
		Class:         provider.ClassInvalidCredentials,
		Message:       "token s3cr/et+token rejected",
		ProviderError: map[string]any{"error_description": "bad s3cr/et+token", "codes": []any{"s3cr/et+token", int64(1)}, "status": 400},
		Err:           cause,
	}
	out := provider.NewRedactor(secret, "ab").Error(in) // short strings are not redacted
	providertest.NoSecrets(t, out, secret)
	pe := providertest.Class(t, out, provider.ClassInvalidCredentials)
	if pe.Message != "token [REDACTED] rejected" {
		t.Errorf("message = %q", pe.Message)
	}
	if pe.ProviderError["status"] != 400 {
		t.Errorf("status lost: %v", pe.ProviderError)
	}
	if errors.Unwrap(pe.Err) != nil {
		t.Errorf("redacted cause still unwraps to the original")
	}
	if in.Message != "token s3cr/et+token rejected" {
		t.Errorf("Redact modified its input")
	}
	// A clean cause is kept as is, so errors.Is keeps working.
	clean := &provider.Error{Class: provider.ClassUnavailable, Message: "m", Err: cause}
	if got := provider.NewRedactor("nothing-here").Error(clean).(*provider.Error); got.Err != cause {
		t.Errorf("clean cause replaced")
	}
	if provider.NewRedactor(secret).Error(nil) != nil {
		t.Errorf("Redact(nil) != nil")
	}
	plain := provider.NewRedactor(secret).Error(errors.New("x s3cr/et+token"))
	if strings.Contains(plain.Error(), secret) {
		t.Errorf("plain error not redacted: %v", plain)
	}
}

func TestParseProviderError(t *testing.T) {
	pe := oauthx.ParseProviderError("token", 400, "application/json",
		[]byte(`{"error":"invalid_grant","error_description":"`+strings.Repeat("x", 900)+`","nested":{"a":1},"error_codes":[1,[2],{"x":1}]}`))
	if d := pe["error_description"].(string); len([]rune(d)) != 501 {
		t.Errorf("description not truncated: %d", len([]rune(d)))
	}
	if _, ok := pe["nested"]; ok {
		t.Errorf("unknown field kept")
	}
	if codes := pe["error_codes"].([]any); len(codes) != 1 {
		t.Errorf("error_codes = %#v", codes)
	}
	pe = oauthx.ParseProviderError("token", 502, "", []byte("   upstream\n\n  connect error   "))
	if pe["body"] != "upstream connect error" {
		t.Errorf("body = %q", pe["body"])
	}
	pe = oauthx.ParseProviderError("token", 502, "text/html", []byte("<html><body><script>var x=1;</script><h1>Bad</h1> <p>gateway</p></body></html>"))
	if pe["body"] != "Bad gateway" {
		t.Errorf("html body = %q", pe["body"])
	}
}
