package google_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/provider/providertest"
	"github.com/grantd/grantd/internal/sandbox"
)

// saKey registers a service account of acme.test at sb and returns its
// JSON key.
func saKey(t testing.TB, sb *sandbox.Sandbox) []byte {
	t.Helper()
	raw, err := sb.AddServiceAccount(sandbox.ServiceAccount{Domain: "acme.test", Scopes: []string{scGmail}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func credOf(t testing.TB, raw []byte) provider.AppCredential {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return provider.AppCredential{Type: google.CredentialServiceAccount, Data: m}
}

// TestMintAppToken: real JWT-bearer exchanges with the sandbox: a token
// for a user of the domain; a refused user, missing delegation and a
// replaced key are classified; an unreachable token endpoint is
// unavailable; no error holds the private key.
func TestMintAppToken(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.AddUser(sandbox.Google, sandbox.User{Email: "ada@acme.test"})
	sb.AddUser(sandbox.Google, sandbox.User{Email: "eve@other.test"})
	raw := saKey(t, sb)
	cred := credOf(t, raw)
	pk := cred.Data["private_key"].(string)
	p := google.New(sb.Providers().Google, nil)
	ctx := context.Background()

	tok, err := p.MintAppToken(ctx, cred, "ada@acme.test", []string{scGmail})
	if err != nil || tok.AccessToken == "" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
		t.Fatalf("mint: %+v %v", tok, err)
	}
	check := func(name string, err error, class provider.Class, words string) {
		t.Helper()
		pe := providertest.Class(t, err, class)
		providertest.NoSecrets(t, pe, pk, pk[40:80])
		if !strings.Contains(pe.Message, words) {
			t.Errorf("%s: message %q lacks %q", name, pe.Message, words)
		}
	}
	_, err = p.MintAppToken(ctx, cred, "eve@other.test", []string{scGmail})
	check("user outside the domain", err, provider.ClassInvalidCredentials, "does not exist")
	_, err = p.MintAppToken(ctx, cred, "ada@acme.test", []string{"https://www.googleapis.com/auth/gmail.send"})
	check("scope not delegated", err, provider.ClassInvalidCredentials, "domain-wide delegation")

	// The same account with a new key: the old key's signature is refused.
	var k struct {
		ClientEmail string `json:"client_email"`
	}
	_ = json.Unmarshal(raw, &k)
	if _, err := sb.AddServiceAccount(sandbox.ServiceAccount{ClientEmail: k.ClientEmail, Domain: "acme.test", Scopes: []string{scGmail}}); err != nil {
		t.Fatal(err)
	}
	_, err = p.MintAppToken(ctx, cred, "ada@acme.test", []string{scGmail})
	check("replaced key", err, provider.ClassInvalidClient, "key")

	// Nothing listens: unavailable.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := sb.Providers().Google
	cfg.TokenURL = "http://" + addr + "/google/token"
	_, err = google.New(cfg, nil).MintAppToken(ctx, cred, "ada@acme.test", []string{scGmail})
	check("unreachable", err, provider.ClassUnavailable, "connection refused")
}

func TestParseServiceAccountKey(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Issuer: "http://sandbox.invalid"})
	raw := saKey(t, sb)
	k, err := google.ParseServiceAccountJSON(raw)
	if err != nil || k.ClientEmail == "" || k.PrivateKeyID == "" || len(k.PrivateKey) == 0 {
		t.Fatalf("a sandbox key: %+v %v", k, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`not json`, "not JSON"},
		{`[]`, "not JSON"},
		{`{"type":"authorized_user"}`, "user's credentials"},
		{`{"type":5}`, "type must be a string"},
		{`{"type":"service_account"}`, "client_email is required"},
		{`{"client_email":"a@b.c","private_key_id":"k"}`, "private_key is required"},
		{`{"client_email":"a@b.c","private_key_id":"k","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`, "does not parse"},
	} {
		_, err := google.ParseServiceAccountJSON([]byte(tc.in))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%s: %v (want %q)", tc.in, err, tc.want)
		}
	}
}

// FuzzParseServiceAccountJSON: the key parser never panics, and accepts
// only keys whose private key parses; its errors are ClassBadRequest and
// never repeat the private key.
func FuzzParseServiceAccountJSON(f *testing.F) {
	sb := sandbox.New(sandbox.Options{Issuer: "http://sandbox.invalid"})
	raw := saKey(f, sb)
	f.Add(raw)
	f.Add([]byte(`{"type":"service_account","client_email":"a@b.c","private_key_id":"k","private_key":"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"}`))
	f.Add([]byte(`{"private_key":{"x":1}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := google.ParseServiceAccountJSON(b)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Class != provider.ClassBadRequest {
				t.Fatalf("unclassified error %v", err)
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				if s, _ := m["private_key"].(string); len(s) > 24 && strings.Contains(pe.Message, s) {
					t.Fatalf("error repeats the private key")
				}
			}
			return
		}
		if _, err := google.ParsePrivateKey(k.PrivateKey); err != nil || k.ClientEmail == "" || k.PrivateKeyID == "" {
			t.Fatalf("accepted a key that does not parse: %v", err)
		}
	})
}
