package native

import (
	"errors"
	"testing"
)

// FuzzParseAuthorize: the request parser, and the mapping of what it
// accepts (settings per provider, scopes), answer any body with a request
// or a 400, never a panic or another error.
func FuzzParseAuthorize(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"app","name":"Ada","email_address":"ada@example.com","provider":"imap","settings":{"imap_host":"imap.example.com","imap_port":993,"imap_username":"ada","imap_password":"pw","smtp_host":"smtp.example.com","smtp_port":"465","ssl_required":true},"scopes":"email,calendar"}`,
		`{"client_id":"app","email_address":"g@gmail.com","provider":"gmail","settings":{"google_client_id":"c","google_client_secret":"s","google_refresh_token":"r"},"scopes":"email.read_only,contacts"}`,
		`{"client_id":"app","email_address":"o@example.com","provider":"office365","settings":{"microsoft_client_id":"c","microsoft_client_secret":"s","microsoft_refresh_token":"r","redirect_uri":"https://x"}}`,
		`{"client_id":"app","email_address":"e@example.com","provider":"exchange","settings":{"username":"DOM\\e","password":"p","eas_server_host":"mail.example.com"}}`,
		`{"client_id":"app","email_address":"y@yahoo.com","provider":"yahoo","settings":{"password":"p"},"reauth_account_id":"x"}`,
		`{"client_id":"app","provider":"nylas","email":"room","scopes":["calendar"],"settings":{}}`,
		`{"scopes":[1]}`, `{"settings":[]}`, `{"provider":null}`, `[]`, `{`, `{} {}`, "\xff", `{"name":"\u0000"}`,
		`{"provider":"imap","settings":{"imap_port":"0x10"}}`, `{"provider":"aol","settings":{"password":"p","eas_server_host":"h"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseAuthorize(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Message == "" {
				t.Fatalf("ParseAuthorize: %v", err)
			}
			return
		}
		v2, ok := lookupProvider(req.Provider)
		if !ok {
			return
		}
		if _, err := checkSettings(v2, req.Settings); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("checkSettings: %v", err)
			}
		}
		if _, err := mapScopes(req.Scopes, v2.Provider); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("mapScopes: %v", err)
			}
		}
	})
}

// FuzzParseToken: the body of /connect/token is a request or a 400.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{`{"client_id":"a","client_secret":"k","code":"c"}`, `{"code":5}`, `{}`, `{"client_id":"a","client_secret":"k","code":"c","x":1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseToken(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("ParseToken: %v", err)
			}
			return
		}
		if r.ClientID == "" || r.ClientSecret == "" || r.Code == "" {
			t.Fatalf("accepted %q without a field", body)
		}
	})
}
