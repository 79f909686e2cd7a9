package icloud_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/icloud"
	"github.com/grantd/grantd/internal/provider/imap"
	"github.com/grantd/grantd/internal/sandbox/mail"
)

func TestICloud(t *testing.T) {
	srv, err := mail.Start(mail.Options{TLS: mail.ImplicitTLS, Users: []mail.User{
		{Email: "ada@icloud.com", Password: "apple-account-pw", AppPassword: "abcd-efgh-ijkl-mnop", Behavior: mail.AppPasswordOnly},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	v := icloud.New(srv.MailHosts(), imap.New(imap.Options{Network: netx.Config{AllowPrivateHosts: true, Timeout: 3 * time.Second}, TLS: &tls.Config{RootCAs: pool}}))
	validate := func(s map[string]any) (provider.Result, *provider.Error) {
		r, err := v.Validate(context.Background(), provider.Request{Settings: s})
		if err != nil {
			pe, ok := err.(*provider.Error)
			if !ok {
				t.Fatalf("unclassified %v", err)
			}
			return r, pe
		}
		return r, nil
	}

	r, pe := validate(map[string]any{"username": "Ada@iCloud.com", "password": "abcd-efgh-ijkl-mnop"})
	if pe != nil {
		t.Fatal(pe)
	}
	if r.Email != "ada@icloud.com" || r.Settings["username"] != "Ada@iCloud.com" || r.Settings["imap_port"] != srv.IMAPPort() || r.Secrets["password"] != "abcd-efgh-ijkl-mnop" || len(r.Secrets) != 1 {
		t.Errorf("result %+v", r)
	}

	// The Apple Account password: the server says an app password is needed.
	_, pe = validate(map[string]any{"username": "ada@icloud.com", "password": "apple-account-pw"})
	if pe == nil || pe.Class != provider.ClassAppPasswordRequired || !strings.Contains(pe.Message, "appleid.apple.com") {
		t.Fatalf("regular password: %v", pe)
	}
	// Any other password: wrong credentials, with the app-password hint.
	_, pe = validate(map[string]any{"username": "ada@icloud.com", "password": "wrong-pw-77"})
	if pe == nil || pe.Class != provider.ClassInvalidCredentials || !strings.Contains(pe.Message, "App-Specific Passwords") {
		t.Fatalf("wrong password: %v", pe)
	}
	for _, c := range []struct {
		s    map[string]any
		want string
	}{
		{map[string]any{"password": "x"}, "settings.username is required"},
		{map[string]any{"username": "ada@icloud.com"}, "settings.password is required"},
		{map[string]any{"username": 7, "password": "x"}, "settings.username must be a string"},
		{map[string]any{"username": "ada", "password": "x"}, "not an email address"},
	} {
		if _, pe := validate(c.s); pe == nil || pe.Class != provider.ClassBadRequest || !strings.Contains(pe.Message, c.want) {
			t.Errorf("%v: %v", c.s, pe)
		}
	}
}
