package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/providers"
)

// Provider names accepted by the sandbox (the same as grantd's).
const (
	Google    = provider.Google
	Microsoft = provider.Microsoft
	Yahoo     = provider.Yahoo
	Zoom      = provider.Zoom
)

// DefaultAccessTokenTTL is the access token lifetime of every provider until
// SetAccessTokenTTL changes it.
const DefaultAccessTokenTTL = time.Hour

// DefaultGrace is the grace period of RotateGrace when Rotation.Grace is
// zero.
const DefaultGrace = 60 * time.Second

// idTokenTTL is the lifetime of issued ID tokens (all providers use an hour).
const idTokenTTL = time.Hour

// Options configure a Sandbox.
type Options struct {
	// Issuer is the base URL written into ID tokens' iss claims (Issuer +
	// "/google", Issuer + "/yahoo", Issuer + "/microsoft/{tid}/v2.0") and
	// into Providers().Google.Issuer. Empty means the base URL the sandbox
	// is reached at: URL() after Start, or for a handler from New, the
	// request's scheme and Host. When the sandbox has no listener, Issuer
	// is also the base of the endpoints Providers() returns.
	Issuer string
	// Logger receives debug-level records of admin actions; nil discards.
	Logger *slog.Logger
	// Addr is the address Start listens on; empty means 127.0.0.1:0.
	Addr string
}

// User is an account at a provider. ID is the provider's user id (Google
// sub, Microsoft object id, Yahoo GUID, Zoom user id). Tenant is the
// Microsoft tenant id or the Zoom account id; other providers ignore it.
type User struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
}

// RotationMode says what happens to a refresh token when it is redeemed.
type RotationMode int

// Rotation modes.
const (
	// RotateNone: the same refresh token keeps working (Google, Yahoo).
	RotateNone RotationMode = iota
	// RotateGrace: a new refresh token is issued; the redeemed one keeps
	// working for Rotation.Grace (Microsoft).
	RotateGrace
	// RotateStrict: a new refresh token is issued; the redeemed one dies at
	// once (Zoom).
	RotateStrict
)

func (m RotationMode) String() string {
	switch m {
	case RotateNone:
		return "none"
	case RotateGrace:
		return "grace"
	case RotateStrict:
		return "strict"
	}
	return fmt.Sprintf("RotationMode(%d)", int(m))
}

// ParseRotationMode parses "none", "grace" or "strict".
func ParseRotationMode(s string) (RotationMode, error) {
	switch strings.ToLower(s) {
	case "none":
		return RotateNone, nil
	case "grace":
		return RotateGrace, nil
	case "strict":
		return RotateStrict, nil
	}
	return 0, fmt.Errorf("sandbox: unknown rotation mode %q (want none, grace or strict)", s)
}

// Rotation is a provider's refresh token rotation policy. Grace is used by
// RotateGrace only; zero means DefaultGrace.
type Rotation struct {
	Mode  RotationMode
	Grace time.Duration
}

// Failure makes the next Count requests to a provider's endpoint fail.
type Failure struct {
	// Endpoint is "token", "identity" or "" (both).
	Endpoint string
	// Status is the HTTP status answered, with a provider-like body; 0
	// means the request is only delayed and then served normally.
	Status int
	// Delay holds the answer back; a request whose context ends first (the
	// client gave up) is dropped.
	Delay time.Duration
	// AnswerDelay holds a token endpoint's answer back after the refresh
	// token was redeemed (and rotated), before it is written: a client that
	// dies or gives up meanwhile never sees the new refresh token, the
	// window in which a client can lose a rotated token. At the identity
	// endpoint it adds to Delay.
	AnswerDelay time.Duration
	// Count is how many requests are affected: -1 means until
	// ClearFailures, 0 means 1.
	Count int
	// RetryAfter is the Retry-After header of a 429 or 503 Status, as
	// sent (seconds or an HTTP date); empty means "1".
	RetryAfter string
}

// Ledger is a snapshot of one provider's bookkeeping.
type Ledger struct {
	// ValidTokens maps a user's lower-cased email to the refresh tokens currently
	// valid for them (any client), in the order they were issued.
	ValidTokens map[string][]string
	// Redemptions counts successful refresh_token grants.
	Redemptions int
	// Rejections counts token endpoint requests answered with an OAuth
	// error (invalid_grant, invalid_client, invalid_request, …), not
	// counting injected failures.
	Rejections int
	// IdentityCalls counts successful identity endpoint requests.
	IdentityCalls int
	// IdentityRejections counts identity requests refused for a missing,
	// unknown or expired access token (or a missing scope).
	IdentityRejections int
	// InjectedFailures counts requests answered by an injected failure
	// status.
	InjectedFailures int
	// LostAnswers counts redemptions whose answer the client never
	// received: it hung up during an injected AnswerDelay.
	LostAnswers int
}

// Valid returns how many refresh tokens are valid for email.
func (l Ledger) Valid(email string) int { return len(l.ValidTokens[strings.ToLower(email)]) }

// Sandbox is the fake provider set. Its methods are safe for concurrent use.
type Sandbox struct {
	opts   Options
	log    *slog.Logger
	admin  *http.ServeMux // the /admin/ surface (admin.go)
	keys   *signingKey
	url    string // set by Start before serving; read-only afterwards
	provs  map[string]*prov
	offset atomic.Int64 // test clock offset, nanoseconds

	delayed atomic.Int64 // requests currently held by an injected delay

	srv       *http.Server
	closeOnce sync.Once
	closeErr  error
}

// prov is one provider's state, guarded by mu.
type prov struct {
	name string
	f    flavor // what makes it the provider it stands for

	mu       sync.Mutex
	clients  map[string]string // client id → secret ("" = public client)
	users    map[string]*User  // lower-cased email → user
	refresh  map[string]*refreshGrant
	access   map[string]*accessGrant
	retired  map[string]uint64 // rotated-away refresh token → family, for Revoke
	codes    map[string]*authCode
	rotation Rotation
	ttl      time.Duration
	failures []*failure
	// serviceAccounts are Google's service accounts by lower-cased
	// client_email (serviceaccount.go).
	serviceAccounts map[string]*serviceAccount
	// consents are Microsoft's admin consents: lower-cased tenant →
	// client ids; appTokens its app-only tokens (appconsent.go).
	consents  map[string]map[string]bool
	declines  map[string]bool
	appTokens map[string]*appToken
	nfail     atomic.Int32 // len(failures), readable without mu
	stats     Ledger       // counters only; ValidTokens unused
	seq       uint64
	inserts   int
}

type refreshGrant struct {
	user     *User
	clientID string
	scopes   []string
	family   uint64    // shared by a minted token and its rotations
	seq      uint64    // issue order
	deadline time.Time // zero: valid until revoked or rotated away
	// answeredAt is when the token endpoint answered with this token
	// (zero: minted through the admin surface, or its answer was lost).
	answeredAt time.Time
}

type accessGrant struct {
	user     *User
	clientID string
	scopes   []string
	family   uint64
	expires  time.Time
}

type failure struct {
	endpoint  string
	status    int
	delay     time.Duration
	answer    time.Duration // AnswerDelay
	remaining int           // -1: forever
	retry     string        // RetryAfter
}

// New returns a sandbox with no listener; serve Handler() yourself.
func New(opts Options) *Sandbox {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	opts.Issuer = strings.TrimSuffix(opts.Issuer, "/")
	s := &Sandbox{opts: opts, log: lg, keys: sharedKey(), provs: make(map[string]*prov, 4)}
	for name, f := range flavors {
		p := &prov{name: name, f: f}
		p.reset()
		s.provs[name] = p
	}
	s.admin = s.newAdminMux()
	return s
}

// Start returns a sandbox serving plain HTTP on Options.Addr (default
// 127.0.0.1:0). Close stops it.
func Start(opts Options) (*Sandbox, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	s := New(opts)
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox: serve", "err", err)
		}
	}()
	s.log.Debug("sandbox: listening", "url", s.url)
	return s, nil
}

// URL is the base URL of the listener ("http://127.0.0.1:port"), or "" for
// a sandbox from New.
func (s *Sandbox) URL() string { return s.url }

// Handler serves every route of the sandbox, mounted at the root.
func (s *Sandbox) Handler() http.Handler { return s }

// Close stops the listener started by Start, dropping open connections
// (and the requests held by injected delays). It is a no-op for a sandbox
// from New.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		if s.srv != nil {
			s.closeErr = s.srv.Close()
		}
	})
	return s.closeErr
}

// base is the base URL endpoints are advertised at.
func (s *Sandbox) base() string {
	if s.url != "" {
		return s.url
	}
	return s.opts.Issuer
}

// issuerBase is the base of the iss claims for a request.
func (s *Sandbox) issuerBase(r *http.Request) string {
	if s.opts.Issuer != "" {
		return s.opts.Issuer
	}
	if s.url != "" {
		return s.url
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Providers returns grantd's provider configuration pointing at this
// sandbox (ICloud and EWS are left zero).
func (s *Sandbox) Providers() providers.Config {
	b := s.base()
	iss := s.opts.Issuer
	if iss == "" {
		iss = b
	}
	var c providers.Config
	for _, p := range s.provs {
		p.f.configure(&c, b, iss)
	}
	return c
}

func (s *Sandbox) now() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }

// advance moves the sandbox clock forward (tests).
func (s *Sandbox) advance(d time.Duration) { s.offset.Add(int64(d)) }

// prov returns the named provider's state, or nil.
func (s *Sandbox) prov(name string) *prov { return s.provs[strings.ToLower(name)] }

func (s *Sandbox) mustProv(name string) *prov {
	p := s.prov(name)
	if p == nil {
		panic(fmt.Sprintf("sandbox: unknown provider %q (want google, microsoft, yahoo or zoom)", name))
	}
	return p
}

// reset puts p back in its initial state. Callers hold p.mu or own p.
func (p *prov) reset() {
	p.clients = map[string]string{}
	p.users = map[string]*User{}
	p.refresh = map[string]*refreshGrant{}
	p.access = map[string]*accessGrant{}
	p.retired = map[string]uint64{}
	p.codes = map[string]*authCode{}
	p.rotation = p.f.defaultRotation()
	p.ttl = DefaultAccessTokenTTL
	p.failures = nil
	p.serviceAccounts = map[string]*serviceAccount{}
	p.consents = map[string]map[string]bool{}
	p.declines = map[string]bool{}
	p.appTokens = map[string]*appToken{}
	p.nfail.Store(0)
	p.stats = Ledger{}
}

// Reset forgets every client, user and token, clears failures and counters
// and restores the default rotation and TTL settings.
func (s *Sandbox) Reset() {
	for _, p := range s.provs {
		p.mu.Lock()
		p.reset()
		p.mu.Unlock()
	}
	s.log.Debug("sandbox: reset")
}

// AddClient registers (or updates) an OAuth client app. An empty secret
// makes a public client that authenticates with its id alone.
func (s *Sandbox) AddClient(provider, clientID, clientSecret string) {
	p := s.mustProv(provider)
	p.mu.Lock()
	p.clients[clientID] = clientSecret
	p.mu.Unlock()
	s.log.Debug("sandbox: client added", "provider", p.name, "client_id", clientID)
}

// AddUser registers (or updates, by email) a user and returns it with the
// empty fields filled: ID in the provider's format, Name from the email,
// Tenant (Microsoft: DefaultTenant; Zoom: a generated account id).
func (s *Sandbox) AddUser(provider string, u User) User {
	p := s.mustProv(provider)
	u.Email = strings.TrimSpace(u.Email)
	if u.Email == "" {
		panic("sandbox: AddUser without an email")
	}
	key := strings.ToLower(u.Email)
	if u.Name == "" {
		u.Name = nameFromEmail(u.Email)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.users[key]; ok {
		if u.ID == "" {
			u.ID = old.ID
		}
		if u.Tenant == "" {
			u.Tenant = old.Tenant
		}
	}
	if u.ID == "" {
		u.ID = p.f.newUserID()
	}
	if u.Tenant == "" {
		u.Tenant = p.f.newTenant()
	}
	if old, ok := p.users[key]; ok {
		*old = u // grants point at the stored user
	} else {
		nu := u
		p.users[key] = &nu
	}
	s.log.Debug("sandbox: user added", "provider", p.name, "email", u.Email)
	return u
}

// MintRefreshToken issues a refresh token for an existing client and user,
// as if the user had just consented to scopes.
func (s *Sandbox) MintRefreshToken(provider, clientID, email string, scopes []string) (string, error) {
	p := s.prov(provider)
	if p == nil {
		return "", fmt.Errorf("sandbox: unknown provider %q", provider)
	}
	tok := p.f.newRefreshToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.clients[clientID]; !ok {
		return "", fmt.Errorf("sandbox: %s: unknown client %q", p.name, clientID)
	}
	u := p.users[strings.ToLower(email)]
	if u == nil {
		return "", fmt.Errorf("sandbox: %s: unknown user %q", p.name, email)
	}
	p.seq++
	p.refresh[tok] = &refreshGrant{user: u, clientID: clientID, scopes: slices.Clone(scopes), family: p.seq, seq: p.seq}
	s.log.Debug("sandbox: refresh token minted", "provider", p.name, "client_id", clientID, "email", u.Email)
	return tok, nil
}

// Revoke invalidates a refresh token together with every token of its
// grant: the tokens it was rotated from or into and the access tokens they
// produced (as when a user removes an app's access). A token already
// rotated away still names its grant.
func (s *Sandbox) Revoke(provider, refreshToken string) { s.revoke(provider, refreshToken) }

func (s *Sandbox) revoke(provider, refreshToken string) int {
	p := s.prov(provider)
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var family uint64
	if g := p.refresh[refreshToken]; g != nil {
		family = g.family
	} else if f, ok := p.retired[refreshToken]; ok {
		family = f
	} else {
		return 0
	}
	n := 0
	for t, o := range p.refresh {
		if o.family == family {
			delete(p.refresh, t)
			n++
		}
	}
	for t, a := range p.access {
		if a.family == family {
			delete(p.access, t)
		}
	}
	for t, f := range p.retired {
		if f == family {
			delete(p.retired, t)
		}
	}
	return n
}

// RevokeUser invalidates every refresh and access token of a user.
func (s *Sandbox) RevokeUser(provider, email string) { s.revokeUser(provider, email) }

func (s *Sandbox) revokeUser(provider, email string) int {
	p := s.prov(provider)
	if p == nil {
		return 0
	}
	key := strings.ToLower(email)
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.users[key]
	if u == nil {
		return 0
	}
	n := 0
	for t, g := range p.refresh {
		if g.user == u {
			delete(p.refresh, t)
			n++
		}
	}
	for t, a := range p.access {
		if a.user == u {
			delete(p.access, t)
		}
	}
	return n
}

// SetRotation sets a provider's refresh token rotation policy.
func (s *Sandbox) SetRotation(provider string, r Rotation) {
	p := s.mustProv(provider)
	if r.Mode == RotateGrace && r.Grace <= 0 {
		r.Grace = DefaultGrace
	}
	p.mu.Lock()
	p.rotation = r
	p.mu.Unlock()
}

// SetAccessTokenTTL sets the lifetime of the access tokens a provider
// issues from now on; zero or less restores DefaultAccessTokenTTL.
func (s *Sandbox) SetAccessTokenTTL(provider string, ttl time.Duration) {
	p := s.mustProv(provider)
	if ttl <= 0 {
		ttl = DefaultAccessTokenTTL
	}
	p.mu.Lock()
	p.ttl = ttl
	p.mu.Unlock()
}

// InjectFailure queues a failure for a provider. Failures apply in the
// order they were injected; one with Count -1 stays first until
// ClearFailures.
func (s *Sandbox) InjectFailure(provider string, f Failure) {
	p := s.mustProv(provider)
	switch f.Endpoint {
	case "", "token", "identity":
	default:
		panic(fmt.Sprintf("sandbox: unknown failure endpoint %q (want token, identity or empty)", f.Endpoint))
	}
	n := f.Count
	if n == 0 {
		n = 1
	}
	if n < -1 {
		n = -1
	}
	p.mu.Lock()
	p.failures = append(p.failures, &failure{endpoint: f.Endpoint, status: f.Status, delay: f.Delay, answer: f.AnswerDelay, remaining: n, retry: f.RetryAfter})
	p.nfail.Store(int32(len(p.failures)))
	p.mu.Unlock()
}

// ClearFailures removes every injected failure of every provider.
func (s *Sandbox) ClearFailures() {
	for _, p := range s.provs {
		p.mu.Lock()
		p.failures = nil
		p.nfail.Store(0)
		p.mu.Unlock()
	}
}

// Ledger returns a snapshot of a provider's valid refresh tokens and
// counters.
func (s *Sandbox) Ledger(provider string) Ledger {
	p := s.mustProv(provider)
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.stats
	type item struct {
		email, tok string
		seq        uint64
	}
	items := make([]item, 0, len(p.refresh))
	for t, g := range p.refresh {
		if g.live(now) {
			items = append(items, item{strings.ToLower(g.user.Email), t, g.seq})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	l.ValidTokens = make(map[string][]string)
	for _, it := range items {
		l.ValidTokens[it.email] = append(l.ValidTokens[it.email], it.tok)
	}
	return l
}

// Counters returns a provider's counters: a Ledger without ValidTokens,
// cheap enough to poll while hundreds of thousands of tokens are live.
func (s *Sandbox) Counters(provider string) Ledger {
	p := s.mustProv(provider)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// IsValidRefreshToken reports whether a refresh token would be accepted
// now (by its own client).
func (s *Sandbox) IsValidRefreshToken(provider, token string) bool {
	p := s.prov(provider)
	if p == nil {
		return false
	}
	now := s.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.refresh[token]
	return g != nil && g.live(now)
}

// RefreshTokenAnswered returns when the token endpoint handed out token
// as a rotated refresh token (the end of the handler; the bytes leave with
// the response right after). ok is false for a token minted through the
// admin surface, one whose answer the client hung up on, and an unknown
// one.
func (s *Sandbox) RefreshTokenAnswered(provider, token string) (at time.Time, ok bool) {
	p := s.prov(provider)
	if p == nil {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.refresh[token]; g != nil && !g.answeredAt.IsZero() {
		return g.answeredAt, true
	}
	return time.Time{}, false
}

func (g *refreshGrant) live(now time.Time) bool {
	return g.deadline.IsZero() || now.Before(g.deadline)
}

// takeFailure consumes the first failure matching endpoint. Callers hold
// p.mu.
func (p *prov) takeFailure(endpoint string) (f *failure, ok bool) {
	for i, f := range p.failures {
		if f.endpoint != "" && f.endpoint != endpoint {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				p.failures = slices.Delete(p.failures, i, i+1)
				p.nfail.Store(int32(len(p.failures)))
			}
		}
		return f, true
	}
	return nil, false
}

// sweep drops expired access tokens and authorization codes, and refresh
// tokens past their grace period, every few thousand issues. Callers hold
// p.mu.
func (p *prov) sweep(now time.Time) {
	p.inserts++
	if p.inserts < 4096 {
		return
	}
	p.inserts = 0
	for t, a := range p.access {
		if !now.Before(a.expires) {
			delete(p.access, t)
		}
	}
	for c, a := range p.codes {
		if !now.Before(a.expires) {
			delete(p.codes, c)
		}
	}
	live := make(map[uint64]bool)
	for t, g := range p.refresh {
		if g.live(now) {
			live[g.family] = true
		} else {
			delete(p.refresh, t)
			p.retired[t] = g.family
		}
	}
	for t, f := range p.retired {
		if !live[f] {
			delete(p.retired, t)
		}
	}
}

// injected applies the failure queued for endpoint, if any. It returns the
// status to answer (0: serve normally), the delay to apply after serving
// and before answering (AnswerDelay), and false when the request must be
// dropped because its context ended during the delay. The Retry-After of
// a failure answered 429 or 503 is set on h.
func (s *Sandbox) injected(ctx context.Context, h http.Header, p *prov, endpoint string) (int, time.Duration, bool) {
	if p.nfail.Load() == 0 {
		return 0, 0, true
	}
	p.mu.Lock()
	f, ok := p.takeFailure(endpoint)
	if ok && f.status != 0 {
		p.stats.InjectedFailures++
	}
	p.mu.Unlock()
	if !ok {
		return 0, 0, true
	}
	if !s.hold(ctx, f.delay) {
		return 0, 0, false
	}
	if f.status == http.StatusTooManyRequests || f.status == http.StatusServiceUnavailable {
		ra := f.retry
		if ra == "" {
			ra = "1"
		}
		h.Set("Retry-After", ra)
	}
	return f.status, f.answer, true
}

// hold waits d (counted in InFlight); false when ctx ended first.
func (s *Sandbox) hold(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	s.delayed.Add(1)
	defer s.delayed.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Held is the number of requests currently held back by an injected
// Delay or AnswerDelay.
func (s *Sandbox) Held() int { return int(s.delayed.Load()) }

func nameFromEmail(email string) string {
	local, _, _ := strings.Cut(email, "@")
	parts := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })
	for i, w := range parts {
		parts[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	if len(parts) == 0 {
		return email
	}
	return strings.Join(parts, " ")
}
