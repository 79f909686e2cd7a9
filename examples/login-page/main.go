// Command login-page is an example of a branded login page for Bring Your
// Own Authentication with grantd: the backend of an application that asks
// a user for an email address, lets grantd's provider detection pick the
// form to show, and hands the credentials to grantd at once
// (POST /v3/connect/custom) from its server side. The page itself keeps
// nothing: no credential is written to disk, to a log or back into a page,
// and grantd stores the secrets encrypted.
//
// It uses only the standard library and html/template (which escapes
// everything it shows), and protects its forms against cross-site request
// forgery with a double-submit token (a SameSite=Strict cookie matched by a
// hidden form field).
//
// Start it against `grantd dev` (see the README):
//
//	go run ./examples/login-page -dev grantd-dev/dev.json
//
// or against any grantd: -api URL with the API key in GRANTD_API_KEY.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.ParseFS(pageFS, "page.html"))

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "login-page:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("login-page", flag.ContinueOnError)
	devFile := fs.String("dev", "", "read the API URL and key from grantd dev's dev.json (e.g. grantd-dev/dev.json)")
	api := fs.String("api", "", "grantd's API URL (with -dev: taken from dev.json); the API key is read from GRANTD_API_KEY")
	listen := fs.String("listen", "127.0.0.1:8090", "address to listen on")
	brand := fs.String("brand", "Acme Mail Connect", "the name shown on the page")
	publicURL := fs.String("public-url", "", "the page's URL as browsers reach it, for hosted OAuth's redirect URI (default http://<listen address>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := os.Getenv("GRANTD_API_KEY")
	if *devFile != "" {
		b, err := os.ReadFile(*devFile)
		if err != nil {
			return err
		}
		var dev struct {
			APIURL string `json:"api_url"`
			APIKey string `json:"api_key"`
		}
		if err := json.Unmarshal(b, &dev); err != nil {
			return fmt.Errorf("%s: %w", *devFile, err)
		}
		if *api == "" {
			*api = dev.APIURL
		}
		if key == "" {
			key = dev.APIKey
		}
	}
	if *api == "" || key == "" {
		return errors.New("give -dev grantd-dev/dev.json, or -api URL with GRANTD_API_KEY set")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	app := &App{Grantd: &Grantd{URL: strings.TrimSuffix(*api, "/"), Key: key}, Brand: *brand, Log: log}
	pub := *publicURL
	if pub == "" {
		pub = "http://" + ln.Addr().String()
	}
	if err := app.SetUpOAuth(context.Background(), pub); err != nil {
		return fmt.Errorf("set up hosted OAuth: %w", err)
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("login page for %s on http://%s\n", *api, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// App is the login page's backend.
type App struct {
	Grantd *Grantd
	Brand  string
	Log    *slog.Logger
	// Hosted OAuth, for Google and Microsoft (see SetUpOAuth): the
	// application id and the page's callback; AppID "" without it.
	AppID       string
	RedirectURI string
}

// SetUpOAuth enables the Google and Microsoft route through grantd's
// hosted OAuth when grantd serves it: it registers publicURL/oauth/callback
// as one of the application's redirect URIs. Without hosted OAuth the
// route says so instead.
func (a *App) SetUpOAuth(ctx context.Context, publicURL string) error {
	if !a.Grantd.HostedOAuth(ctx) {
		a.Log.Info("grantd has no hosted OAuth: Google and Microsoft addresses get a message")
		return nil
	}
	appID, err := a.Grantd.ApplicationID(ctx)
	if err != nil {
		return err
	}
	cb := strings.TrimSuffix(publicURL, "/") + "/oauth/callback"
	if err := a.Grantd.AddRedirectURI(ctx, cb); err != nil {
		return err
	}
	a.AppID, a.RedirectURI = appID, cb
	return nil
}

// Handler returns the page's routes, with CSRF protection on every POST
// and an access log that records no form value.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.start)
	mux.HandleFunc("POST /detect", a.detect)
	mux.HandleFunc("POST /connect", a.connect)
	mux.HandleFunc("GET /oauth/start", a.oauthStart)
	mux.HandleFunc("GET /oauth/callback", a.oauthCallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		rec := &status{ResponseWriter: w, code: http.StatusOK}
		if r.Method == http.MethodPost && !a.csrfOK(r) {
			rec.WriteHeader(http.StatusForbidden)
			a.render(rec, r, view{Step: "email", Error: "This form has expired. Please start again."})
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			mux.ServeHTTP(rec, r)
		}
		// Method, path and status only: the forms carry passwords.
		a.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.code)
	})
}

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }

const csrfCookie = "login_csrf"

// csrfToken returns the request's CSRF token, setting a new cookie when
// there is none.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return tok
}

// csrfOK checks the double-submit token of a POST: the form's csrf field
// must equal the cookie, which another site can neither read nor send.
func (a *App) csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(c.Value)) == 1
}

// view is what page.html shows. It never holds a password.
type view struct {
	Brand  string
	CSRF   string
	Step   string // email, oauth, icloud, imap, ews, done
	Email  string
	Family string // yahoo, aol, icloud, google…: which app-password help applies
	Error  string
	Help   string // a link for Error (app passwords)
	// Form fields (no password).
	Username, IMAPHost, IMAPPort, SMTPHost, SMTPPort, EWSHost string
	AppPassword                                               bool
	Provider                                                  string // oauth: Google or Microsoft
	OAuthURL                                                  string // oauth: where "Continue" goes; "" without hosted OAuth
	GrantID                                                   string
}

func (a *App) render(w http.ResponseWriter, r *http.Request, v view) {
	v.Brand, v.CSRF = a.Brand, csrfToken(w, r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, v); err != nil {
		a.Log.Error("render", "err", err)
	}
}

func (a *App) start(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, view{Step: "email"})
}

// detect asks grantd which provider serves the address and shows its form.
func (a *App) detect(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if email == "" || len(email) > 320 || !strings.Contains(email, "@") {
		w.WriteHeader(http.StatusBadRequest)
		a.render(w, r, view{Step: "email", Email: email, Error: "Please enter your email address, like you@example.com."})
		return
	}
	d, err := a.Grantd.Detect(r.Context(), email)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		a.render(w, r, view{Step: "email", Email: email, Error: humanError(err, "")})
		return
	}
	v := view{Email: d.EmailAddress, Username: d.EmailAddress, Family: d.Match, AppPassword: d.AppPasswordRequired}
	if v.Email == "" {
		v.Email, v.Username = email, email
	}
	s := d.Settings
	switch {
	case d.Provider == "google" || d.Provider == "microsoft":
		v.Step, v.Provider = "oauth", map[string]string{"google": "Google", "microsoft": "Microsoft"}[d.Provider]
		if a.AppID != "" {
			v.OAuthURL = "/oauth/start?" + url.Values{"provider": {d.Provider}, "email": {v.Email}}.Encode()
		}
	case d.Provider == "icloud":
		v.Step, v.Family, v.AppPassword = "icloud", "icloud", true
	case d.Provider == "ews" || (s.EWSURL != "" && s.IMAPHost == ""):
		v.Step = "ews"
		if u, err := url.Parse(s.EWSURL); err == nil {
			v.EWSHost = u.Host
		}
	default:
		// IMAP, also for Yahoo and AOL (app passwords), and for an address
		// whose servers were not found (the user types them).
		v.Step = "imap"
		v.IMAPHost, v.SMTPHost = s.IMAPHost, s.SMTPHost
		if s.IMAPPort != 0 {
			v.IMAPPort = strconv.Itoa(s.IMAPPort)
		}
		if s.SMTPPort != 0 {
			v.SMTPPort = strconv.Itoa(s.SMTPPort)
		}
	}
	a.render(w, r, v)
}

const stateCookie = "login_oauth_state"

// oauthStart sends the user to grantd's hosted OAuth for Google or
// Microsoft, with a state kept in a cookie for the callback.
func (a *App) oauthStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prov := q.Get("provider")
	if a.AppID == "" || (prov != "google" && prov != "microsoft") {
		w.WriteHeader(http.StatusNotFound)
		a.render(w, r, view{Step: "email", Error: "Please start again."})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	// Lax: the cookie comes back with the provider's redirect (a top-level
	// GET from another site).
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/oauth/", MaxAge: 900, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	auth := url.Values{"client_id": {a.AppID}, "redirect_uri": {a.RedirectURI}, "response_type": {"code"}, "provider": {prov}, "state": {state}}
	if e := q.Get("email"); e != "" && len(e) <= 320 {
		auth.Set("login_hint", e)
	}
	http.Redirect(w, r, a.Grantd.URL+"/v3/connect/auth?"+auth.Encode(), http.StatusSeeOther)
}

// oauthCallback is where grantd sends the user back: it checks the state
// and exchanges the code for the grant, from the server side.
func (a *App) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(stateCookie)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/oauth/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if err != nil || len(c.Value) < 32 || subtle.ConstantTimeCompare([]byte(c.Value), []byte(q.Get("state"))) != 1 {
		w.WriteHeader(http.StatusBadRequest)
		a.render(w, r, view{Step: "email", Error: "This sign-in has expired. Please start again."})
		return
	}
	if e := q.Get("error"); e != "" {
		a.Log.Info("hosted OAuth refused", "error", truncate(e, 64))
		msg := "The sign-in did not complete. Please try again."
		if e == "access_denied" {
			msg = "You did not allow access to your account, so nothing was connected."
		}
		a.render(w, r, view{Step: "email", Error: msg})
		return
	}
	id, email, err := a.Grantd.ExchangeCode(r.Context(), a.AppID, q.Get("code"), a.RedirectURI)
	if err != nil {
		a.Log.Warn("code exchange failed", "err", err)
		w.WriteHeader(http.StatusBadGateway)
		a.render(w, r, view{Step: "email", Error: "The sign-in did not complete. Please try again."})
		return
	}
	a.render(w, r, view{Step: "done", Email: email, GrantID: id})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// families whose app-password help the page knows.
var families = []string{"icloud", "yahoo", "aol", "google", "microsoft"}

// connect hands the credentials to grantd and forgets them.
func (a *App) connect(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	v := view{
		Step: f.Get("step"), Email: strings.TrimSpace(f.Get("email")), Username: strings.TrimSpace(f.Get("username")),
		IMAPHost: strings.TrimSpace(f.Get("imap_host")), IMAPPort: strings.TrimSpace(f.Get("imap_port")),
		SMTPHost: strings.TrimSpace(f.Get("smtp_host")), SMTPPort: strings.TrimSpace(f.Get("smtp_port")),
		EWSHost: strings.TrimSpace(f.Get("ews_host")), Family: f.Get("family"), AppPassword: f.Get("app_password") == "1",
	}
	if !slices.Contains(families, v.Family) {
		v.Family = ""
	}
	password := f.Get("password")
	if v.Username == "" {
		v.Username = v.Email
	}
	var body map[string]any
	switch v.Step {
	case "icloud":
		body = map[string]any{"provider": "icloud", "settings": map[string]any{"username": v.Username, "password": password}}
	case "ews":
		s := map[string]any{"email": v.Email, "ews_username": v.Username, "ews_password": password}
		if v.EWSHost != "" {
			s["ews_host"] = v.EWSHost
		}
		body = map[string]any{"provider": "ews", "settings": s}
	case "imap":
		s := map[string]any{"email": v.Email, "imap_username": v.Username, "imap_password": password}
		for k, val := range map[string]string{"imap_host": v.IMAPHost, "imap_port": v.IMAPPort, "smtp_host": v.SMTPHost, "smtp_port": v.SMTPPort} {
			if val != "" {
				s[k] = val
			}
		}
		body = map[string]any{"provider": "imap", "settings": s}
	default:
		w.WriteHeader(http.StatusBadRequest)
		a.render(w, r, view{Step: "email", Error: "Please start again."})
		return
	}
	if v.Email == "" || password == "" {
		w.WriteHeader(http.StatusBadRequest)
		v.Error = "Please enter your email address and password."
		a.render(w, r, v)
		return
	}
	id, err := a.Grantd.Connect(r.Context(), body)
	if err != nil {
		var ge *GrantdError
		if errors.As(err, &ge) {
			a.Log.Info("grantd refused the credentials", "status", ge.Status, "type", ge.Type)
		} else {
			a.Log.Warn("grantd unreachable", "err", err)
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		v.Error, v.Help = humanError(err, v.Family), helpLink(err, v.Family)
		a.render(w, r, v) // the password field stays empty
		return
	}
	a.render(w, r, view{Step: "done", Email: v.Email, GrantID: id})
}

// humanError says what went wrong in words a user understands.
func humanError(err error, family string) string {
	var ge *GrantdError
	if !errors.As(err, &ge) {
		return "We could not reach the sign-in service. Please try again in a minute."
	}
	msg := strings.ToLower(ge.Message)
	switch {
	case ge.Status == http.StatusGatewayTimeout || strings.Contains(msg, "temporarily unavailable") || strings.Contains(msg, "refused the connection") ||
		strings.Contains(msg, "could not connect") || strings.Contains(msg, "could not be reached") || strings.Contains(msg, "timed out") ||
		strings.Contains(msg, "did not answer as"):
		return "We could not reach your mail server. Check the server names and ports, or try again in a few minutes."
	case strings.Contains(msg, "app-specific password") || strings.Contains(msg, "app password"):
		switch family {
		case "icloud":
			return "iCloud needs an app-specific password here, not your Apple Account password. Create one at appleid.apple.com and enter it below."
		case "yahoo", "aol":
			return "Your provider needs an app password here, not your usual password. Generate one in your account security settings and enter it below."
		}
		return "Your provider needs an app password here, not your usual password. Create one in your account's security settings and enter it below."
	case strings.Contains(msg, "rejected the username or password") || strings.Contains(msg, "username or password") || strings.Contains(msg, "unauthorized"):
		return "The email address or password is not right. Please check them and try again."
	case strings.Contains(msg, "requires tls") || strings.Contains(msg, "certificate"):
		return "Your mail server's secure connection could not be set up. Check the server names and ports."
	case strings.Contains(msg, "disabled") || strings.Contains(msg, "not enabled"):
		return "Your account does not allow this kind of sign-in yet: turn on IMAP (or password sign-in) in your mail settings, then try again."
	case ge.Status == http.StatusUnauthorized:
		return "This page is not set up correctly (its API key was refused). Please tell the site's administrator."
	}
	return "We could not connect this account. Please check what you entered and try again."
}

// helpLink is the page that explains app passwords for the family, when
// the error is about them.
func helpLink(err error, family string) string {
	var ge *GrantdError
	if !errors.As(err, &ge) {
		return ""
	}
	msg := strings.ToLower(ge.Message)
	if !strings.Contains(msg, "app-specific password") && !strings.Contains(msg, "app password") {
		return ""
	}
	switch family {
	case "icloud":
		return "https://support.apple.com/en-us/102654"
	case "yahoo", "aol":
		return "https://help.yahoo.com/kb/generate-manage-third-party-passwords-sln15241.html"
	}
	return ""
}

// Grantd is the part of grantd's API the page uses.
type Grantd struct {
	URL  string
	Key  string
	HTTP *http.Client // nil: a client with a 30 s timeout
}

// GrantdError is an error answer of grantd.
type GrantdError struct {
	Status        int
	Type, Message string
}

func (e *GrantdError) Error() string { return fmt.Sprintf("grantd: %d %s", e.Status, e.Type) }

// Detection is the answer of POST /v3/providers/detect.
type Detection struct {
	EmailAddress        string `json:"email_address"`
	Detected            bool   `json:"detected"`
	Provider            string `json:"provider"`
	Type                string `json:"type"`
	Match               string `json:"match"`
	AppPasswordRequired bool   `json:"app_password_required"`
	Settings            struct {
		IMAPHost string `json:"imap_host"`
		IMAPPort int    `json:"imap_port"`
		SMTPHost string `json:"smtp_host"`
		SMTPPort int    `json:"smtp_port"`
		EWSURL   string `json:"ews_url"`
	} `json:"settings"`
}

// Detect asks grantd which provider serves email (all provider types).
func (g *Grantd) Detect(ctx context.Context, email string) (Detection, error) {
	var d Detection
	q := url.Values{"email": {email}, "all_provider_types": {"true"}}
	err := g.do(ctx, "/v3/providers/detect?"+q.Encode(), nil, &d)
	return d, err
}

// Connect creates (or re-authenticates) a grant with POST
// /v3/connect/custom and returns its id.
func (g *Grantd) Connect(ctx context.Context, body map[string]any) (string, error) {
	var grant struct {
		ID string `json:"id"`
	}
	err := g.do(ctx, "/v3/connect/custom", body, &grant)
	return grant.ID, err
}

// HostedOAuth reports whether grantd serves hosted OAuth (GET
// /v3/connect/auth answers something else than 404).
func (g *Grantd) HostedOAuth(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/v3/connect/auth", nil)
	if err != nil {
		return false
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}

// ApplicationID returns the id of the API key's application.
func (g *Grantd) ApplicationID(ctx context.Context) (string, error) {
	var app struct {
		ApplicationID string `json:"application_id"`
	}
	err := g.call(ctx, http.MethodGet, "/v3/applications", nil, &app)
	return app.ApplicationID, err
}

// AddRedirectURI registers url as a redirect URI of the application (one
// it has already is fine).
func (g *Grantd) AddRedirectURI(ctx context.Context, u string) error {
	var out map[string]any
	err := g.call(ctx, http.MethodPost, "/v3/applications/redirect-uris", map[string]any{"url": u, "platform": "web"}, &out)
	var ge *GrantdError
	if errors.As(err, &ge) && ge.Status == http.StatusConflict {
		return nil
	}
	return err
}

// ExchangeCode redeems a hosted-OAuth code (POST /v3/connect/token) and
// returns the grant id and email.
func (g *Grantd) ExchangeCode(ctx context.Context, appID, code, redirectURI string) (string, string, error) {
	body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "client_id": appID, "client_secret": g.Key, "code": code, "redirect_uri": redirectURI})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/v3/connect/token", strings.NewReader(string(body)))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client().Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		GrantID string `json:"grant_id"`
		Email   string `json:"email"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.GrantID == "" {
		return "", "", &GrantdError{Status: resp.StatusCode, Type: out.Error, Message: "code exchange refused"}
	}
	return out.GrantID, out.Email, nil
}

func (g *Grantd) client() *http.Client {
	if g.HTTP != nil {
		return g.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (g *Grantd) do(ctx context.Context, path string, body any, data any) error {
	return g.call(ctx, http.MethodPost, path, body, data)
}

func (g *Grantd) call(ctx context.Context, method, path string, body any, data any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, g.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return &GrantdError{Status: resp.StatusCode, Type: "unreadable", Message: "unreadable answer"}
	}
	if resp.StatusCode >= 300 || env.Error != nil {
		ge := &GrantdError{Status: resp.StatusCode}
		if env.Error != nil {
			ge.Type, ge.Message = env.Error.Type, env.Error.Message
		}
		return ge
	}
	return json.Unmarshal(env.Data, data)
}
