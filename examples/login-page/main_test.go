package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/grantd/grantd/internal/apitest"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/sandbox/mail"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// pageEnv is what `grantd dev` runs (grantd, the OAuth sandbox, the
// IMAP/SMTP stand-in serving iCloud too) plus a DNS server that knows the
// custom domain acme.test (RFC 6186 SRV records pointing at the stand-in),
// and the login page in front of it.
type pageEnv struct {
	grantd *apitest.Env
	mail   *mail.Server
	page   *httptest.Server
	logs   *apitest.SyncBuffer
	appID  string
	hosted bool // grantd serves hosted OAuth: the Google route goes through it
}

func startPage(t *testing.T) *pageEnv {
	t.Helper()
	ms, err := mail.Start(mail.Options{TLS: mail.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	ca, err := ms.CAFile()
	if err != nil {
		t.Fatal(err)
	}
	zone := startDNS(t,
		"acme.test. 3600 IN TXT \"v=spf1 -all\"",
		fmt.Sprintf("_imap._tcp.acme.test. 3600 IN SRV 0 1 %d %s.", ms.IMAPPort(), ms.Host()),
		fmt.Sprintf("_submission._tcp.acme.test. 3600 IN SRV 0 1 %d %s.", ms.SMTPPort(), ms.Host()),
	)
	e := apitest.New(t, apitest.Options{Configure: func(c *config.Config) {
		c.Network.CAFile = ca
		c.Network.DNSServer = zone
		c.Network.Timeout = 3 * time.Second
		c.Providers.ICloud = ms.MailHosts()
	}})
	appID, key := e.App("acme")
	e.OAuthConnector(key, "google")
	e.Sandbox.AddUser("google", sandbox.User{Email: "ada@gmail.com", Name: "Ada Gmail"})
	logs := &apitest.SyncBuffer{}
	app := &App{Grantd: &Grantd{URL: e.HTTP.URL, Key: key}, Brand: "Acme Mail Connect", Log: slog.New(slog.NewTextHandler(logs, nil))}
	page := httptest.NewServer(app.Handler())
	t.Cleanup(page.Close)
	if err := app.SetUpOAuth(t.Context(), page.URL); err != nil {
		t.Fatal(err)
	}
	return &pageEnv{grantd: e, mail: ms, page: page, logs: logs, appID: appID, hosted: app.AppID != ""}
}

// startDNS answers the records of zone (and NXDOMAIN for everything else).
func startDNS(t *testing.T, zone ...string) string {
	t.Helper()
	rrs := map[string][]dns.RR{}
	names := map[string]bool{}
	for _, line := range zone {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatal(err)
		}
		h := rr.Header()
		rrs[h.Name+" "+dns.TypeToString[h.Rrtype]] = append(rrs[h.Name+" "+dns.TypeToString[h.Rrtype]], rr)
		names[h.Name] = true
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		m.Answer = rrs[name+" "+dns.TypeToString[q.Qtype]]
		if len(m.Answer) == 0 && !names[name] {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func (p *pageEnv) grantOf(t *testing.T, email string) store.Grant {
	t.Helper()
	g, err := p.grantd.Server.Store.GetGrantByEmail(t.Context(), p.appID, email)
	if err != nil {
		t.Fatalf("no grant for %s: %v", email, err)
	}
	return g
}

// browser drives headless Chromium; every step's screenshot is kept and
// written out when the test fails.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots []shot
}

type shot struct {
	name string
	png  []byte
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t, ctx: testenv.Browser(t, "the login page's browser test")}
	t.Cleanup(b.writeShots) // before the browser stops
	return b
}

// step runs f (at most 30 s) and takes a screenshot; a failure fails the
// test with the page's HTML.
func (b *browser) step(name string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := f(ctx)
	sctx, scancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer scancel()
	png, _ := chromedp.Run(sctx, chromedp.FullScreenshot(80))
	b.shots = append(b.shots, shot{name, png})
	if err != nil {
		html, _ := chromedp.Run(sctx, chromedp.OuterHTML(chromedp.CSS("html")))
		b.t.Fatalf("step %q: %v\npage:\n%.3000s", name, err, html)
	}
}

func (b *browser) writeShots() {
	if !b.t.Failed() {
		return
	}
	dir, err := os.MkdirTemp("", "grantd-login-page-screenshots-")
	if err != nil {
		b.t.Log(err)
		return
	}
	for i, s := range b.shots {
		if len(s.png) == 0 {
			continue
		}
		name := fmt.Sprintf("%02d-%s.jpg", i+1, strings.NewReplacer(" ", "-", "/", "-").Replace(s.name))
		_ = os.WriteFile(filepath.Join(dir, name), s.png, 0o644)
	}
	b.t.Logf("screenshots of every step: %s", dir)
}

func text(ctx context.Context, id string) (string, error) {
	return chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
}

func value(ctx context.Context, id string) (string, error) {
	return chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
}

// expect fails the step unless ok.
func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// TestLoginPageInChromium drives the page in headless Chromium: a Gmail
// address is sent to Google's sign-in, an iCloud address gets the
// app-password form and a grant, a custom domain gets the IMAP form with
// the servers detection found, a wrong password the human message, the
// right one a grant; an address holding a script runs nothing.
func TestLoginPageInChromium(t *testing.T) {
	p := startPage(t)
	b := newBrowser(t)
	p.mail.AddAccount(mail.User{Email: "bob@icloud.com", Password: "apple-account-pw", AppPassword: "abcd-efgh-ijkl-mnop", Behavior: mail.AppPasswordOnly})
	p.mail.AddUser("ada@acme.test", "right-pw-4711")
	enterEmail := func(ctx context.Context, email, wait string) error {
		return chromedp.Do(ctx,
			chromedp.Navigate(p.page.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.Click(chromedp.ID("next")),
			chromedp.WaitVisible(chromedp.ID(wait)),
		)
	}
	// submit types the password and submits the form, then waits for wait.
	submit := func(ctx context.Context, password, wait string) error {
		return chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.ID("connect")),
			chromedp.WaitVisible(chromedp.ID(wait)),
		)
	}

	// gmail.com → Google's route: through grantd's hosted OAuth and the
	// sandbox's consent page to a grant when grantd serves it, else a
	// message saying it does not.
	b.step("gmail address", func(ctx context.Context) error {
		if err := enterEmail(ctx, "ada@gmail.com", "oauth"); err != nil {
			return err
		}
		s, err := text(ctx, "oauth")
		if err != nil {
			return err
		}
		if !p.hosted {
			if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("oauth-unavailable"))); err != nil {
				return err
			}
		}
		return expect(strings.Contains(s, "Google"), "gmail.com: %q", s)
	})
	if p.hosted {
		b.step("google consent", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.ID("oauth-continue")), chromedp.WaitVisible(chromedp.CSS("#allow")))
		})
		b.step("google grant", func(ctx context.Context) error {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#allow")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
				return err
			}
			id, err := text(ctx, "grant-id")
			if err != nil {
				return err
			}
			g := p.grantOf(t, "ada@gmail.com")
			return expect(g.ID == id && g.Provider == "google" && g.Status == store.GrantValid, "Google grant %+v, page says %q", g, id)
		})
	} else {
		t.Log("grantd serves no hosted OAuth: the Google route shows its message")
	}

	// iCloud → the app-password form; the account password is refused in
	// words, the app password makes the grant.
	b.step("icloud address", func(ctx context.Context) error {
		if err := enterEmail(ctx, "bob@icloud.com", "icloud"); err != nil {
			return err
		}
		s, err := text(ctx, "app-password-help")
		if err != nil {
			return err
		}
		return expect(strings.Contains(s, "app-specific password") && strings.Contains(s, "appleid.apple.com"), "iCloud help: %q", s)
	})
	b.step("icloud account password", func(ctx context.Context) error {
		if err := submit(ctx, "apple-account-pw", "error"); err != nil {
			return err
		}
		s, err := text(ctx, "error")
		if err != nil {
			return err
		}
		pw, err := value(ctx, "password")
		if err != nil {
			return err
		}
		return expect(strings.Contains(s, "app-specific password") && pw == "", "iCloud with the account password: %q, password field %q", s, pw)
	})
	b.step("icloud app password", func(ctx context.Context) error {
		if err := submit(ctx, "abcd-efgh-ijkl-mnop", "done"); err != nil {
			return err
		}
		id, err := text(ctx, "grant-id")
		if err != nil {
			return err
		}
		g := p.grantOf(t, "bob@icloud.com")
		return expect(g.ID == id && g.Provider == "icloud" && g.Status == store.GrantValid, "iCloud grant %+v, page says %q", g, id)
	})

	// A custom domain → the IMAP form, prefilled from detection (SRV); a
	// wrong password, then the right one.
	b.step("custom domain", func(ctx context.Context) error {
		if err := enterEmail(ctx, "ada@acme.test", "imap"); err != nil {
			return err
		}
		host, err := value(ctx, "imap_host")
		if err != nil {
			return err
		}
		port, err := value(ctx, "imap_port")
		if err != nil {
			return err
		}
		return expect(host == p.mail.Host() && port == fmt.Sprint(p.mail.IMAPPort()),
			"IMAP server prefilled as %q:%q, want %s:%d", host, port, p.mail.Host(), p.mail.IMAPPort())
	})
	b.step("wrong password", func(ctx context.Context) error {
		if err := submit(ctx, "wrong-pw-0815", "error"); err != nil {
			return err
		}
		s, err := text(ctx, "error")
		if err != nil {
			return err
		}
		pw, _ := value(ctx, "password")
		host, _ := value(ctx, "imap_host")
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			return err
		}
		if _, err := p.grantd.Server.Store.GetGrantByEmail(t.Context(), p.appID, "ada@acme.test"); err == nil {
			return fmt.Errorf("a grant after a wrong password")
		}
		return expect(strings.Contains(s, "The email address or password is not right") && pw == "" && !strings.Contains(html, "wrong-pw-0815") && host == p.mail.Host(),
			"wrong password: %q, password field %q, servers kept %q, password in page %v", s, pw, host, strings.Contains(html, "wrong-pw-0815"))
	})
	b.step("right password", func(ctx context.Context) error {
		if err := submit(ctx, "right-pw-4711", "done"); err != nil {
			return err
		}
		id, err := text(ctx, "grant-id")
		if err != nil {
			return err
		}
		g := p.grantOf(t, "ada@acme.test")
		return expect(g.ID == id && g.Provider == "imap" && g.Settings["imap_host"] == p.mail.Host(), "IMAP grant %+v, page says %q", g, id)
	})

	// An address with a script in it is shown, escaped, and runs nothing.
	b.step("script in the address", func(ctx context.Context) error {
		// The browser's own check of type=email is switched off, as an
		// attacker's request would not have it.
		err := chromedp.Do(ctx,
			chromedp.Navigate(p.page.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), `<script>window.pwned=1</script>@acme.test`),
		)
		if err != nil {
			return err
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("email-form").noValidate = true`)); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("next")), chromedp.WaitVisible(chromedp.ID("error"))); err != nil {
			return err
		}
		v, err := value(ctx, "email")
		if err != nil {
			return err
		}
		safe, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === undefined && document.scripts.length === 0`))
		if err != nil {
			return err
		}
		return expect(safe && strings.Contains(v, "<script>"), "script ran or was not echoed as text: safe=%v value=%q", safe, v)
	})

	for _, secret := range []string{"abcd-efgh-ijkl-mnop", "apple-account-pw", "right-pw-4711", "wrong-pw-0815"} {
		if strings.Contains(p.logs.String(), secret) || strings.Contains(p.grantd.Logs.String(), secret) {
			t.Errorf("%s in a log", secret)
		}
	}
}

// client is a browser-like HTTP client with a cookie jar.
func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// csrfOf loads the start page and returns its form's CSRF token.
func csrfOf(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, after, found := strings.Cut(string(b), `name="csrf" value="`)
	tok, _, _ := strings.Cut(after, `"`)
	if !found || len(tok) < 32 {
		t.Fatalf("no CSRF token in the page")
	}
	return tok
}

// TestLoginPageCSRF: a POST without the token, or with another one, is
// refused before grantd is asked anything.
func TestLoginPageCSRF(t *testing.T) {
	p := startPage(t)
	p.mail.AddUser("ada@acme.test", "right-pw-4711")
	form := url.Values{"step": {"imap"}, "email": {"ada@acme.test"}, "password": {"right-pw-4711"},
		"imap_host": {p.mail.Host()}, "imap_port": {fmt.Sprint(p.mail.IMAPPort())}, "smtp_host": {p.mail.Host()}, "smtp_port": {fmt.Sprint(p.mail.SMTPPort())}}

	// A cross-site form post: no cookie, no token.
	resp, err := http.PostForm(p.page.URL+"/connect", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
	// The cookie, but a token of another session.
	c := client(t)
	csrfOf(t, c, p.page.URL)
	form.Set("csrf", strings.Repeat("A", 43))
	resp, err = c.PostForm(p.page.URL+"/connect", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("with another token: %d", resp.StatusCode)
	}
	if _, err := p.grantd.Server.Store.GetGrantByEmail(t.Context(), p.appID, "ada@acme.test"); err == nil {
		t.Fatal("a forged POST created a grant")
	}
	// The page's own token works.
	form.Set("csrf", csrfOf(t, c, p.page.URL))
	resp, err = c.PostForm(p.page.URL+"/connect", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="done"`) {
		t.Fatalf("with the token: %d %.500s", resp.StatusCode, body)
	}
	p.grantOf(t, "ada@acme.test")
}

// TestLoginPageMessages: grantd's refusals in a user's words, with the
// app-password link of the provider; an unreachable server says so; the
// password is never echoed.
func TestLoginPageMessages(t *testing.T) {
	p := startPage(t)
	p.mail.AddUser("ada@acme.test", "right-pw-4711")
	closed := testenv.FreePorts(t, 1)[0]
	c := client(t)
	post := func(form url.Values) string {
		t.Helper()
		form.Set("csrf", csrfOf(t, c, p.page.URL))
		resp, err := c.PostForm(p.page.URL+"/connect", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := post(url.Values{"step": {"imap"}, "email": {"ada@acme.test"}, "password": {"pw-9-secret"},
		"imap_host": {p.mail.Host()}, "imap_port": {fmt.Sprint(closed)}, "smtp_host": {p.mail.Host()}, "smtp_port": {fmt.Sprint(p.mail.SMTPPort())}})
	if !strings.Contains(page, "could not reach your mail server") || strings.Contains(page, "pw-9-secret") {
		t.Errorf("unreachable server: %.2000s", page)
	}
	// Yahoo's app-password answer, with Yahoo's link.
	err := &GrantdError{Status: 400, Type: "api.invalid_request_error", Message: "the IMAP server imap.mail.yahoo.com:993 requires an app-specific password for y@yahoo.com. Yahoo and AOL Mail need an app password"}
	if m, l := humanError(err, "yahoo"), helpLink(err, "yahoo"); !strings.Contains(m, "app password") || !strings.Contains(l, "help.yahoo.com") {
		t.Errorf("yahoo: %q %q", m, l)
	}
	if m, l := humanError(err, "icloud"), helpLink(err, "icloud"); !strings.Contains(m, "app-specific password") || !strings.Contains(l, "apple.com") {
		t.Errorf("icloud: %q %q", m, l)
	}
}
