package ews_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-ntlmssp"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/ews"
	ewssb "github.com/grantd/grantd/internal/sandbox/ews"
)

const (
	aliceEmail = "alice@contoso.test"
	aliceUser  = `CONTOSO\alice`
	alicePW    = "Alice-PW-canary-3c9e"
	aliceName  = "Alice Liddell"
)

func start(t *testing.T, auth ewssb.Auth) (*ewssb.Server, *ews.Provider) {
	t.Helper()
	srv, err := ewssb.Start(ewssb.Options{Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddUser(aliceEmail, aliceUser, alicePW, aliceName)
	srv.AddUser("bob@contoso.test", `CONTOSO\bob`, "bob-pw", "Bob Builder")
	return srv, ews.New(netx.Config{AllowPrivateHosts: true, CAFile: srv.CAFile(), Timeout: 2 * time.Second}, nil)
}

// echoRedacted checks an error from a server that repeated the password
// and the Authorization header it got: the words are there, the secrets
// are not.
func echoRedacted(t *testing.T, pe *provider.Error) {
	all := pe.Error() + fmt.Sprint(pe.ProviderError)
	if !strings.Contains(all, "Logon of") || !strings.Contains(all, provider.Redacted) {
		t.Errorf("want the server's words, redacted: %s", all)
	}
	if basic := provider.BasicAuth(aliceUser, alicePW); strings.Contains(all, basic) {
		t.Errorf("Basic credentials in the error: %s", all)
	}
}

// dialing returns a validator trusting srv's CA that opens connections
// with dial.
func dialing(srv *ewssb.Server, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *ews.Provider {
	v := ews.New(netx.Config{AllowPrivateHosts: true, CAFile: srv.CAFile(), Timeout: 2 * time.Second}, nil)
	v.Dial = dial
	return v
}

func settings(srv *ewssb.Server, username, password string) map[string]any {
	return map[string]any{
		"email": aliceEmail, "ews_username": username, "ews_password": password,
		"ews_host": srv.Host(), "ews_port": float64(srv.Port()),
	}
}

func validate(v *ews.Provider, s map[string]any, scope ...string) (provider.Result, error) {
	return v.Validate(context.Background(), provider.Request{Settings: s, Scope: scope})
}

// expectClass asserts err's class and that the password appears nowhere in
// the error.
func expectClass(t *testing.T, err error, want provider.Class, password string) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want a *provider.Error of class %s, got %v", want, err)
	}
	if pe.Class != want {
		t.Fatalf("class %s, want %s: %v (provider_error %v)", pe.Class, want, err, pe.ProviderError)
	}
	if len(pe.Message) < 20 {
		t.Errorf("message too short: %q", pe.Message)
	}
	if password != "" {
		if all := err.Error() + fmt.Sprint(pe.ProviderError); strings.Contains(all, password) {
			t.Errorf("password in the error: %s", all)
		}
	}
	return pe
}

func TestValidateSuccess(t *testing.T) {
	for _, tc := range []struct {
		auth       ewssb.Auth
		username   string
		wantMethod string
	}{
		{ewssb.NTLM, aliceUser, "ntlm"},
		{ewssb.NTLM, aliceEmail, "ntlm"},
		{ewssb.Basic, aliceUser, "basic"},
		{ewssb.Basic, aliceEmail, "basic"},
		{ewssb.Both, aliceUser, "ntlm"}, // NTLM is preferred when offered
	} {
		t.Run(tc.auth.String()+"/"+tc.username, func(t *testing.T) {
			srv, v := start(t, tc.auth)
			res, err := validate(v, settings(srv, tc.username, alicePW))
			if err != nil {
				t.Fatal(err)
			}
			if res.Email != aliceEmail || res.Name != aliceName {
				t.Errorf("identity %q %q", res.Email, res.Name)
			}
			if !slices.Equal(res.Scope, []string{"ews.messages", "ews.calendars", "ews.contacts"}) {
				t.Errorf("default scope %v", res.Scope)
			}
			if res.Secrets["ews_password"] != alicePW || len(res.Secrets) != 1 {
				t.Errorf("secrets %v", res.Secrets)
			}
			wantURL := fmt.Sprintf("https://%s:%d/EWS/Exchange.asmx", srv.Host(), srv.Port())
			want := map[string]any{"email": aliceEmail, "ews_username": tc.username, "ews_host": srv.Host(), "ews_port": srv.Port(), "ews_url": wantURL}
			if fmt.Sprint(res.Settings) != fmt.Sprint(want) {
				t.Errorf("settings %v, want %v", res.Settings, want)
			}
			if wantURL != srv.URL() {
				t.Errorf("ews_url %s, sandbox %s", wantURL, srv.URL())
			}
			for _, val := range res.Settings {
				if fmt.Sprint(val) == alicePW {
					t.Errorf("password in settings")
				}
			}
			st := srv.Stats()
			switch tc.wantMethod {
			case "ntlm":
				// One NTLM handshake; the second call rides the authenticated connection.
				if st.NTLMLogins != 1 || st.BasicLogins != 0 {
					t.Errorf("stats %+v: want exactly one NTLM login", st)
				}
			case "basic":
				if st.BasicLogins != 2 || st.NTLMLogins != 0 {
					t.Errorf("stats %+v: want two Basic logins (one per call)", st)
				}
			}
			if st.Connections != 1 {
				t.Errorf("%d connections for one check, want 1", st.Connections)
			}
			last := srv.LastRequest()
			if last.Operation != "GetFolder" || last.ServerVersion != "Exchange2013" || last.ContentType != "text/xml; charset=utf-8" ||
				!slices.Equal(last.FolderIDs, []string{"inbox"}) || last.Mailbox != aliceEmail || last.User != aliceEmail {
				t.Errorf("last request %+v", last)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	for _, auth := range []ewssb.Auth{ewssb.NTLM, ewssb.Basic, ewssb.Both} {
		t.Run(auth.String(), func(t *testing.T) {
			srv, v := start(t, auth)
			wrong := "Wrong-PW-canary-77aa"
			_, err := validate(v, settings(srv, aliceUser, wrong))
			pe := expectClass(t, err, provider.ClassInvalidCredentials, wrong)
			if pe.ProviderError["status"] != 401 {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
			want := "ntlm"
			if auth == ewssb.Basic {
				want = "basic"
			}
			if pe.ProviderError["auth_method"] != want {
				t.Errorf("auth_method %v, want %s", pe.ProviderError["auth_method"], want)
			}
			if !strings.Contains(pe.Message, "ews_password") {
				t.Errorf("message: %s", pe.Message)
			}
			// A user name the server does not know is the same failure.
			_, err = validate(v, settings(srv, `CONTOSO\mallory`, alicePW))
			expectClass(t, err, provider.ClassInvalidCredentials, alicePW)
		})
	}
}

// NTLM authenticates a connection: a client that kept an authenticated
// connection would pass a later check with a wrong password. The sandbox
// behaves like IIS here (first subtest), and the validator opens a fresh
// connection for every check (second).
func TestFreshConnectionPerCheck(t *testing.T) {
	t.Run("a reused connection stays authenticated", func(t *testing.T) {
		srv, _ := start(t, ewssb.NTLM)
		tc, err := netx.TLSConfig(netx.Config{AllowPrivateHosts: true, CAFile: srv.CAFile()})
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: tc, MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: buffered{tr}}, Timeout: 5 * time.Second}
		post := func(pw string) int {
			req, _ := http.NewRequest("POST", srv.URL(), strings.NewReader(getFolderXML))
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.SetBasicAuth(aliceUser, pw)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if s := post(alicePW); s != 200 {
			t.Fatalf("good password: %d", s)
		}
		if s := post("wrong"); s != 200 {
			t.Fatalf("wrong password on the authenticated connection: %d; the sandbox should keep the connection authenticated", s)
		}
		if c := srv.Stats().Connections; c != 1 {
			t.Fatalf("%d connections, want 1", c)
		}
	})
	t.Run("the validator does not reuse it", func(t *testing.T) {
		srv, v := start(t, ewssb.NTLM)
		for i, pw := range []string{alicePW, "wrong-1", alicePW, "wrong-2"} {
			before := srv.Stats().Connections
			_, err := validate(v, settings(srv, aliceUser, pw))
			if strings.HasPrefix(pw, "wrong") {
				expectClass(t, err, provider.ClassInvalidCredentials, pw)
			} else if err != nil {
				t.Fatalf("check %d: %v", i, err)
			}
			if d := srv.Stats().Connections - before; d != 1 {
				t.Errorf("check %d opened %d connections, want 1 new one", i, d)
			}
		}
	})
}

// buffered reads every answer at once, so that the Negotiator, which
// keeps its first 401 open during the handshake, does not need a second
// connection.
type buffered struct{ rt http.RoundTripper }

func (b buffered) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, err
}

const getFolderXML = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>`

func TestFailureClasses(t *testing.T) {
	type setup func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider
	cases := []struct {
		name  string
		auth  ewssb.Auth
		setup setup
		class provider.Class
		check func(t *testing.T, pe *provider.Error)
	}{
		{"basic auth disabled (Bearer only)", ewssb.Both, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailBasicDisabled)
			return nil
		}, provider.ClassBasicAuthDisabled, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["www_authenticate"] != "Bearer" || pe.ProviderError["x_ms_diagnostics"] == nil {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
		}},
		{"EWS disabled for the mailbox (403)", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.DisableEWS(aliceEmail, true)
			return nil
		}, provider.ClassAccessDisabled, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["status"] != 403 {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
		}},
		{"forbidden (403, Basic)", ewssb.Basic, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailForbidden)
			return nil
		}, provider.ClassAccessDisabled, nil},
		{"ErrorAccessDenied", ewssb.Both, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailAccessDenied)
			return nil
		}, provider.ClassAccessDisabled, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["response_code"] != "ErrorAccessDenied" || !strings.Contains(fmt.Sprint(pe.ProviderError["message_text"]), "Access is denied") {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
		}},
		{"another user's mailbox", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			s["email"] = "bob@contoso.test"
			return nil
		}, provider.ClassAccessDisabled, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["operation"] != "GetFolder" || pe.ProviderError["response_code"] != "ErrorAccessDenied" {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
		}},
		{"no such mailbox", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			s["email"] = "nobody@contoso.test"
			return nil
		}, provider.ClassBadRequest, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["response_code"] != "ErrorNonExistentMailbox" || !strings.Contains(pe.Message, "settings.email") {
				t.Errorf("%s %v", pe.Message, pe.ProviderError)
			}
		}},
		{"server repeating the credentials (NTLM)", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailEchoCredentials)
			return nil
		}, provider.ClassUnavailable, echoRedacted},
		{"server repeating the credentials (Basic)", ewssb.Basic, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailEchoCredentials)
			return nil
		}, provider.ClassUnavailable, echoRedacted},
		{"server busy (ErrorServerBusy fault)", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailServerBusy)
			return nil
		}, provider.ClassUnavailable, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["response_code"] != "ErrorServerBusy" || pe.ProviderError["status"] != 500 {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
			// Exchange's throttling says how long to back off.
			if pe.RetryAfter != 29775*time.Millisecond {
				t.Errorf("RetryAfter = %v; want BackOffMilliseconds 29775", pe.RetryAfter)
			}
		}},
		{"503", ewssb.Basic, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.Fail(ewssb.FailUnavailable)
			return nil
		}, provider.ClassUnavailable, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["status"] != 503 || pe.ProviderError["retry_after"] != "30" {
				t.Errorf("provider_error %v", pe.ProviderError)
			}
			if pe.RetryAfter != 30*time.Second {
				t.Errorf("RetryAfter = %v; want the Retry-After header's 30 s", pe.RetryAfter)
			}
		}},
		{"slow server (timeout)", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			srv.SetDelay(2 * time.Second)
			return ews.New(netx.Config{AllowPrivateHosts: true, CAFile: srv.CAFile(), Timeout: 200 * time.Millisecond}, nil)
		}, provider.ClassUnavailable, func(t *testing.T, pe *provider.Error) {
			if !strings.Contains(pe.Message, "did not answer within 200ms") {
				t.Errorf("message %s", pe.Message)
			}
		}},
		{"connection refused", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s["ews_port"] = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			return nil
		}, provider.ClassUnavailable, func(t *testing.T, pe *provider.Error) {
			if !strings.Contains(pe.Message, "refused the connection") {
				t.Errorf("message %s", pe.Message)
			}
		}},
		{"untrusted certificate", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, _ map[string]any) *ews.Provider {
			return ews.New(netx.Config{AllowPrivateHosts: true, Timeout: 2 * time.Second}, nil)
		}, provider.ClassTLS, func(t *testing.T, pe *provider.Error) {
			if !strings.Contains(pe.Message, "network.ca_file") {
				t.Errorf("message %s", pe.Message)
			}
		}},
		{"certificate for another host", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			// mail.wrong.test reaches the server, whose certificate
			// names localhost and 127.0.0.1 only.
			s["ews_host"] = "mail.wrong.test"
			return dialing(srv, func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort(srv.Host(), port))
			})
		}, provider.ClassTLS, func(t *testing.T, pe *provider.Error) {
			if !strings.Contains(pe.Message, "not valid for mail.wrong.test") {
				t.Errorf("message %s", pe.Message)
			}
		}},
		{"host name does not resolve", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			s["ews_host"] = "mail.nowhere.test"
			return dialing(srv, func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
			})
		}, provider.ClassUnavailable, func(t *testing.T, pe *provider.Error) {
			if !strings.Contains(pe.Message, "mail.nowhere.test") || !strings.Contains(pe.Message, "could not be resolved") {
				t.Errorf("message %s", pe.Message)
			}
		}},
		{"plain HTTP on the port", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			plain := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(plain.Close)
			s["ews_host"] = strings.TrimPrefix(plain.URL, "http://")
			delete(s, "ews_port")
			return nil
		}, provider.ClassTLS, nil},
		{"not an EWS endpoint (404)", ewssb.NTLM, func(t *testing.T, srv *ewssb.Server, s map[string]any) *ews.Provider {
			s["ews_host"] = fmt.Sprintf("https://%s:%d/owa/", srv.Host(), srv.Port())
			delete(s, "ews_port")
			return nil
		}, provider.ClassBadRequest, func(t *testing.T, pe *provider.Error) {
			if pe.ProviderError["status"] != 404 || !strings.Contains(pe.Message, "settings.ews_host") {
				t.Errorf("%s %v", pe.Message, pe.ProviderError)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, v := start(t, tc.auth)
			s := settings(srv, aliceUser, alicePW)
			if v2 := tc.setup(t, srv, s); v2 != nil {
				v = v2
			}
			began := time.Now()
			_, err := validate(v, s)
			pe := expectClass(t, err, tc.class, alicePW)
			if tc.check != nil {
				tc.check(t, pe)
			}
			if d := time.Since(began); d > 1500*time.Millisecond {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	srv, v := start(t, ewssb.Both)
	mod := func(f func(map[string]any)) map[string]any {
		s := settings(srv, aliceUser, alicePW)
		f(s)
		return s
	}
	for _, tc := range []struct {
		name string
		s    map[string]any
		want string // "" = success; else a substring of the 400 message
	}{
		{"port as a numeric string", mod(func(s map[string]any) { s["ews_port"] = fmt.Sprint(srv.Port()) }), ""},
		{"port inside ews_host", mod(func(s map[string]any) {
			s["ews_host"] = fmt.Sprintf("%s:%d", srv.Host(), srv.Port())
			delete(s, "ews_port")
		}), ""},
		{"ews_host as the full URL", mod(func(s map[string]any) { s["ews_host"] = srv.URL(); delete(s, "ews_port") }), ""},
		{"email from an email-formatted ews_username", mod(func(s map[string]any) { delete(s, "email"); s["ews_username"] = aliceEmail }), ""},
		{"missing ews_password", mod(func(s map[string]any) { delete(s, "ews_password") }), "settings.ews_password is required"},
		{"missing ews_username", mod(func(s map[string]any) { delete(s, "ews_username") }), "settings.ews_username is required"},
		{"ews_password not a string", mod(func(s map[string]any) { s["ews_password"] = 12 }), "settings.ews_password must be a string"},
		{"no email with DOMAIN user", mod(func(s map[string]any) { delete(s, "email") }), "settings.email is required"},
		{"bad email", mod(func(s map[string]any) { s["email"] = "alice" }), "not an email address"},
		// The address taken from ews_username is named as such.
		{"UPN with a single-label domain", mod(func(s map[string]any) { delete(s, "email"); s["ews_username"] = "alice@contoso" }), `settings.ews_username "alice@contoso" is not an email address`},
		{"bad port", mod(func(s map[string]any) { s["ews_port"] = "44x3" }), "settings.ews_port must be a port number"},
		{"port out of range", mod(func(s map[string]any) { s["ews_port"] = float64(70000) }), "between 1 and 65535"},
		{"port twice", mod(func(s map[string]any) { s["ews_host"] = srv.Host() + ":1234" }), "give the port once"},
		{"http URL", mod(func(s map[string]any) { s["ews_host"] = "http://" + srv.Host() }), "must be an https URL"},
		{"credentials in the URL", mod(func(s map[string]any) { s["ews_host"] = "https://a:b@" + srv.Host() }), "must not contain credentials"},
		// The value is not repeated: it holds a password (which also
		// makes the URL unparsable, or not https, here).
		{"credentials in a bad URL", mod(func(s map[string]any) { s["ews_host"] = "https://alice:" + alicePW + "%zz@" + srv.Host() }), "must not contain credentials"},
		{"credentials in an http URL", mod(func(s map[string]any) { s["ews_host"] = "ftp://alice:" + alicePW + "@" + srv.Host() }), "must not contain credentials"},
		{"credentials with a slash, no scheme", mod(func(s map[string]any) { s["ews_host"] = "alice:old/" + alicePW + "@" + srv.Host() }), "must not contain credentials"},
		{"no host, no Autodiscover", mod(func(s map[string]any) { delete(s, "ews_host") }), "settings.ews_host is required: Autodiscover found no EWS server for alice@contoso.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := validate(v, tc.s)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Settings["ews_url"] != srv.URL() || res.Settings["ews_port"] != srv.Port() || res.Email != aliceEmail {
					t.Errorf("result %+v", res)
				}
				return
			}
			pe := expectClass(t, err, provider.ClassBadRequest, alicePW)
			if !strings.Contains(pe.Message, tc.want) {
				t.Errorf("message %q lacks %q", pe.Message, tc.want)
			}
		})
	}
	// Four checks succeeded (one connection each); the 400s never reached
	// the server.
	if n := srv.Stats().Connections; n != 4 {
		t.Errorf("%d connections reached the server, want 4", n)
	}
}

func TestScope(t *testing.T) {
	srv, v := start(t, ewssb.NTLM)
	res, err := validate(v, settings(srv, aliceUser, alicePW), "ews.messages", "ews.calendar")
	if err != nil || !slices.Equal(res.Scope, []string{"ews.messages", "ews.calendar"}) {
		t.Fatalf("%v %v", res.Scope, err)
	}
	_, err = validate(v, settings(srv, aliceUser, alicePW), "ews.messages", "Mail.Read")
	pe := expectClass(t, err, provider.ClassBadRequest, alicePW)
	if !strings.Contains(pe.Message, `"Mail.Read"`) {
		t.Errorf("message %s", pe.Message)
	}
}

type finder struct {
	url string
	err error
	got []string
	mu  sync.Mutex
}

func (f *finder) FindEWS(_ context.Context, email string) (string, error) {
	f.mu.Lock()
	f.got = append(f.got, email)
	f.mu.Unlock()
	return f.url, f.err
}

func TestAutodiscover(t *testing.T) {
	srv, _ := start(t, ewssb.NTLM)
	s := settings(srv, aliceUser, alicePW)
	delete(s, "ews_host")
	delete(s, "ews_port")
	net := netx.Config{AllowPrivateHosts: true, CAFile: srv.CAFile(), Timeout: 2 * time.Second}

	f := &finder{url: srv.URL()}
	res, err := validate(ews.New(net, f), s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.got, []string{aliceEmail}) || res.Settings["ews_url"] != srv.URL() || res.Settings["ews_host"] != srv.Host() {
		t.Errorf("asked %v; settings %v", f.got, res.Settings)
	}

	_, err = validate(ews.New(net, &finder{}), s)
	pe := expectClass(t, err, provider.ClassBadRequest, alicePW)
	if !strings.Contains(pe.Message, "settings.ews_host is required") {
		t.Errorf("message %s", pe.Message)
	}

	// "Nothing found" from the finder names the setting to give and keeps
	// the finder's explanation; other classified failures pass through.
	_, err = validate(ews.New(net, &finder{err: provider.Errorf(provider.ClassBadRequest, "no Autodiscover for contoso.test")}), s)
	pe = expectClass(t, err, provider.ClassBadRequest, alicePW)
	if !strings.Contains(pe.Message, "settings.ews_host is required") || !strings.Contains(pe.Message, "no Autodiscover for contoso.test") {
		t.Errorf("message %s", pe.Message)
	}
	want := provider.Errorf(provider.ClassUnavailable, "DNS timed out")
	if _, err := validate(ews.New(net, &finder{err: want}), s); !errors.Is(err, want) {
		t.Errorf("got %v", err)
	}
	// Any other failure is a retryable one.
	_, err = validate(ews.New(net, &finder{err: errors.New("dns broke")}), s)
	expectClass(t, err, provider.ClassUnavailable, alicePW)
}

// An alias resolves to the mailbox's primary SMTP address, which becomes
// the grant's email.
func TestPrimaryAddress(t *testing.T) {
	srv, v := start(t, ewssb.Both)
	srv.Add(ewssb.User{Email: "Carol.Primary@contoso.test", Username: `CONTOSO\carol`, Password: "carol-pw", DisplayName: "Carol"})
	s := settings(srv, `CONTOSO\carol`, "carol-pw")
	s["email"] = "carol.primary@CONTOSO.test"
	res, err := validate(v, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != "Carol.Primary@contoso.test" || res.Name != "Carol" || res.Settings["email"] != "carol.primary@CONTOSO.test" {
		t.Errorf("%q %q %v", res.Email, res.Name, res.Settings)
	}
}

// Per-user auth modes: a user allowed only NTLM cannot log in with Basic.
func TestUserAuthModes(t *testing.T) {
	srv, v := start(t, ewssb.Basic)
	srv.Add(ewssb.User{Email: "dave@contoso.test", Username: `CONTOSO\dave`, Password: "dave-pw", DisplayName: "Dave", Auth: ewssb.NTLM})
	s := settings(srv, `CONTOSO\dave`, "dave-pw")
	s["email"] = "dave@contoso.test"
	_, err := validate(v, s)
	expectClass(t, err, provider.ClassInvalidCredentials, "dave-pw")
}

func TestConcurrentChecks(t *testing.T) {
	srv, v := start(t, ewssb.Both)
	const n = 12
	for i := range n {
		srv.AddUser(fmt.Sprintf("u%d@contoso.test", i), fmt.Sprintf(`CONTOSO\u%d`, i), fmt.Sprintf("pw-%d", i), fmt.Sprintf("User %d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			pw := fmt.Sprintf("pw-%d", i)
			if i%3 == 0 {
				pw += "-wrong"
			}
			s := settings(srv, fmt.Sprintf(`CONTOSO\u%d`, i), pw)
			s["email"] = fmt.Sprintf("u%d@contoso.test", i)
			res, err := validate(v, s)
			if err == nil && res.Email != s["email"] {
				err = fmt.Errorf("email %s", res.Email)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%3 == 0 {
			if provider.ClassOf(err) != provider.ClassInvalidCredentials {
				t.Errorf("%d: %v", i, err)
			}
		} else if err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
	if c := srv.Stats().Connections; c != n {
		t.Errorf("%d connections for %d checks", c, n)
	}
}
