package refresh

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Run refreshes due grants until ctx is done, then waits for the
// refreshes in flight (their writes are not cancelled) and returns.
//
// Claims come in two kinds. A poll (at start, then every Interval, ±25%,
// and again at once while polls come back full) claims as many due grants
// as there are free workers. A refill (when a worker of a provider whose
// share was full finishes, or its pause ends) claims at most the room in
// the shares of the providers known to have due grants left. Both skip
// the providers with no room (paused by a Retry-After, or holding
// shareFactor times their limit: limiter.go; see claim), and a grant claimed beyond
// its provider's room is released at once, unwritten, rather than held
// by a worker waiting for a slot; so a throttled provider ties up its
// share of the workers, and the other providers' due grants are claimed
// while its own, the most overdue, wait in the table.
func (r *Refresher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.cfg.Workers)
	wg.Go(func() { r.gaugeLoop(ctx) })
	r.log.Info("refresher started", slog.String("owner", r.cfg.Owner), slog.Int("workers", r.cfg.Workers))
	defer func() {
		wg.Wait()
		r.log.Info("refresher stopped", slog.String("owner", r.cfg.Owner))
	}()
	var nextPoll time.Time // zero: poll now
	for {
		// After a store failure (and at start-up) nothing is claimed
		// before the leases that lapsed meanwhile are extended; with
		// MaxHeld answers waiting for the store, nothing new starts.
		if !r.reachable(ctx) || r.full() {
			t := time.NewTimer(r.cfg.Interval*3/4 + jitter(r.cfg.Interval/2))
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		// Wait for at least one free worker, then claim as many grants as
		// there are free workers (at most), so that no lease is held by a
		// grant waiting in a queue.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		free := 1
	fill:
		for free < r.cfg.Workers {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		now := r.now()
		poll := !time.Now().Before(nextPoll)
		plan := r.planClaim(time.Now()) // the limiters' pauses are on the wall clock
		limit := free
		if !poll {
			limit = min(free, plan.refill)
		}
		var gs []store.Grant
		var err error
		if limit > 0 {
			gs, err = r.claim(ctx, now, limit, plan.skip)
			if err != nil && ctx.Err() == nil {
				r.markDown()
				r.log.Warn("refresh: claim due grants", slog.Any("err", err))
			}
		}
		if poll {
			nextPoll = time.Now().Add(r.cfg.Interval*3/4 + jitter(r.cfg.Interval/2))
		}
		if err == nil && len(gs) < limit {
			// Every due grant of the providers not skipped was claimed.
			r.uncap(plan.skip)
		}
		run, released := r.admit(time.Now(), gs)
		for range free - len(run) {
			<-slots
		}
		for _, g := range run {
			r.m.lateness.Observe(max(0, now.Sub(g.NextRefreshAt).Seconds()))
			wg.Go(func() {
				defer func() {
					<-slots
					if l := r.limited(g.Provider); l != nil && l.finish() {
						r.kick()
					}
				}()
				r.do(ctx, g)
			})
		}
		if err == nil && limit > 0 && (len(gs) == limit || released > 0) {
			// Probably more due (a poll came back full: poll again), or
			// a provider's share filled up (it is skipped now): claim
			// again as soon as a worker frees.
			if poll {
				nextPoll = time.Time{}
			}
			continue
		}
		wait := time.Until(nextPoll)
		if !plan.resume.IsZero() {
			wait = min(wait, time.Until(plan.resume))
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-t.C:
		case <-r.kicked:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// claimPlan is what the next claim skips and may take.
type claimPlan struct {
	skip   []string  // providers with no room in their share
	refill int       // room in the shares of the providers that may have due grants left
	resume time.Time // earliest end of a pause of a skipped provider (zero: none)
}

// planClaim looks at every provider's share.
func (r *Refresher) planClaim(now time.Time) claimPlan {
	r.mu.Lock()
	ls := make(map[string]*limiter, len(r.limits))
	for prov, l := range r.limits {
		if r.providers[prov] != nil || r.checkers[prov] != nil {
			ls[prov] = l
		}
	}
	r.mu.Unlock()
	p := claimPlan{skip: []string{}}
	for prov, l := range ls {
		n, resume, capped := l.room(now)
		switch {
		case n == 0:
			p.skip = append(p.skip, prov)
			if !resume.IsZero() && (p.resume.IsZero() || resume.Before(p.resume)) {
				p.resume = resume
			}
		case capped:
			p.refill += n
		}
	}
	return p
}

// claim leases up to limit due grants. With no provider skipped, every
// provider's, most overdue first (store.ClaimDueGrants). Otherwise each
// provider that is not skipped in turn, up to the room in its share
// (store.ClaimDueGrantsOf): a claim never reads a skipped provider's due
// grants, however far behind it is. The first provider asked changes at
// each claim, so that none takes the free workers every time. Grants of
// providers that neither refresh nor re-check (none has a limiter) wait
// for a claim with no provider skipped.
func (r *Refresher) claim(ctx context.Context, now time.Time, limit int, skip []string) ([]store.Grant, error) {
	if len(skip) == 0 {
		return r.st.ClaimDueGrants(ctx, now, r.cfg.Owner, r.cfg.Lease, limit)
	}
	provs := r.limitedProviders
	var out []store.Grant
	r.claimTurn++
	for i := range provs {
		prov := provs[(r.claimTurn+i)%len(provs)]
		if len(out) >= limit {
			break
		}
		if slices.Contains(skip, prov) {
			continue
		}
		room := r.roomOf(prov, time.Now())
		if room == 0 {
			continue
		}
		gs, err := r.st.ClaimDueGrantsOf(ctx, now, r.cfg.Owner, r.cfg.Lease, prov, min(room, limit-len(out)))
		out = append(out, gs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// roomOf is the room in prov's share (limiter.room); a provider none of
// whose grants this node has refreshed yet has no limiter, and the room
// of a new one.
func (r *Refresher) roomOf(prov string, now time.Time) int {
	r.mu.Lock()
	l := r.limits[prov]
	r.mu.Unlock()
	if l == nil {
		_, _, start := bounds(r.cfg.ProviderConcurrency, r.cfg.ProviderConcurrencyMin, r.cfg.ProviderConcurrencyMax)
		return shareFactor * start
	}
	n, _, _ := l.room(now)
	return n
}

// uncap records that the providers but skip have no due grant left.
func (r *Refresher) uncap(skip []string) {
	r.mu.Lock()
	ls := make([]*limiter, 0, len(r.limits))
	for prov, l := range r.limits {
		if !slices.Contains(skip, prov) {
			ls = append(ls, l)
		}
	}
	r.mu.Unlock()
	for _, l := range ls {
		l.uncap()
	}
}

// limited is the limiter of the grants of prov when they take a slot of
// one (a provider that refreshes or re-checks), else nil.
func (r *Refresher) limited(prov string) *limiter {
	if r.providers[prov] == nil && r.checkers[prov] == nil {
		return nil
	}
	return r.limiter(prov)
}

// admit counts the claimed grants gs in their providers' shares, in the
// order claimed (most overdue first), and releases at once, unwritten,
// those beyond a provider's room: they are due again, and the provider
// is skipped until its share has room. It returns the grants to refresh
// and how many were released.
func (r *Refresher) admit(now time.Time, gs []store.Grant) ([]store.Grant, int) {
	run := gs[:0:0]
	released := 0
	for _, g := range gs {
		if l := r.limited(g.Provider); l != nil && !l.admit(now) {
			r.release(g)
			released++
			continue
		}
		run = append(run, g)
	}
	if released > 0 {
		r.log.Debug("refresh: claimed grants released: their providers' shares are full", slog.Int("released", released))
	}
	return run, released
}

// kick wakes Run for a refill.
func (r *Refresher) kick() {
	select {
	case r.kicked <- struct{}{}:
	default:
	}
}

// do refreshes one claimed grant, sharing an in-flight on-demand refresh
// of the same grant when there is one.
func (r *Refresher) do(ctx context.Context, g store.Grant) result {
	res := r.once(g.ID, func() result {
		res := r.refreshGrant(context.WithoutCancel(ctx), g)
		r.m.count(g.Provider, res)
		return res
	})
	if res.outcome == outBusy {
		// Retry soon, after the other node's lease.
		r.log.Debug("refresh: grant busy on another node", slog.String("grant_id", g.ID))
	}
	return res
}

func (r *Refresher) gaugeLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.DueGaugeInterval)
	defer t.Stop()
	for {
		r.UpdateDueGauge(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// UpdateDueGauge recomputes the due-grants gauge now.
func (r *Refresher) UpdateDueGauge(ctx context.Context) {
	n, err := r.st.CountDueGrants(ctx, r.now())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("refresh: count due grants", slog.Any("err", err))
		}
		return
	}
	r.m.due.Set(float64(n))
}

// AccessToken is a provider access token handed out on demand.
type AccessToken struct {
	AccessToken string
	ExpiresAt   time.Time
	Provider    string
}

// pollInterval is how often AccessToken re-reads a grant another node is
// refreshing.
const pollInterval = 100 * time.Millisecond

// AccessToken returns a provider access token for a grant of appID that
// is valid for at least AccessTokenMargin, refreshing the grant first when
// needed. Concurrent calls for one grant share one refresh; across nodes,
// the caller that cannot take the grant's lease waits for the holder's
// result. Errors: a fault.NotFound or fault.Invalid *fault.Error (missing
// or invalid grant), a classified *provider.Error (the provider refused or
// is unavailable).
func (r *Refresher) AccessToken(ctx context.Context, appID, id string) (AccessToken, error) {
	g, err := r.st.GetGrant(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return AccessToken{}, fault.NotFoundf(`grant "%s" not found`, id)
	}
	if err != nil {
		return AccessToken{}, r.unavailable(ctx, err)
	}
	if tok, ok, err := r.fresh(g); ok || err != nil {
		return tok, err
	}
	if r.providers[g.Provider] == nil {
		return AccessToken{}, fault.Invalidf(`grant "%s" is an %s grant (%s grants have no OAuth access token)`, id, g.Provider, g.Provider)
	}
	// During the provider's pause no call is made: say so at once, with
	// what is left of it, rather than hold the request until it ends.
	if d := r.limiter(g.Provider).pausedFor(time.Now()); d > 0 {
		return AccessToken{}, heldBack(g.Provider, d)
	}
	// Lease and refresh, waiting for another node's refresh when it holds
	// the lease; bounded by the lease (plus a little).
	deadline := time.Now().Add(r.cfg.Lease + 5*time.Second)
	for {
		res := r.once(id, func() result {
			cctx, cancel := commitContext(ctx)
			defer cancel()
			if !r.reachable(cctx) {
				return result{outcome: outHeld, err: fault.Unavailablef(nil, "the database is unavailable: try again")}
			}
			if r.full() && len(r.heldFor(id)) == 0 {
				return result{outcome: outHeld, err: fault.Unavailablef(nil, "too many refreshed tokens are waiting for the database: try again")}
			}
			cur, ok, err := r.st.ClaimGrant(cctx, appID, id, r.cfg.Owner, r.cfg.Lease, r.now())
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return result{outcome: outTransient, err: err}
				}
				return result{outcome: outHeld, err: r.unavailable(cctx, err)}
			}
			if !ok {
				return result{outcome: outBusy, grant: cur}
			}
			if _, fresh, _ := r.fresh(cur); fresh || cur.Status != store.GrantValid {
				r.release(cur) // refreshed meanwhile (or invalid): nothing to do
				return result{outcome: outSkipped, grant: cur}
			}
			res := r.refreshGrant(context.WithoutCancel(ctx), cur)
			r.m.count(cur.Provider, res)
			return res
		})
		switch res.outcome {
		case outSuccess:
			return AccessToken{AccessToken: res.token.AccessToken, ExpiresAt: res.grant.AccessTokenExpiresAt, Provider: res.grant.Provider}, nil
		case outHeld:
			return AccessToken{}, res.err
		case outTransient, outPermanent, outThrottled:
			if errors.Is(res.err, store.ErrNotFound) {
				return AccessToken{}, fault.NotFoundf(`grant "%s" not found`, id)
			}
			return AccessToken{}, res.err
		case outSkipped, outSuperseded:
			if res.grant.ID == "" {
				return AccessToken{}, fault.NotFoundf(`grant "%s" not found`, id)
			}
			if tok, ok, err := r.fresh(res.grant); ok || err != nil {
				return tok, err
			}
			if res.outcome == outSkipped && res.token.AccessToken != "" {
				return AccessToken{AccessToken: res.token.AccessToken, ExpiresAt: res.token.Expiry, Provider: res.grant.Provider}, nil
			}
		}
		// Busy elsewhere, or superseded by a token not fresh enough: poll.
		if time.Now().After(deadline) {
			return AccessToken{}, provider.Errorf(provider.ClassUnavailable, "another grantd node has been refreshing this grant for too long; try again")
		}
		t := time.NewTimer(pollInterval/2 + jitter(pollInterval))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return AccessToken{}, ctx.Err()
		}
		g, err := r.st.GetGrant(ctx, appID, id)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted while we waited for another node's refresh.
			return AccessToken{}, fault.NotFoundf(`grant "%s" not found`, id)
		}
		if err != nil {
			return AccessToken{}, r.unavailable(ctx, err)
		}
		if tok, ok, err := r.fresh(g); ok || err != nil {
			return tok, err
		}
	}
}

// fresh returns the stored access token of g when it is valid for at least
// AccessTokenMargin; an error when the grant is invalid.
func (r *Refresher) fresh(g store.Grant) (AccessToken, bool, error) {
	if g.Status != store.GrantValid {
		msg := "grant \"" + g.ID + "\" is invalid"
		if g.LastFailureMessage != "" {
			msg += ": " + g.LastFailureMessage
		}
		return AccessToken{}, false, fault.Invalidf("%s; re-authenticate the account to make it valid again", msg)
	}
	if g.AccessTokenExpiresAt.IsZero() || g.AccessTokenExpiresAt.Sub(r.now()) < r.cfg.AccessTokenMargin {
		return AccessToken{}, false, nil
	}
	s, err := r.grants.Secrets(g)
	if err != nil {
		return AccessToken{}, false, err
	}
	at := s["access_token"]
	if at == "" {
		if r.providers[g.Provider] == nil {
			return AccessToken{}, false, fault.Invalidf(`grant "%s" (%s) has no OAuth access token`, g.ID, g.Provider)
		}
		return AccessToken{}, false, nil
	}
	return AccessToken{AccessToken: at, ExpiresAt: g.AccessTokenExpiresAt, Provider: g.Provider}, true, nil
}

// unavailable is the error of AccessToken when the store failed: a
// retryable fault.Unavailable (503), unless the caller went away.
func (r *Refresher) unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	r.markDown()
	if fault.KindOf(err) != 0 {
		return err
	}
	return fault.Unavailablef(err, "the database is unavailable: try again")
}
