// Package refresh keeps OAuth grants alive: a scheduler refreshes every
// grant's access token a margin before it expires (and at least every
// KeepAlive, so that providers do not revoke idle grants), and AccessToken
// hands out a fresh provider access token on demand.
//
// # Leases
//
// Work is shared through the store: a worker claims due grants with a
// lease (store.ClaimDueGrants; PostgreSQL FOR UPDATE SKIP LOCKED), the
// on-demand path claims one grant (store.ClaimGrant). Only the lease
// holder redeems a grant's refresh token, so nodes sharing a database do
// not race each other's rotations. Inside one process every refresh of a
// grant also goes through one in-flight call per grant (singleflight), so
// the scheduler and concurrent access-token requests share one redemption.
// The provider call ends when a quarter of the lease is left at the latest
// (and lasts at most half the lease), counted from the claim: however
// long the claim's answer, the reads before the call and the wait for a
// slot took, a holder stores the outcome before its lease can be taken
// over (unless the process was paused meanwhile: netx.WithGraceTimeout).
//
// # Per-provider concurrency
//
// The refreshes in flight to one provider are bounded by an adaptive limit
// (limiter.go: AIMD between refresh.provider_concurrency_min and
// refresh.provider_concurrency_max, starting at
// refresh.provider_concurrency): one more per round trip while every slot
// is used and answers come back in good time; halved on a 429, a 5xx, a
// timeout; a tenth less when an answer takes more than twice the usual
// latency; no call during a Retry-After the provider sent.
//
// The scheduler holds at most twice a provider's current limit of its
// grants (in flight or waiting for a slot) and claims none during its
// pause: while any provider's share is full or paused, each claim takes
// the other providers' due grants one provider at a time, up to each
// one's room (store.ClaimDueGrantsOf, which never reads another
// provider's due grants, however many), and a grant claimed beyond its
// provider's share is released at once, unwritten. So a throttled
// provider ties up its own share of refresh.workers, and the other
// providers' due grants are claimed even when the throttled provider's are
// more overdue (Run in run.go). A claimed grant waits for a slot until a
// quarter of its lease has gone by at most; then its lease is released
// unwritten (outcome throttled) and it is claimed again later.
//
// # Modes
//
// refresh.mode decides only when a grant is next due (grant.Schedule):
// keep_fresh plans a refresh before every access token expires; on_demand
// plans only the keep-alive (refresh.keepalive), and AccessToken refreshes
// a grant whose stored access token is too old when it is asked for. Both
// go through the same leases, compare-and-swap and spool.
//
// # Storing a refresh (compare-and-swap)
//
// A refresh reads the grant (version v, refresh token T1), redeems T1 and
// gets T2 (rotated) or nothing new. The result is stored by the grant
// service (grant.Service.CommitRefresh), under the row lock, by these
// rules:
//
//   - version still v: write T2, the access token and the schedule.
//   - version moved but the stored refresh token is still T1 (someone
//     changed other fields, or our lease lapsed and nobody has committed
//     since): write T2 on top of the current record, keeping the other
//     changes. T1 may already be dead (strict rotation): T2 must not be
//     lost.
//   - stored refresh token is now T3 ≠ T1: someone stored a newer token
//     after we read (a re-authentication, or another node's refresh after
//     our lease lapsed). The stored T3 is valid and wins; our T2 (a
//     sibling of T3 at a grace-rotation provider, or a token of the old
//     chain after a re-authentication) is dropped on purpose.
//   - the grant was deleted: nothing to keep.
//   - the grant was marked invalid while we were refreshing, by a refresh
//     of the same T1 that failed because ours had just rotated it (only
//     possible when our lease lapsed): our T2 is the live token, so the
//     grant is made valid again with it and grant.updated is emitted.
//
// Commits run on a context detached from the caller's cancellation: once
// the provider answered, a shutdown or a client hanging up does not stop
// the rotated token from being stored.
//
// # Failures
//
// A permanent failure (every provider.Class but ClassUnavailable,
// ClassInvalidClient and ClassTLS, and a missing connector or credential)
// is stored with grant.Service.Invalidate, which re-reads the grant under
// the row lock first: if the stored refresh token is no longer the one
// that was refused, another node won the race and nothing happens; if
// another node's lease is running, it may be mid-rotation and the grant is
// retried shortly; otherwise the grant becomes invalid at once, with
// LastFailureClass and LastFailureMessage, NextRefreshAt cleared and one
// grant.expired event in the same transaction (a grant that is already
// invalid gets no second event). Transient failures (ClassUnavailable;
// ClassInvalidClient, a refused OAuth client, and ClassTLS, a token
// endpoint certificate that does not verify, which say nothing about the
// grant's token and are fixed in configuration; store or vault errors;
// anything unclassified) never invalidate (grant.Service.RecordFailure):
// the grant is retried with exponential backoff and jitter up to
// refresh.max_backoff, and RefreshFailures counts the consecutive
// failures.
//
// # Who writes
//
// This package writes no grant itself: every outcome goes through the
// grant service (CommitRefresh, RecordFailure, Invalidate, RecordRecheck,
// Postpone), which also owns the one scheduling policy (grant.Schedule:
// when a grant is next due after an authentication, a refresh, a re-check
// or a failure). What it needs of the store is the narrow Store interface:
// reads and leases.
//
// # When the database fails
//
// An answer that carries a rotated refresh token is the one thing a
// refresh can lose: with strict rotation (Zoom) the redeemed token is dead
// the moment the provider answers. So, before the commit is attempted, the
// answer (grant id, app id, fingerprint of the token it replaced, version
// read, the new tokens) is appended to the spool (Options.Spool,
// internal/spool: sealed with the vault, fsynced, group commit). If the
// store does not take it (anything but a lost compare-and-swap or a
// deleted grant), the answer is held in memory and the hold loop retries
// it, oldest first, with one probe per round while the store keeps
// failing (50ms doubling to min(Lease/8, 2s)), until it is stored or
// superseded, for as long as the process lives; "refresh: held answer
// stored" is logged then, and its spool record removed. A refresh of a
// grant with a held answer stores that answer first and never redeems the
// old token again. At start-up the spool's records (including those of
// any slot no live process holds: a node killed meanwhile) are held and
// replayed through the same rules: a record whose token is already stored,
// or whose replaced token is no longer the stored one, is dropped.
// Answers that did not rotate are not spooled or held: the stored refresh
// token still works, the lease runs out, and the grant is refreshed again.
//
// Memory: at most MaxHeld (10,000) answers are held (a few KB each). At
// the bound the scheduler claims nothing and AccessToken answers a
// retryable error for grants that need a refresh, until answers are
// stored; answers of refreshes already in flight are still held (the bound
// is exceeded by at most the workers plus concurrent access-token
// requests).
//
// Leases: while the store is unreachable nobody can claim a grant. A
// refresher that saw the store fail (and every refresher at start-up)
// claims nothing until it has extended, by one Lease, every lease that
// ran out unreleased (store.ExtendLapsedLeases): those are the grants
// whose refresh was in flight when the store went away, whose answer may
// be held by their owner or in the spool of a node being restarted. The
// owner stores it meanwhile (and its commit clears the lease); after that
// Lease, if nobody stored anything, the grant is claimed as usual. When
// the answer is finally stored, the stored version and the fingerprint
// decide (the compare-and-swap rules above).
//
// What cannot be saved: an answer lost on the wire (the process died
// before the provider's answer arrived), an answer whose node's disk is
// lost for good (or that node stays away longer than a Lease after the
// store is back), and an answer held by a node cut off from a store the
// other nodes still reach for longer than a Lease: with strict rotation
// the next refresh gets invalid_grant and the grant becomes invalid (with
// grant.expired). If the spool then comes back after all, its replay
// makes the grant valid again with the live token (grant.updated). With
// grace rotation (Microsoft) the old token keeps working for the grace
// period; without rotation (Google, Yahoo) nothing is at risk.
//
// # Password grants
//
// Grants without a refresh token whose provider can re-check stored
// credentials (provider.Rechecker: IMAP, iCloud, EWS) are scheduled every
// refresh.password_recheck (minus up to a tenth of jitter; grant.Schedule)
// and claimed like OAuth
// grants. A re-check logs in again with the stored settings and
// passwords; nothing new is stored but LastRefreshAt and the schedule
// (grant.Service.RecordRecheck).
// Failures are classified as for OAuth, with a digest of the secrets in
// place of the refresh token (so a re-authentication that stored a new
// password during the check wins): invalid credentials, app password
// required, basic auth or access disabled and bad requests make the grant
// invalid with one grant.expired; ClassUnavailable, ClassTLS (a server
// certificate problem is not the account's), ClassAddressRefused (the
// server's address is one network.allow_private_hosts refuses: the
// operator's setting, which may change) and anything unclassified are
// retried with backoff and never invalidate.
package refresh

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Config tunes the refresher; zero fields take the defaults of
// DefaultConfig. When grants are next due is the grant service's
// business (grant.Schedule).
type Config struct {
	// Owner names this refresher in leases; empty means host-pid-random.
	Owner string
	// Workers is the number of grants refreshed at once.
	Workers int
	// ProviderConcurrency is where each provider's limit on the refreshes
	// in flight starts; the limit then adapts between
	// ProviderConcurrencyMin and ProviderConcurrencyMax (limiter.go).
	ProviderConcurrency    int
	ProviderConcurrencyMin int
	ProviderConcurrencyMax int
	// Interval is how often the store is polled for due grants when the
	// last poll found none (with ±25% jitter).
	Interval time.Duration
	// Lease is how long a claimed grant stays reserved.
	Lease time.Duration
	// AccessTokenMargin: AccessToken refreshes first when the stored access
	// token expires within this.
	AccessTokenMargin time.Duration
	// DueGaugeInterval is how often the due-grants gauge is recomputed.
	DueGaugeInterval time.Duration
	// MaxHeld bounds the provider answers held in memory while the store
	// does not take them; at the bound no new refresh starts (see the
	// package comment).
	MaxHeld int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Workers:                64,
		ProviderConcurrency:    4,
		ProviderConcurrencyMin: 1,
		ProviderConcurrencyMax: 32,
		Interval:               5 * time.Second,
		Lease:                  2 * time.Minute,
		AccessTokenMargin:      2 * time.Minute,
		DueGaugeInterval:       15 * time.Second,
		MaxHeld:                10000,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = crand.Read(b)
		c.Owner = host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
	}
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.ProviderConcurrency <= 0 {
		c.ProviderConcurrency = d.ProviderConcurrency
	}
	if c.ProviderConcurrencyMin <= 0 {
		c.ProviderConcurrencyMin = min(d.ProviderConcurrencyMin, c.ProviderConcurrency)
	}
	if c.ProviderConcurrencyMax <= 0 {
		c.ProviderConcurrencyMax = max(d.ProviderConcurrencyMax, c.ProviderConcurrency)
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = d.MaxHeld
	}
	set(&c.Interval, d.Interval)
	set(&c.Lease, d.Lease)
	set(&c.AccessTokenMargin, d.AccessTokenMargin)
	set(&c.DueGaugeInterval, d.DueGaugeInterval)
	return c
}

// Grants is what the refresher needs from the grant service: the secrets
// to redeem, and the operations that store what came of a refresh.
type Grants interface {
	Secrets(g store.Grant) (map[string]string, error)
	CommitRefresh(ctx context.Context, r grant.Refreshed) (store.Grant, error)
	RecordFailure(ctx context.Context, f grant.Failure) (store.Grant, error)
	Invalidate(ctx context.Context, f grant.Failure) (store.Grant, error)
	RecordRecheck(ctx context.Context, r grant.Recheck) (store.Grant, error)
	Postpone(ctx context.Context, appID, id, owner string) (store.Grant, error)
}

// Store is what the refresher needs from the store: reads and leases,
// never a grant write.
type Store interface {
	GetGrant(ctx context.Context, appID, id string) (store.Grant, error)
	ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Grant, error)
	ClaimDueGrantsOf(ctx context.Context, now time.Time, owner string, lease time.Duration, provider string, limit int) ([]store.Grant, error)
	ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (store.Grant, bool, error)
	ReleaseGrant(ctx context.Context, appID, id, owner string) error
	CountDueGrants(ctx context.Context, now time.Time) (int, error)
	ExtendLapsedLeases(ctx context.Context, now time.Time, lease time.Duration) (int, error)
}

// Options assemble a Refresher.
type Options struct {
	Config    Config
	Store     Store
	Grants    Grants
	Clients   grant.ClientResolver
	Providers map[string]provider.Refresher // by provider name
	// Checkers re-check password grants, by provider name.
	Checkers map[string]provider.Rechecker
	Log      *slog.Logger
	Now      func() time.Time
	// Spool keeps rotated tokens durably until they are stored (nil:
	// memory only); Replay are the answers a previous process left in it,
	// stored first.
	Spool  Spool
	Replay []SpoolRecord
}

// Refresher refreshes grants. Its methods are safe for concurrent use.
type Refresher struct {
	cfg              Config
	st               Store
	grants           Grants
	clients          grant.ClientResolver
	providers        map[string]provider.Refresher
	checkers         map[string]provider.Rechecker
	limitedProviders []string // the providers whose grants take a limiter's slot, sorted
	claimTurn        int      // Run: the provider the next claim of each provider's grants starts with
	log              *slog.Logger
	clock            func() time.Time
	m                *metrics

	spool Spool

	mu       sync.Mutex
	inflight map[string]*call    // by grant id
	limits   map[string]*limiter // by provider
	held     map[uint64]*held    // answers not stored yet
	heldSeq  uint64

	down   atomic.Bool // the store failed since the last ExtendLapsedLeases
	downMu sync.Mutex

	kicked    chan struct{} // Run: a capped provider's share has room (kick)
	wake      chan struct{}
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
}

// New returns a Refresher. Call Run to start the scheduler; AccessToken
// works without it.
func New(o Options) *Refresher {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Refresher{
		cfg: o.Config.withDefaults(), st: o.Store, grants: o.Grants, clients: o.Clients,
		providers: o.Providers, checkers: o.Checkers, log: o.Log, clock: o.Now, m: newMetrics(),
		inflight: map[string]*call{}, limits: map[string]*limiter{}, held: map[uint64]*held{},
		spool: o.Spool, kicked: make(chan struct{}, 1), wake: make(chan struct{}, 1), stop: make(chan struct{}), loopDone: make(chan struct{}),
	}
	for prov := range r.providers {
		r.limitedProviders = append(r.limitedProviders, prov)
	}
	for prov := range r.checkers {
		if r.providers[prov] == nil {
			r.limitedProviders = append(r.limitedProviders, prov)
		}
	}
	slices.Sort(r.limitedProviders)
	// Until it has reached the store once, a refresher claims nothing
	// (reachable): a grant leased before a crash or an outage waits for
	// the answer its owner may hold.
	r.down.Store(true)
	r.loadSpool(o.Replay)
	go r.holdLoop()
	return r
}

// Owner is the name this refresher uses in leases.
func (r *Refresher) Owner() string { return r.cfg.Owner }

func (r *Refresher) now() time.Time { return r.clock().UTC().Truncate(time.Microsecond) }

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// outcome is what one refresh attempt did.
type outcome string

const (
	outSuccess    outcome = "success"
	outTransient  outcome = "transient"
	outPermanent  outcome = "permanent"
	outSuperseded outcome = "superseded" // someone else stored a newer token
	outBusy       outcome = "busy"       // another node holds the lease
	outSkipped    outcome = "skipped"    // nothing to refresh
	outHeld       outcome = "held"       // the provider answered, the store did not take it yet
	outThrottled  outcome = "throttled"  // no slot of the provider's limit freed in time: lease released, nothing written
)

// result is the outcome of one refresh, shared by everyone waiting on it.
type result struct {
	outcome outcome
	grant   store.Grant // the grant as stored after the attempt (when known)
	token   provider.Token
	err     error
}

type call struct {
	done chan struct{}
	res  result
}

// once runs fn for grant id unless a call is in flight, whose result is
// then shared. fn runs on a context detached from the callers'.
func (r *Refresher) once(id string, fn func() result) result {
	r.mu.Lock()
	if c, ok := r.inflight[id]; ok {
		r.mu.Unlock()
		<-c.done
		return c.res
	}
	c := &call{done: make(chan struct{})}
	r.inflight[id] = c
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.inflight, id)
		r.mu.Unlock()
		close(c.done)
	}()
	c.res = fn()
	return c.res
}

// limiter returns the concurrency limit of provider prov.
func (r *Refresher) limiter(prov string) *limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.limits[prov]
	if !ok {
		g := r.m.concurrency.WithLabelValues(prov)
		l = newLimiter(r.cfg.ProviderConcurrency, r.cfg.ProviderConcurrencyMin, r.cfg.ProviderConcurrencyMax, r.cfg.Lease/4,
			func(n int) { g.Set(float64(n)) })
		r.limits[prov] = l
	}
	return l
}

// ProviderLimit is the current limit on this node's refreshes in flight
// to provider prov.
func (r *Refresher) ProviderLimit(prov string) int { return r.limiter(prov).Limit() }

// leaseLeft is how much of g's lease (claimed by this refresher) is left.
func (r *Refresher) leaseLeft(g store.Grant) time.Duration {
	if g.LeaseUntil.IsZero() {
		return r.cfg.Lease
	}
	return g.LeaseUntil.Sub(r.now())
}

// acquire takes a slot of g's provider for a call, waiting until a
// quarter of the lease has gone by at most (the grant is leased
// meanwhile), and returns the call's timeout: until a quarter of the
// lease is left, at most half the lease, so that the outcome is stored
// well before the lease runs out however long the claim's answer, the
// reads before the call and the wait took. When no slot frees in time
// (the provider asked for a pause, or answers slowly at a low limit), or
// too little of the lease is left for a call, the lease is released
// without any write, and the grant is due again at once.
func (r *Refresher) acquire(ctx context.Context, g store.Grant) (*limiter, time.Time, time.Duration, *result) {
	l := r.limiter(g.Provider)
	lease := r.cfg.Lease
	started, ok := l.acquire(ctx, r.leaseLeft(g)-lease*3/4)
	timeout := min(lease/2, r.leaseLeft(g)-lease/4)
	if ok && timeout < minCall(lease) {
		l.release(started, sigNone, 0)
		ok = false
	}
	if !ok {
		r.release(g)
		err := ctx.Err()
		if err == nil {
			err = heldBack(g.Provider, l.pausedFor(time.Now()))
		}
		return nil, started, 0, &result{outcome: outThrottled, grant: g, err: err}
	}
	return l, started, timeout, nil
}

// heldBack is the error of a call not made because the provider is
// throttled: during its pause (a Retry-After it sent), with what is left
// of the pause, which the API passes on as its own Retry-After.
func heldBack(prov string, pause time.Duration) error {
	e := provider.Errorf(provider.ClassUnavailable, "grantd is holding back its calls to %s, which is rate limiting or overloaded; try again shortly", prov)
	e.RetryAfter = pause
	return e
}

// minCall is the shortest provider call worth making: a call with less
// time than this before its deadline is not started.
func minCall(lease time.Duration) time.Duration { return lease / 8 }

// signalOf is what a provider call's error says about the provider's load.
// Only the provider's answers (a token, or an error it answered:
// provider.Error.Answered) tell its latency; an error decided without one
// (a setting refused before any request, a certificate that does not
// verify, an address refused) says nothing, and would make the usual
// latency look like microseconds, every real answer then slow.
func signalOf(err error) (signal, time.Duration) {
	if err == nil {
		return sigAnswered, 0
	}
	if errors.Is(err, context.Canceled) {
		return sigNone, 0
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Class == provider.ClassUnavailable:
			return sigOverload, pe.RetryAfter
		case pe.Answered:
			return sigAnswered, 0
		}
		return sigNone, 0
	}
	return sigOverload, 0
}

// commitContext is the context of the writes that follow a provider call:
// detached from cancellation, bounded.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// refreshGrant refreshes g, which this refresher has leased (read at
// g.Version), and stores the outcome. It never returns with the lease held
// except when another owner took it over.
func (r *Refresher) refreshGrant(ctx context.Context, g store.Grant) result {
	// A held answer of this grant is stored first; its token is never
	// redeemed again before (the stored one may be dead).
	if keys := r.heldFor(g.ID); len(keys) > 0 {
		ng := g
		for _, k := range keys {
			cur, done, err := r.commitHeld(ctx, k)
			if !done {
				return result{outcome: outHeld, grant: g, err: errHeld(err)}
			}
			if err == nil || errors.Is(err, grant.ErrSuperseded) {
				ng = cur
			}
		}
		r.release(g)
		return result{outcome: outSkipped, grant: ng}
	}
	started := r.now()
	secrets, err := r.grants.Secrets(g)
	if err != nil {
		return r.transient(ctx, g, "", provider.ClassUnavailable, "the grant's secrets could not be decrypted: "+err.Error(), err)
	}
	rt := secrets["refresh_token"]
	p := r.providers[g.Provider]
	if c := r.checkers[g.Provider]; rt == "" && c != nil {
		return r.recheck(ctx, g, secrets, c)
	}
	if rt == "" || p == nil {
		// Nothing to refresh or check: push the schedule out and release.
		cctx, cancel := commitContext(ctx)
		defer cancel()
		ng, err := r.grants.Postpone(cctx, g.AppID, g.ID, r.cfg.Owner)
		return result{outcome: outSkipped, grant: ng, err: err}
	}
	key := grant.CredentialKey(g, secrets)
	res, err := r.clients.ResolveGrant(ctx, g.AppID, g.Provider, g.CredentialID)
	if err != nil {
		// A missing or unusable connector or credential is the grant's
		// problem; a store that cannot answer now (store.ErrUnavailable,
		// a fault.Unavailable error too) is not.
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind != fault.Unavailable {
			return r.permanent(ctx, g, key, provider.Errorf(provider.ClassBadRequest, "%s", fe.Message))
		}
		return r.transient(ctx, g, key, provider.ClassUnavailable, "the grant's OAuth client could not be loaded", err)
	}
	// The scope the token was granted, not the grant's stored list, which
	// PATCH may have changed (asking Microsoft for a scope the user never
	// consented to would fail the refresh).
	scope := g.Scope
	if sc := secrets[grant.SecretScope]; sc != "" {
		scope = strings.Fields(sc)
	}
	if len(scope) == 0 {
		scope = res.Scope
	}

	lim, callStart, timeout, busy := r.acquire(ctx, g)
	if busy != nil {
		return *busy
	}
	// (With a grace: see netx.WithGraceTimeout. An answer already received
	// when a pause of the process ends must be committed, not dropped.)
	pctx, cancel := netx.WithGraceTimeout(ctx, timeout, netx.ResumeGrace)
	tok, err := p.Refresh(pctx, res.Client, rt, scope)
	cancel()
	sig, pause := signalOf(err)
	lim.release(callStart, sig, pause)

	if err != nil {
		class := provider.ClassOf(err)
		if class == "" || class == provider.ClassUnavailable || class == provider.ClassInvalidClient || class == provider.ClassTLS {
			// A refused OAuth client says nothing about the grant's token:
			// the connector (or credential) is wrong or being changed, and
			// the grant refreshes again once it is fixed. Nor does a token
			// endpoint whose certificate does not verify (a CA bundle
			// mistake, an intercepting proxy).
			msg := "refresh failed"
			var pe *provider.Error
			if errors.As(err, &pe) {
				msg = pe.Message
			}
			if class == "" {
				class = provider.ClassUnavailable
			}
			return r.transient(ctx, g, key, class, msg, err)
		}
		return r.permanent(ctx, g, key, err)
	}
	return r.commit(ctx, grant.Refreshed{
		AppID: g.AppID, GrantID: g.ID, Version: g.Version, Replaced: key, Owner: r.cfg.Owner, Started: started, Token: tok,
	}, g)
}

// commit stores a successful refresh (see the package comment). A rotated
// answer is appended to the spool first; if the store does not take it,
// it is held and retried until it is stored or superseded.
func (r *Refresher) commit(ctx context.Context, ans grant.Refreshed, read store.Grant) result {
	h := &held{ans: ans, provider: read.Provider, since: r.now()}
	rotated := ans.Token.RefreshToken != ""
	if rotated && r.spool != nil {
		b, err := encodeHeld(h)
		if err == nil {
			h.spoolID, err = r.spool.Append(b)
		}
		if err != nil {
			h.spoolID = 0
			r.log.Error("refresh: could not write a rotated token to the spool; it is held in memory only", slog.String("grant_id", read.ID),
				slog.String("provider", read.Provider), slog.Any("err", err))
		}
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	var (
		ng  store.Grant
		err error
	)
	// A couple of quick retries: the first statement after a database
	// restart often meets a dead pooled connection.
	for i, pause := 0, 50*time.Millisecond; ; i, pause = i+1, pause*3 {
		ng, err = r.grants.CommitRefresh(cctx, ans)
		if !retryable(err) || i == 2 || cctx.Err() != nil {
			break
		}
		time.Sleep(pause)
	}
	switch {
	case errors.Is(err, grant.ErrSuperseded):
		r.unspool(h)
		r.release(read)
		return result{outcome: outSuperseded, grant: ng, token: ans.Token}
	case errors.Is(err, store.ErrNotFound):
		r.unspool(h)
		return result{outcome: outSkipped, token: ans.Token, err: err}
	case err != nil:
		r.markDown()
		if !rotated {
			// Nothing is at risk: the stored refresh token still works.
			// The lease runs out and the grant is refreshed again.
			r.log.Warn("refresh: could not store refreshed tokens (not rotated: nothing lost)", slog.String("grant_id", read.ID),
				slog.String("provider", read.Provider), slog.Any("err", err))
			return result{outcome: outTransient, grant: read, token: ans.Token, err: fault.Unavailablef(err, "the database did not take the refreshed tokens: try again")}
		}
		r.log.Warn("refresh: could not store a rotated token; it is held and retried until stored", slog.String("grant_id", read.ID),
			slog.String("provider", read.Provider), slog.Bool("spooled", h.spoolID != 0), slog.Any("err", err))
		r.hold(h)
		return result{outcome: outHeld, grant: read, err: errHeld(err)}
	}
	r.unspool(h)
	return result{outcome: outSuccess, grant: ng, token: ans.Token}
}

func (r *Refresher) release(g store.Grant) {
	ctx, cancel := commitContext(context.Background())
	defer cancel()
	if err := r.st.ReleaseGrant(ctx, g.AppID, g.ID, r.cfg.Owner); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.log.Warn("refresh: release lease", slog.String("grant_id", g.ID), slog.Any("err", err))
	}
}

// recheckTransient reports whether a re-check failure of class c must not
// invalidate a password grant.
func recheckTransient(c provider.Class) bool {
	return c == "" || c == provider.ClassUnavailable || c == provider.ClassTLS || c == provider.ClassAddressRefused
}

// recheck logs in again with a password grant's stored credentials (g is
// leased) and stores the outcome.
func (r *Refresher) recheck(ctx context.Context, g store.Grant, secrets map[string]string, c provider.Rechecker) result {
	key := grant.CredentialKey(g, secrets)
	lim, callStart, timeout, busy := r.acquire(ctx, g)
	if busy != nil {
		return *busy
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := c.Recheck(pctx, g.Settings, secrets, g.Scope)
	cancel()
	// A password provider's pause (Exchange's BackOffMilliseconds, a
	// server's Retry-After) is one server's or one mailbox's: its other
	// grants are on other servers, with budgets of their own, so it does
	// not pause the provider's calls (its overload still counts).
	sig, _ := signalOf(err)
	lim.release(callStart, sig, 0)
	if err != nil {
		class := provider.ClassOf(err)
		if recheckTransient(class) {
			msg := "re-check failed"
			var pe *provider.Error
			if errors.As(err, &pe) {
				msg = pe.Message
			}
			if class == "" {
				class = provider.ClassUnavailable
			}
			return r.transient(ctx, g, key, class, msg, err)
		}
		return r.permanent(ctx, g, key, err)
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	ng, err := r.grants.RecordRecheck(cctx, grant.Recheck{AppID: g.AppID, GrantID: g.ID, Version: g.Version, Credential: key, Owner: r.cfg.Owner})
	if errors.Is(err, store.ErrNotFound) {
		return result{outcome: outSkipped, err: err}
	}
	if err != nil {
		r.log.Error("refresh: record re-check", slog.String("grant_id", g.ID), slog.Any("err", err))
		return result{outcome: outTransient, grant: g, err: err}
	}
	return result{outcome: outSuccess, grant: ng}
}

// transient records a transient failure: backoff, never invalid. key is
// the CredentialKey of the credentials that failed ("" when unknown).
func (r *Refresher) transient(ctx context.Context, g store.Grant, key string, class provider.Class, msg string, cause error) result {
	cctx, cancel := commitContext(ctx)
	defer cancel()
	r.log.Warn("refresh: transient failure", slog.String("grant_id", g.ID), slog.String("provider", g.Provider), slog.Any("err", cause))
	ng, err := r.grants.RecordFailure(cctx, grant.Failure{
		AppID: g.AppID, GrantID: g.ID, Version: g.Version, Credential: key, Owner: r.cfg.Owner, Class: class, Message: msg,
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		r.markDown()
		r.log.Error("refresh: record failure", slog.String("grant_id", g.ID), slog.Any("err", err))
	}
	if err == nil {
		g = ng
	}
	return result{outcome: outTransient, grant: g, err: cause}
}

// permanent handles a refusal of the credentials key identifies: the
// grant service invalidates the grant unless they are no longer the
// stored ones or another node is refreshing them.
func (r *Refresher) permanent(ctx context.Context, g store.Grant, key string, cause error) result {
	cctx, cancel := commitContext(ctx)
	defer cancel()
	class := provider.ClassOf(cause)
	msg := cause.Error()
	var pe *provider.Error
	if errors.As(cause, &pe) {
		msg = pe.Message
	}
	ng, err := r.grants.Invalidate(cctx, grant.Failure{
		AppID: g.AppID, GrantID: g.ID, Version: g.Version, Credential: key, Owner: r.cfg.Owner, Class: class, Message: msg,
	})
	switch {
	case errors.Is(err, grant.ErrSuperseded), errors.Is(err, grant.ErrLeased):
		outc := outSuperseded
		if errors.Is(err, grant.ErrLeased) {
			outc = outBusy // another node may be mid-rotation of this very token
		}
		r.release(g)
		if cur, err := r.st.GetGrant(cctx, g.AppID, g.ID); err == nil {
			ng = cur
		}
		return result{outcome: outc, grant: ng, err: cause}
	case err != nil:
		if !errors.Is(err, store.ErrNotFound) {
			r.markDown()
			r.log.Error("refresh: record invalid grant", slog.String("grant_id", g.ID), slog.Any("err", err))
		}
		return result{outcome: outTransient, grant: g, err: cause}
	}
	r.log.Warn("refresh: grant is invalid", slog.String("grant_id", g.ID), slog.String("provider", g.Provider),
		slog.String("class", string(class)), slog.String("reason", msg))
	return result{outcome: outPermanent, grant: ng, err: cause}
}

// String describes an outcome for logs.
func (o result) String() string { return fmt.Sprintf("%s (%v)", o.outcome, o.err) }
