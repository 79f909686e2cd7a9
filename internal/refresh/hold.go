package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Held answers (see the package comment, "When the database fails").

// Spool is the durable local log of answers not yet stored
// (internal/spool implements it).
type Spool interface {
	Append(data []byte) (uint64, error)
	Remove(id uint64) error
	Len() int
}

// held is a provider answer that is not stored yet.
type held struct {
	ans      grant.Refreshed
	provider string
	spoolID  uint64 // 0: not in the spool (Append failed)
	since    time.Time
	attempts int
	busy     bool // a commit of it is under way
}

// spooled is a held answer as written to the spool (sealed by it).
type spooled struct {
	AppID    string    `json:"app_id"`
	GrantID  string    `json:"grant_id"`
	Provider string    `json:"provider"`
	Version  int64     `json:"version"`
	Replaced string    `json:"replaced"` // fingerprint of the redeemed refresh token
	Owner    string    `json:"owner"`
	Started  time.Time `json:"started"`
	Held     time.Time `json:"held"`
	Access   string    `json:"access_token"`
	Refresh  string    `json:"refresh_token"`
	Expiry   time.Time `json:"expiry"`
	Scope    []string  `json:"scope,omitempty"`
}

func encodeHeld(h *held) ([]byte, error) {
	a := h.ans
	return json.Marshal(spooled{
		AppID: a.AppID, GrantID: a.GrantID, Provider: h.provider, Version: a.Version, Replaced: a.Replaced,
		Owner: a.Owner, Started: a.Started, Held: h.since, Access: a.Token.AccessToken, Refresh: a.Token.RefreshToken,
		Expiry: a.Token.Expiry, Scope: a.Token.Scope,
	})
}

func decodeHeld(b []byte) (*held, error) {
	var s spooled
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.GrantID == "" || s.Replaced == "" {
		return nil, errors.New("refresh: spool record without a grant or a replaced token")
	}
	return &held{
		ans: grant.Refreshed{
			AppID: s.AppID, GrantID: s.GrantID, Version: s.Version, Replaced: s.Replaced, Owner: s.Owner, Started: s.Started,
			Token: provider.Token{AccessToken: s.Access, RefreshToken: s.Refresh, Expiry: s.Expiry, Scope: s.Scope},
		},
		provider: s.Provider, since: s.Held,
	}, nil
}

// errInFlight: another goroutine is committing the held answer.
var errInFlight = errors.New("refresh: the held answer is being stored")

// errHeld is the error of a refresh whose answer is held: retryable.
func errHeld(cause error) error {
	return fault.Unavailablef(cause, "the database did not take the refreshed tokens; they are held and stored once it answers again: try again")
}

// retryable reports whether a commit error may go away by itself (anything
// but a lost compare-and-swap and a deleted grant).
func retryable(err error) bool {
	return err != nil && !errors.Is(err, grant.ErrSuperseded) && !errors.Is(err, store.ErrNotFound)
}

// hold keeps h until it is stored or superseded; the hold loop retries it.
func (r *Refresher) hold(h *held) {
	r.mu.Lock()
	r.heldSeq++
	r.held[r.heldSeq] = h
	r.mu.Unlock()
	r.markDown()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// heldFor returns the held answers of grant id, oldest first.
func (r *Refresher) heldFor(id string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.held) == 0 {
		return nil
	}
	var keys []uint64
	for k, h := range r.held {
		if h.ans.GrantID == id {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// Held returns the number of provider answers held in memory and in the
// spool, and the age of the oldest (zero when none).
func (r *Refresher) Held() (memory, spooled int, oldest time.Duration) {
	r.mu.Lock()
	memory = len(r.held)
	var first time.Time
	for _, h := range r.held {
		if first.IsZero() || h.since.Before(first) {
			first = h.since
		}
	}
	r.mu.Unlock()
	if r.spool != nil {
		spooled = r.spool.Len()
	}
	if !first.IsZero() {
		oldest = max(0, r.now().Sub(first))
	}
	return memory, spooled, oldest
}

// full reports whether the held answers reached MaxHeld: no new refresh
// starts until some are stored.
func (r *Refresher) full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held) >= r.cfg.MaxHeld
}

// commitHeld tries to store held answer k once. It returns the stored
// grant, and whether the answer is done with (stored, superseded or its
// grant deleted); err is the commit's error.
func (r *Refresher) commitHeld(ctx context.Context, k uint64) (store.Grant, bool, error) {
	r.mu.Lock()
	h, ok := r.held[k]
	if ok && h.busy {
		r.mu.Unlock()
		return store.Grant{}, false, errInFlight
	}
	if ok {
		h.busy = true
	}
	r.mu.Unlock()
	if !ok {
		return store.Grant{}, true, nil
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Lease/4)
	g, err := r.grants.CommitRefresh(cctx, h.ans)
	cancel()
	r.mu.Lock()
	h.attempts++
	h.busy = false
	r.mu.Unlock()
	if retryable(err) {
		r.markDown()
		return g, false, err
	}
	r.mu.Lock()
	delete(r.held, k)
	r.mu.Unlock()
	r.unspool(h)
	held := r.now().Sub(h.since).Round(time.Millisecond)
	switch {
	case err == nil:
		r.log.Info("refresh: held answer stored", slog.String("grant_id", h.ans.GrantID), slog.String("provider", h.provider),
			slog.Duration("held", held), slog.Int("attempts", h.attempts))
	case errors.Is(err, grant.ErrSuperseded):
		r.log.Info("refresh: held answer superseded by a newer stored token", slog.String("grant_id", h.ans.GrantID),
			slog.String("provider", h.provider), slog.Duration("held", held))
	}
	return g, true, err
}

func (r *Refresher) unspool(h *held) {
	if r.spool == nil || h.spoolID == 0 {
		return
	}
	if err := r.spool.Remove(h.spoolID); err != nil {
		r.log.Warn("refresh: remove a stored answer from the spool", slog.String("grant_id", h.ans.GrantID), slog.Any("err", err))
	}
}

// holdRetryMax is the longest pause between two rounds of the hold loop.
func (r *Refresher) holdRetryMax() time.Duration { return min(r.cfg.Lease/8, 2*time.Second) }

// holdLoop stores held answers: one round tries each, oldest first, and
// stops at the first retryable failure (the database is still away: one
// probe per round, not one per answer); rounds back off from 50ms to
// holdRetryMax. It runs until Close.
func (r *Refresher) holdLoop() {
	defer close(r.loopDone)
	ctx := context.Background()
	pause := 50 * time.Millisecond
	for {
		r.mu.Lock()
		keys := make([]uint64, 0, len(r.held))
		for k := range r.held {
			keys = append(keys, k)
		}
		r.mu.Unlock()
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		failed := false
		for _, k := range keys {
			if _, _, err := r.commitHeld(ctx, k); retryable(err) && !errors.Is(err, errInFlight) {
				failed = true
				break
			}
		}
		var wait <-chan time.Time
		if failed {
			wait = time.After(pause + jitter(pause/2))
			pause = min(pause*2, r.holdRetryMax())
		} else {
			pause = 50 * time.Millisecond
		}
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-wait:
		}
	}
}

// markDown records that the store failed: before this refresher claims
// again it extends the leases that lapsed meanwhile (see reachable).
func (r *Refresher) markDown() { r.down.Store(true) }

// reachable reports whether this refresher may claim grants: after a
// store failure (and at start-up) it first extends every lease that ran
// out unreleased by one Lease (store.ExtendLapsedLeases), so that a grant
// whose answer is held by its owner, or spooled by a node that is being
// restarted, is not redeemed again before that answer is stored.
func (r *Refresher) reachable(ctx context.Context) bool {
	if !r.down.Load() {
		return true
	}
	r.downMu.Lock()
	defer r.downMu.Unlock()
	if !r.down.Load() {
		return true
	}
	n, err := r.st.ExtendLapsedLeases(ctx, r.now(), r.cfg.Lease)
	if err != nil {
		return false
	}
	if n > 0 {
		r.log.Info("refresh: the store answers again; leases that lapsed unreleased are extended so that held answers are stored first",
			slog.Int("grants", n), slog.Duration("for", r.cfg.Lease))
	}
	r.down.Store(false)
	return true
}

// loadSpool holds the answers a previous process left in the spool.
func (r *Refresher) loadSpool(recs []SpoolRecord) {
	bad := 0
	for _, rec := range recs {
		h, err := decodeHeld(rec.Data)
		if err != nil {
			bad++
			continue
		}
		h.spoolID = rec.ID
		r.mu.Lock()
		r.heldSeq++
		r.held[r.heldSeq] = h
		r.mu.Unlock()
	}
	if len(recs) > 0 {
		r.log.Info("refresh: replaying provider answers left in the spool", slog.Int("answers", len(recs)-bad), slog.Int("undecodable", bad))
	}
}

// SpoolRecord is a record replayed from the spool.
type SpoolRecord struct {
	ID   uint64
	Data []byte
}

// Close stops the hold loop. Answers still held stay in the spool for the
// next start; the caller closes the spool.
func (r *Refresher) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.loopDone
		r.mu.Lock()
		held, lost := len(r.held), 0
		for _, h := range r.held {
			if h.spoolID == 0 {
				lost++
			}
		}
		r.mu.Unlock()
		if held > 0 {
			r.log.Warn("refresh: stopping with provider answers the database has not stored; the spool keeps them for the next start",
				slog.Int("held", held), slog.Int("not_in_spool", lost))
		}
		if lost > 0 {
			r.log.Error("refresh: rotated tokens that are not in the spool are lost with this process", slog.Int("answers", lost))
		}
	})
}
