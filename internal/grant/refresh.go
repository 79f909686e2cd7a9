package grant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// The operations of this file are how the refresher (internal/refresh)
// changes grants: it redeems tokens and re-checks passwords, and the
// grant service stores what came of it, under the row lock, with the
// events due. Each takes the version and the credentials the refresher
// read, so that a write made meanwhile by anyone else (a
// re-authentication, another node's refresh) is recognised.

// Errors of the refresh operations.
var (
	// ErrSuperseded: the grant no longer holds the credentials the
	// operation is about (someone stored newer ones), or it is already
	// invalid: nothing was written.
	ErrSuperseded = errors.New("grant: superseded by a newer write")
	// ErrLeased: another owner's lease is running (it may be rotating the
	// very token that was refused): nothing was written.
	ErrLeased = errors.New("grant: leased by another owner")
)

// errAbort aborts an UpdateGrant closure without writing.
var errAbort = errors.New("grant: nothing to write")

// Schedule is the one policy for when a grant is next due, used when a
// grant is authenticated and after each refresh, re-check or failure.
// Zero fields take the defaults of DefaultSchedule.
type Schedule struct {
	// Mode is ModeKeepFresh (the default): every grant is refreshed a
	// Margin before its access token expires, and at least every
	// KeepAlive; or ModeOnDemand: grants are refreshed when their access
	// token is asked for (refresh.Refresher.AccessToken) and otherwise
	// every KeepAlive only, whatever their access token's expiry.
	Mode string
	// Margin: a grant is refreshed this long before its access token
	// expires (at most a fifth of the token's life, so short tokens are
	// refreshed at 80% of their life), minus up to Margin/2 of jitter.
	Margin time.Duration
	// KeepAlive bounds the time between two refreshes of a grant.
	KeepAlive time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after transient
	// failures: MinBackoff·2^(n-1), capped, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// PasswordRecheck is the time between two re-checks of a password
	// grant, minus up to a tenth of jitter.
	PasswordRecheck time.Duration
}

// The modes of a Schedule (refresh.mode).
const (
	ModeKeepFresh = "keep_fresh"
	ModeOnDemand  = "on_demand"
)

// DefaultSchedule returns the defaults (those of the refresh.* keys).
func DefaultSchedule() Schedule {
	return Schedule{
		Mode:   ModeKeepFresh,
		Margin: 5 * time.Minute, KeepAlive: 24 * time.Hour,
		MinBackoff: 10 * time.Second, MaxBackoff: 15 * time.Minute,
		PasswordRecheck: 6 * time.Hour,
	}
}

func (p Schedule) withDefaults() Schedule {
	d := DefaultSchedule()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&p.Margin, d.Margin)
	set(&p.KeepAlive, d.KeepAlive)
	set(&p.MinBackoff, d.MinBackoff)
	set(&p.MaxBackoff, d.MaxBackoff)
	set(&p.PasswordRecheck, d.PasswordRecheck)
	return p
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// Next returns when a grant refreshed at now, whose access token expires
// at expiry (zero: unknown), is next refreshed: the keep-alive alone in
// ModeOnDemand.
func (p Schedule) Next(now, expiry time.Time) time.Time {
	p = p.withDefaults()
	keep := now.Add(p.KeepAlive - jitter(p.KeepAlive/10))
	if expiry.IsZero() || p.Mode == ModeOnDemand {
		return keep.Truncate(time.Microsecond)
	}
	life := expiry.Sub(now)
	margin := min(p.Margin, life/5)
	at := expiry.Add(-margin - jitter(margin/2))
	if at.After(keep) {
		at = keep
	}
	if at.Before(now) {
		at = now
	}
	return at.Truncate(time.Microsecond)
}

// Recheck returns when a password grant checked at now is next
// re-checked, so that grants created together do not all log in again
// together.
func (p Schedule) Recheck(now time.Time) time.Time {
	d := p.withDefaults().PasswordRecheck
	return now.Add(d - jitter(d/10+1)).Truncate(time.Microsecond)
}

// Backoff returns the retry delay after n consecutive transient failures.
func (p Schedule) Backoff(n int) time.Duration {
	p = p.withDefaults()
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + jitter(d/2+1)
}

// Fingerprint identifies a refresh token without holding it (what the
// refresh spool keeps of the token a refresh replaced).
func Fingerprint(refreshToken string) string {
	h := sha256.Sum256([]byte(refreshToken))
	return "rt:" + hex.EncodeToString(h[:])
}

// CredentialKey identifies the credentials of g, whose decrypted secrets
// are s, that a refresh or a re-check uses: the fingerprint of the refresh
// token of an OAuth grant; for a grant without one (a password grant) a
// digest of its secrets and of its settings (hosts, ports, usernames), so
// that a grant moved to another server meanwhile is not judged by a check
// of the old one. "" when there is nothing.
func CredentialKey(g store.Grant, s map[string]string) string {
	if rt := s["refresh_token"]; rt != "" {
		return Fingerprint(rt)
	}
	if len(s) == 0 {
		return ""
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(s[k]))
		h.Write([]byte{0})
	}
	settings, _ := json.Marshal(g.Settings) // map keys sorted: deterministic
	h.Write(settings)
	return "secrets:" + hex.EncodeToString(h.Sum(nil))
}

func (s *Service) sameCredential(cur store.Grant, key string) (bool, error) {
	sec, err := s.Secrets(cur)
	if err != nil {
		return false, err
	}
	return CredentialKey(cur, sec) == key, nil
}

// clearLease drops owner's lease from g (another owner's lease, taken
// after owner's lapsed, is left alone).
func clearLease(g *store.Grant, owner string) {
	if owner != "" && g.LeaseOwner == owner {
		g.LeaseOwner, g.LeaseUntil = "", time.Time{}
	}
}

// Refreshed is a provider's answer to a refresh, to be stored.
type Refreshed struct {
	AppID, GrantID string
	// Version is the grant's version the refresh read.
	Version int64
	// Replaced is the CredentialKey of the credentials the refresh
	// redeemed (Fingerprint of the refresh token).
	Replaced string
	// Owner is the lease owner whose lease the write clears.
	Owner string
	// Started is when the refresh started (before the provider call).
	Started time.Time
	Token   provider.Token
}

// CommitRefresh stores a refresh's result under the compare-and-swap rules
// of the refresh package (see its doc):
//
//   - version still r.Version, or the stored credentials still those
//     r.Replaced names: write the new tokens (rotated refresh token,
//     access token, granted scope), the schedule, and end a run of
//     transient failures (grant.recovered when due). A grant found
//     invalid that was invalidated after the refresh started, by a
//     refusal of the token this answer replaced, is made valid again
//     with one grant.updated (revived: the answer holds the live token).
//   - the stored refresh token is already r.Token's: it was stored
//     before (a replay); the stored grant is returned.
//   - other credentials are stored: ErrSuperseded (the stored ones win).
//   - the grant was deleted: store.ErrNotFound.
//
// Any other error leaves the grant as it was, and the caller may retry.
func (s *Service) CommitRefresh(ctx context.Context, r Refreshed) (store.Grant, error) {
	now := s.now()
	expiry := r.Token.Expiry
	if expiry.IsZero() {
		expiry = now.Add(time.Hour) // providers that do not say: assume the usual hour
	}
	newKey := ""
	if r.Token.RefreshToken != "" {
		newKey = Fingerprint(r.Token.RefreshToken)
	}
	var (
		seen    store.Grant
		already bool
	)
	g, err := s.Store.UpdateGrant(ctx, r.AppID, r.GrantID, func(cur store.Grant) (store.Grant, []store.Event, error) {
		seen = cur
		secrets, err := s.Secrets(cur)
		if err != nil {
			return cur, nil, err
		}
		if cur.Version != r.Version {
			key := CredentialKey(cur, secrets)
			if key != r.Replaced {
				already = newKey != "" && key == newKey
				return cur, nil, errAbort // superseded: the stored token wins
			}
		}
		if r.Token.RefreshToken != "" {
			secrets["refresh_token"] = r.Token.RefreshToken
		}
		secrets["access_token"] = r.Token.AccessToken
		if len(r.Token.Scope) > 0 {
			secrets[SecretScope] = strings.Join(r.Token.Scope, " ")
		}
		blob, err := s.sealSecrets(cur, secrets)
		if err != nil {
			return cur, nil, err
		}
		cur.Secrets = blob
		cur.AccessTokenExpiresAt = expiry
		cur.LastRefreshAt = now
		cur.NextRefreshAt = s.Schedule.Next(now, expiry)
		cur.RefreshFailures = 0
		clearLease(&cur, r.Owner)
		events, err := s.recovered(&cur, now)
		if err != nil {
			return cur, nil, err
		}
		if cur.Status != store.GrantValid {
			// Invalidated during our flight because the token we had just
			// rotated was refused to someone else: we hold the live token.
			if cur.LastFailureAt.Before(r.Started) || cur.LastFailureClass == CauseConnectorDeleted || cur.LastFailureClass == CauseCredentialDeleted {
				cur.NextRefreshAt = time.Time{}
				return cur, nil, nil // invalid for another reason: keep the token, stay invalid
			}
			cur.Status = store.GrantValid
			cur.UpdatedAt = now
			ev, err := s.event(EventUpdated, cur, map[string]any{"reauthentication_flag": false})
			if err != nil {
				return cur, nil, err
			}
			events = append(events, ev)
		}
		return cur, events, nil
	})
	if errors.Is(err, errAbort) {
		if already {
			return seen, nil
		}
		return seen, ErrSuperseded
	}
	return g, err
}

// Failure is a failed refresh or re-check of a grant.
type Failure struct {
	AppID, GrantID string
	// Version and Credential (a CredentialKey) are what the refresh read.
	Version    int64
	Credential string
	// Owner is the lease owner whose lease the write clears.
	Owner   string
	Class   provider.Class
	Message string
}

// RecordFailure records a transient failure: the grant stays valid and is
// retried after Schedule.Backoff; RefreshFailures counts the consecutive
// failures and FailingSince marks the start of the run (grant.recovered).
// Nothing is counted when the grant holds other credentials meanwhile or
// is invalid (its recorded cause stands); the lease is cleared anyway.
func (s *Service) RecordFailure(ctx context.Context, f Failure) (store.Grant, error) {
	now := s.now()
	return s.Store.UpdateGrant(ctx, f.AppID, f.GrantID, func(cur store.Grant) (store.Grant, []store.Event, error) {
		if f.Credential != "" && cur.Version != f.Version {
			if same, err := s.sameCredential(cur, f.Credential); err == nil && !same {
				clearLease(&cur, f.Owner) // someone stored new credentials meanwhile: nothing failed for them
				return cur, nil, nil
			}
		}
		if cur.Status != store.GrantValid {
			clearLease(&cur, f.Owner) // invalid meanwhile: its recorded cause stands
			return cur, nil, nil
		}
		cur.RefreshFailures++
		if cur.FailingSince.IsZero() {
			cur.FailingSince = now
		}
		cur.LastFailureAt, cur.LastFailureClass, cur.LastFailureMessage = now, string(f.Class), f.Message
		cur.NextRefreshAt = now.Add(s.Schedule.Backoff(cur.RefreshFailures))
		clearLease(&cur, f.Owner)
		return cur, nil, nil
	})
}

// Invalidate records a refusal of the grant's credentials: the grant
// becomes invalid with the class and message, NextRefreshAt cleared and
// one grant.expired in the same transaction. Checked under the row lock
// first: ErrSuperseded when the grant is already invalid (no second
// grant.expired) or holds other credentials than f.Credential; ErrLeased
// when another owner's lease is running (it may be rotating that very
// token).
func (s *Service) Invalidate(ctx context.Context, f Failure) (store.Grant, error) {
	now := s.now()
	var seen store.Grant
	var why error
	g, err := s.Store.UpdateGrant(ctx, f.AppID, f.GrantID, func(cur store.Grant) (store.Grant, []store.Event, error) {
		seen = cur
		if cur.Status != store.GrantValid {
			why = ErrSuperseded
			return cur, nil, errAbort
		}
		if cur.Version != f.Version {
			same, err := s.sameCredential(cur, f.Credential)
			if err != nil {
				return cur, nil, err
			}
			if !same {
				why = ErrSuperseded // another node (or a re-authentication, or a PATCH) stored new credentials
				return cur, nil, errAbort
			}
		}
		if cur.LeaseOwner != "" && cur.LeaseOwner != f.Owner && cur.LeaseUntil.After(now) {
			why = ErrLeased
			return cur, nil, errAbort
		}
		cur.Status = store.GrantInvalid
		cur.LastFailureAt, cur.LastFailureClass, cur.LastFailureMessage = now, string(f.Class), f.Message
		cur.NextRefreshAt = time.Time{}
		cur.RefreshFailures = 0
		clearLease(&cur, f.Owner)
		last := cur.LastRefreshAt
		if last.IsZero() {
			last = cur.UpdatedAt
		}
		ev, err := s.event(EventExpired, cur, map[string]any{"grant_updated_at": last.Unix()})
		if err != nil {
			return cur, nil, err
		}
		return cur, []store.Event{ev}, nil
	})
	if errors.Is(err, errAbort) {
		return seen, why
	}
	return g, err
}

// Recheck is a password grant's successful re-check.
type Recheck struct {
	AppID, GrantID string
	Version        int64
	Credential     string // CredentialKey of the credentials checked
	Owner          string
}

// RecordRecheck stores a successful re-check: when the grant is valid and
// still holds the credentials checked, LastRefreshAt, the next re-check
// and the end of a run of failures (grant.recovered when due); otherwise
// (re-authenticated meanwhile: its schedule stands) only the lease is
// cleared.
func (s *Service) RecordRecheck(ctx context.Context, r Recheck) (store.Grant, error) {
	now := s.now()
	return s.Store.UpdateGrant(ctx, r.AppID, r.GrantID, func(cur store.Grant) (store.Grant, []store.Event, error) {
		clearLease(&cur, r.Owner)
		if cur.Status != store.GrantValid {
			return cur, nil, nil
		}
		if cur.Version != r.Version {
			if same, _ := s.sameCredential(cur, r.Credential); !same {
				return cur, nil, nil
			}
		}
		cur.LastRefreshAt = now
		cur.NextRefreshAt = s.Schedule.Recheck(now)
		cur.RefreshFailures = 0
		events, err := s.recovered(&cur, now)
		return cur, events, err
	})
}

// Postpone pushes the schedule of a grant that has nothing to refresh or
// re-check (KeepAlive from now, when it is scheduled at all) and clears
// owner's lease.
func (s *Service) Postpone(ctx context.Context, appID, id, owner string) (store.Grant, error) {
	now := s.now()
	return s.Store.UpdateGrant(ctx, appID, id, func(cur store.Grant) (store.Grant, []store.Event, error) {
		if !cur.NextRefreshAt.IsZero() {
			cur.NextRefreshAt = s.Schedule.Next(now, time.Time{})
		}
		clearLease(&cur, owner)
		return cur, nil, nil
	})
}

// recovered is the one place grant.recovered is decided, for a grant
// whose refresh or re-check has just worked, as it is about to be
// written: it ends the grant's run of transient failures (FailingSince)
// and, when that run lasted at least RecoveredAfter, returns the
// grant.recovered event to write with it (the class and message of the
// last failure, failing_since and failed_seconds). Destinations receive it
// only when they subscribe to it.
func (s *Service) recovered(g *store.Grant, now time.Time) ([]store.Event, error) {
	since := g.FailingSince
	g.FailingSince = time.Time{}
	if since.IsZero() || s.RecoveredAfter <= 0 || now.Sub(since) < s.RecoveredAfter {
		return nil, nil
	}
	ev, err := s.event(EventRecovered, *g, map[string]any{
		"failing_since": since.Unix(), "failed_seconds": int64(now.Sub(since).Seconds()),
	})
	if err != nil {
		return nil, err
	}
	return []store.Event{ev}, nil
}
