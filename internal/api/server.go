// Package api is grantd's HTTP layer: routing, the Nylas envelopes,
// authentication by API key, metrics and logs. Handlers decode requests,
// call the services and encode answers; they hold no business rules.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/domain"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/hosted"
	"github.com/grantd/grantd/internal/importjob"
	"github.com/grantd/grantd/internal/native"
	"github.com/grantd/grantd/internal/ratelimit"
	"github.com/grantd/grantd/internal/redirecturi"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/webhook"
)

// Authenticator resolves an API key to its application.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (tenant.Principal, error)
}

// Pinger reports readiness of a dependency (the store).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config is what the API server needs.
type Config struct {
	Auth         Authenticator
	Connectors   *connector.Service
	Grants       *grant.Service
	Detector     *detect.Detector
	AccessTokens AccessTokens // nil: the access-token extension answers 404
	Ready        Pinger
	Logger       *slog.Logger
	Registry     *prometheus.Registry // nil: a private registry
	MaxBodyBytes int64
	Version      string
	// RateLimit bounds each application's requests on every authenticated
	// route but detection, which DetectRateLimit bounds; nil: no limit.
	RateLimit       *ratelimit.Limiter
	DetectRateLimit *ratelimit.Limiter
	// ConnectIPRateLimit and ConnectClientRateLimit bound the
	// unauthenticated hosted OAuth routes per client IP and per
	// client_id (where the request names one); nil: no limit.
	ConnectIPRateLimit *ratelimit.Limiter
	// TrustedProxies (http.trusted_proxies): from a peer in one of
	// them, the client address is taken from X-Forwarded-For (clientIP).
	TrustedProxies         []netip.Prefix
	ConnectClientRateLimit *ratelimit.Limiter
	// PasswordCheckRateLimit bounds the checks of one agent mailbox's
	// password (a bucket per application and address); nil: no limit.
	PasswordCheckRateLimit *ratelimit.Limiter
	// Webhooks manages webhook destinations; nil: /v3/webhooks answers 404.
	Webhooks *webhook.Service
	// Hosted runs hosted OAuth and the token endpoints; nil: they answer
	// 404.
	Hosted *hosted.Service
	// PublicURL is grantd's external address (public_url); "": the
	// request's host.
	PublicURL string
	// RedirectURIs manages applications' redirect URIs; nil:
	// /v3/applications/redirect-uris answers 404.
	RedirectURIs *redirecturi.Service
	// WebhookIPAddresses is the answer of GET /v3/webhooks/ip-addresses.
	WebhookIPAddresses []string
	// Imports runs bulk imports; nil: /grantd/v1/imports answers 404.
	Imports *importjob.Service
	// ImportMaxBodyBytes bounds the body of POST /grantd/v1/imports, and
	// ImportUploadTimeout the time to send it (and to read the results).
	ImportMaxBodyBytes  int64
	ImportUploadTimeout time.Duration
	// Domains manages the domains of agent accounts; nil:
	// /v3/admin/domains answers 404.
	Domains *domain.Service
	// Native serves the v2 native authentication paths (/connect/…, v2's
	// error shape); nil: they answer 404.
	Native *native.Handlers
}

// Server is grantd's HTTP handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	methods  map[string][]string // path pattern → methods registered
	patterns []string            // "METHOD /path" of every route
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	registry *prometheus.Registry
	started  time.Time
}

// New returns the API server with every route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ImportMaxBodyBytes <= 0 {
		cfg.ImportMaxBodyBytes = 1 << 30
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), methods: map[string][]string{}, registry: reg, started: time.Now()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "grantd_http_requests_total", Help: "HTTP requests served, by route and status.",
	}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "grantd_http_request_duration_seconds", Help: "HTTP request latency, by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method"})
	reg.MustRegister(s.requests, s.latency)
	s.routes()
	return s
}

// Routes returns the pattern ("METHOD /path/{wildcard}") of every route,
// in the order they were registered.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// Registry is the Prometheus registry the server reports to; other
// components register their metrics here.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) routes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}).ServeHTTP)
	s.handle("GET /v3/applications", s.authed(s.getApplication))
	if s.cfg.RedirectURIs != nil {
		s.handle("PATCH /v3/applications", s.authed(s.updateApplication))
		s.handle("GET /v3/applications/redirect-uris", s.authed(s.listRedirectURIs))
		s.handle("POST /v3/applications/redirect-uris", s.authed(s.createRedirectURI))
		s.handle("GET /v3/applications/redirect-uris/{id}", s.authed(s.getRedirectURI))
		s.handle("PATCH /v3/applications/redirect-uris/{id}", s.authed(s.updateRedirectURI))
		s.handle("DELETE /v3/applications/redirect-uris/{id}", s.authed(s.deleteRedirectURI))
	}

	s.handle("POST /v3/connectors", s.authed(s.createConnector))
	s.handle("GET /v3/connectors", s.authed(s.listConnectors))
	s.handle("GET /v3/connectors/{provider}", s.authed(s.getConnector))
	s.handle("PUT /v3/connectors/{provider}", s.authed(s.updateConnector))
	s.handle("PATCH /v3/connectors/{provider}", s.authed(s.updateConnector))
	s.handle("DELETE /v3/connectors/{provider}", s.authed(s.deleteConnector))
	s.handle("POST /v3/connectors/{provider}/creds", s.authed(s.createCredential))
	s.handle("GET /v3/connectors/{provider}/creds", s.authed(s.listCredentials))
	s.handle("GET /v3/connectors/{provider}/creds/{id}", s.authed(s.getCredential))
	s.handle("PATCH /v3/connectors/{provider}/creds/{id}", s.authed(s.updateCredential))
	s.handle("DELETE /v3/connectors/{provider}/creds/{id}", s.authed(s.deleteCredential))

	if s.cfg.Domains != nil {
		s.handle("POST /v3/admin/domains", s.authed(s.createDomain))
		s.handle("GET /v3/admin/domains", s.authed(s.listDomains))
		s.handle("GET /v3/admin/domains/{id}", s.authed(s.getDomain))
		s.handle("PUT /v3/admin/domains/{id}", s.authed(s.updateDomain))
		s.handle("DELETE /v3/admin/domains/{id}", s.authed(s.deleteDomain))
		s.handle("POST /v3/admin/domains/{id}/info", s.authed(s.domainInfo))
		s.handle("POST /v3/admin/domains/{id}/verify", s.authed(s.verifyDomain))
	}

	s.handle("POST /v3/connect/custom", s.authed(s.connectCustom))
	if s.cfg.Hosted != nil {
		// No API key: the browser, the token's holder or the client's
		// own credentials authenticate these.
		// Each is limited per client IP (connectLimited) and, where
		// the request names its client_id, per client_id.
		s.handle("GET /v3/connect/auth", s.connectLimited(false, s.connectAuth))
		s.handle("GET /v3/connect/callback", s.connectLimited(false, s.connectCallback))
		s.handle("POST /v3/connect/token", s.connectLimited(true, s.connectToken))
		s.handle("GET /v3/connect/tokeninfo", s.connectLimited(true, s.tokenInfo))
		s.handle("POST /v3/connect/revoke", s.connectLimited(true, s.revokeToken))
		s.handle("GET /v3/grants/me", s.grantsMe)
		if s.cfg.Hosted.IDTokens != nil {
			s.handle("GET /.well-known/jwks.json", s.connectLimited(true, s.jwks))
			s.handle("GET /.well-known/openid-configuration", s.connectLimited(true, s.openIDConfiguration))
		}
	}
	s.handle("GET /v3/grants", s.authed(s.listGrants))
	s.handle("GET /v3/grants/{id}", s.authed(s.getGrant))
	s.handle("PATCH /v3/grants/{id}", s.authed(s.updateGrant))
	s.handle("DELETE /v3/grants/{id}", s.authed(s.deleteGrant))
	s.handle("POST /v3/providers/detect", s.authedLimited(s.cfg.DetectRateLimit, "provider detection", s.detectProvider))
	s.handle("GET /grantd/v1/grants/{id}/access-token", s.authed(s.accessToken))
	s.handle("POST "+verifyPasswordPath, s.authed(s.verifyAgentPassword))
	if s.cfg.Imports != nil {
		s.handle("POST "+importsPath, s.authed(s.createImport))
		s.handle("GET "+importsPath, s.authed(s.listImports))
		s.handle("GET "+importsPath+"/{id}", s.authed(s.getImport))
		s.handle("DELETE "+importsPath+"/{id}", s.authed(s.cancelImport))
		s.handle("GET "+importsPath+"/{id}/results", s.authed(s.importResults))
	}
	if s.cfg.Webhooks != nil {
		// ip-addresses and rotate-secret before {id}.
		s.handle("GET /v3/webhooks/ip-addresses", s.authed(s.webhookIPAddresses))
		s.handle("POST /v3/webhooks/rotate-secret/{id}", s.authed(s.rotateWebhookSecret))
		s.handle("POST /v3/webhooks", s.authed(s.createWebhook))
		s.handle("GET /v3/webhooks", s.authed(s.listWebhooks))
		s.handle("GET /v3/webhooks/{id}", s.authed(s.getWebhook))
		s.handle("PUT /v3/webhooks/{id}", s.authed(s.updateWebhook))
		s.handle("DELETE /v3/webhooks/{id}", s.authed(s.deleteWebhook))
	}
	if s.cfg.Native != nil {
		// v2 paths: no API key (client_id names the application), v2's
		// error shape, also for a wrong method.
		// Each is limited per client IP, as the hosted OAuth routes are
		// (/connect/authorize also per application, in native).
		s.handle("POST /connect/authorize", s.v2Limited(s.cfg.Native.Authorize))
		if s.cfg.Native.Service.IssueToken != nil {
			s.handle("POST /connect/token", s.v2Limited(s.cfg.Native.Token))
		}
	}

	// Everything else is a 404 in the error envelope.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.respondError(w, r, NotFound("no route for %s %s", fault.Shorten(r.Method, maxLoggedMethod), fault.Shorten(r.URL.Path, 2*maxPathSegment)))
	})
	// A known path with another method is a 405 in the error envelope.
	for path, methods := range s.methods {
		allow := strings.Join(methods, ", ")
		if strings.HasPrefix(path, "/connect/") && s.cfg.Native != nil {
			tryHandle(s.mux, path, s.cfg.Native.MethodNotAllowed(allow))
			continue
		}
		h := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.respondError(w, r, &Error{Status: http.StatusMethodNotAllowed, Type: TypeMethodNotAllowed, Message: fault.Shorten(r.Method, maxLoggedMethod) + " is not allowed here; use " + allow})
		}
		if !tryHandle(s.mux, path, h) {
			// A fixed path beside a wildcard one (GET
			// /v3/webhooks/ip-addresses and GET /v3/webhooks/{id}): the
			// mux refuses a method-less pattern there, so the 405 is
			// registered per method.
			labelled := func(w http.ResponseWriter, r *http.Request) {
				r.Pattern = path // the route label, as for the other 405s
				h(w, r)
			}
			for _, m := range knownMethods {
				if !slices.Contains(methods, m) {
					tryHandle(s.mux, m+" "+path, labelled)
				}
			}
		}
	}
}

// tryHandle registers pattern unless it conflicts with one registered
// already, and reports whether it did.
func tryHandle(mux *http.ServeMux, pattern string, h http.HandlerFunc) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	mux.HandleFunc(pattern, h)
	return true
}

// handle registers "METHOD /path" and records the method for 405 answers.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	method, path, _ := strings.Cut(pattern, " ")
	s.methods[path] = append(s.methods[path], method)
	if method == http.MethodGet && !slices.Contains(s.methods[path], http.MethodHead) {
		s.methods[path] = append(s.methods[path], http.MethodHead)
	}
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP runs the middleware chain: request id, path normalisation,
// panic recovery, body limit, metrics and the access log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	w.Header().Set("x-request-id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
	pathErr := canonicalPath(r.URL)
	limit := s.bodyLimit(r)
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	tooLarge := r.ContentLength > limit
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", slog.String("request_id", id), slog.String("route", r.Pattern), slog.Any("panic", v))
			if !rec.wrote {
				s.respondError(rec, r, &Error{Status: http.StatusInternalServerError, Type: TypeInternal, Message: "internal error; the request id identifies it in grantd's log"})
			}
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		d := time.Since(start)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		completed := false
		if !rec.clientGone && r.Context().Err() != nil && status < 400 {
			// The client went away while the request was served and
			// never heard the success: not counted or logged as one
			// (completed says the change was made all the same).
			rec.clientGone, completed = true, true
		}
		if rec.clientGone {
			status = StatusClientClosedRequest
		}
		// Labels come from closed sets: any token is a method to net/http,
		// and every label value is a series kept for good.
		method := methodLabel(r.Method)
		s.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(route, method).Observe(d.Seconds())
		// Log the route, never the raw URL: query strings can carry tokens.
		attrs := []slog.Attr{slog.String("request_id", id), slog.String("method", method), slog.String("route", route),
			slog.Int("status", status), slog.Duration("duration", d)}
		if method == methodOther {
			attrs = append(attrs, slog.String("method_sent", fault.Shorten(r.Method, maxLoggedMethod)))
		}
		if completed {
			attrs = append(attrs, slog.Bool("completed", true))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}()
	if pathErr != nil {
		s.respondError(rec, r, pathErr)
		return
	}
	if tooLarge {
		// Said at once, rather than after reading up to the limit.
		s.respondError(rec, r, s.bodyTooLarge(r, limit))
		return
	}
	if err := checkURL(r.URL); err != nil {
		s.respondError(rec, r, err)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// methodOther is the method label of every method not in knownMethods.
const methodOther = "other"

// maxLoggedMethod bounds the part of an unknown method the access log
// keeps (net/http has already refused any byte outside the token set).
const maxLoggedMethod = 32

// knownMethods are the methods of RFC 9110 and PATCH.
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// methodLabel is m when it is a known method, else "other".
func methodLabel(m string) string {
	if slices.Contains(knownMethods, m) {
		return m
	}
	return methodOther
}

// canonicalPath puts u's path in the form net/http's ServeMux matches
// without redirecting, or says why it cannot. The mux answers a path that
// is not clean with a 307 to the cleaned one, which clients follow with the
// same method, body and key: an id holding "..", or "//" next to an
// escaped "/" (ids are path-escaped, so "x//../../connectors/zoom" arrives
// as one segment), would turn DELETE /v3/grants/{id} into DELETE
// /v3/connectors/zoom. So:
//   - "//" (the Node SDK sends "//v3/…" when apiUri ends with "/") is
//     collapsed in the escaped path, so an escaped "/" stays inside its
//     segment;
//   - a "." or ".." segment is refused: no id or name is one.
func canonicalPath(u *url.URL) error {
	ep := u.EscapedPath()
	if !strings.HasPrefix(ep, "/") {
		return NotFound("no such resource: the path must begin with /")
	}
	if strings.Contains(ep, "//") {
		ep = collapseSlashes(ep)
		p, err := url.PathUnescape(ep)
		if err != nil {
			return BadRequest("the URL path is not validly escaped")
		}
		u.Path, u.RawPath = p, ep
	}
	for seg := range strings.SplitSeq(ep, "/") {
		if seg == "." || seg == ".." {
			return NotFound("no such resource: the path has a %q segment (ids are never . or ..)", seg)
		}
	}
	return nil
}

// checkURL refuses a path or query holding a NUL byte or invalid UTF-8:
// no identifier, filter or name contains them, and the stores would
// reject them (PostgreSQL with an error rather than a miss).
func checkURL(u *url.URL) error {
	if !cleanText(u.Path) {
		return BadRequest("the URL path contains a NUL byte or invalid UTF-8")
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if len(seg) > maxPathSegment {
			// No id or provider name is that long; say so rather than
			// repeat it in a "not found".
			return NotFound("no such resource: a path segment is %d bytes long (ids are at most %d)", len(seg), maxPathSegment)
		}
	}
	if u.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// url.Values drops what it cannot parse: a filter such as
		// provider=google% would be ignored and the list answered
		// unfiltered.
		return BadRequest("the query string is not validly escaped (%s); escape %% as %%25 and separate parameters with &", err)
	}
	for k, vs := range q {
		if !cleanText(k) {
			return BadRequest("a query parameter name contains a NUL byte or invalid UTF-8")
		}
		for _, v := range vs {
			if !cleanText(v) {
				return BadRequest("query parameter %s contains a NUL byte or invalid UTF-8", fault.Shorten(k, 40))
			}
		}
	}
	return nil
}

// maxPathSegment bounds a path segment (ids, provider names).
const maxPathSegment = 256

// cleanText reports whether s is valid UTF-8 without NUL bytes.
func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func collapseSlashes(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

type statusRecorder struct {
	http.ResponseWriter
	status     int
	wrote      bool
	clientGone bool // counted as StatusClientClosedRequest
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// authed requires a valid API key (Authorization: Bearer <key>) and takes
// a token of the application's general rate limit.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return s.authedLimited(s.cfg.RateLimit, "the API", h)
}

// authedLimited requires a valid API key and takes a token of the
// application's bucket in lim (what names the bucket in a 429).
func (s *Server) authedLimited(lim *ratelimit.Limiter, what string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Authorization")) > 1 {
			// Which one counts would depend on the proxy in front.
			s.respondError(w, r, BadRequest("the request has %d Authorization headers; send one", len(r.Header.Values("Authorization"))))
			return
		}
		key, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			s.respondError(w, r, &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Message: "missing API key: send the header Authorization: Bearer <API key>"})
			return
		}
		p, err := s.cfg.Auth.Authenticate(r.Context(), key)
		if errors.Is(err, tenant.ErrUnauthorized) {
			s.respondError(w, r, &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Message: "invalid API key: it is unknown or has been revoked"})
			return
		}
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		// The application's configuration version read with the key: the
		// connector and credential caches check it (store.WithConfigVersion).
		r = r.WithContext(store.WithConfigVersion(context.WithValue(r.Context(), principalKey, p), p.App.ID, p.ConfigVersion))
		if s.limit(w, r, lim, what) {
			return
		}
		h(w, r)
	}
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// principal returns the authenticated caller; only valid inside authed.
func principal(r *http.Request) tenant.Principal {
	p, _ := r.Context().Value(principalKey).(tenant.Principal)
	return p
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready.Ping(ctx); err != nil {
			if r.Context().Err() != nil {
				s.respondError(w, r, err) // the client hung up
				return
			}
			s.log.WarnContext(r.Context(), "not ready", slog.Any("err", err))
			w.Header().Set("Retry-After", retryAfterUnavailable)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "store is not reachable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
