package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestConcurrentRedemptions(t *testing.T) {
	s := start(t)
	const workers, rounds = 8, 40

	// No rotation: every worker redeems the same token and asks who it is.
	g := setup(t, s, Google, "email")
	// Grace rotation: each worker follows its own chain.
	s.AddClient(Microsoft, "ms", "pw")
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		email := fmt.Sprintf("user%d@example.com", w)
		s.AddUser(Microsoft, User{Email: email})
		msRT, err := s.MintRefreshToken(Microsoft, "ms", email, []string{"User.Read"})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ms := fixture{provider: Microsoft, clientID: "ms", secret: "pw"}
			for range rounds {
				st, body := redeem(t, s, g, g.rt)
				if st != 200 {
					failures.Add(1)
					continue
				}
				if st, _ := get(t, identityURL(s, Google), str(body, "access_token")); st != 200 {
					failures.Add(1)
				}
				st, body = redeem(t, s, ms, msRT)
				if st != 200 {
					failures.Add(1)
					continue
				}
				msRT = str(body, "refresh_token")
			}
		})
	}
	// Admin traffic at the same time.
	wg.Go(func() {
		for i := range rounds {
			rt, err := s.MintRefreshToken(Google, g.clientID, g.user.Email, nil)
			if err != nil {
				failures.Add(1)
			}
			s.Revoke(Google, rt)
			s.InjectFailure(Yahoo, Failure{Status: 500, Count: 1})
			_ = s.Ledger(Microsoft)
			s.SetAccessTokenTTL(Zoom, 0)
			if i%10 == 0 {
				s.ClearFailures()
			}
		}
	})
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failed requests", n)
	}
	if l := s.Ledger(Google); l.Redemptions != workers*rounds || l.IdentityCalls != workers*rounds || l.Valid(g.user.Email) != 1 {
		t.Errorf("google ledger: redemptions %d identity %d valid %d", l.Redemptions, l.IdentityCalls, l.Valid(g.user.Email))
	}
	l := s.Ledger(Microsoft)
	if l.Redemptions != workers*rounds || len(l.ValidTokens) != workers {
		t.Errorf("microsoft ledger: redemptions %d users %d", l.Redemptions, len(l.ValidTokens))
	}
	for email, toks := range l.ValidTokens {
		// Within the grace period every token of the chain is still valid.
		if len(toks) != rounds+1 {
			t.Errorf("%s: %d valid tokens, want %d", email, len(toks), rounds+1)
		}
	}
}

// TestConcurrentStrictRotation races many redemptions of one token under
// strict rotation: exactly one may win.
func TestConcurrentStrictRotation(t *testing.T) {
	s := start(t)
	z := setup(t, s, Zoom, "user:read")
	const racers = 24
	var wins, losses atomic.Int64
	var winner atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			<-start
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {z.rt}}
			req, _ := http.NewRequest(http.MethodPost, tokenURL(s, Zoom), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(z.clientID, z.secret)
			st, body := do(t, req)
			switch st {
			case 200:
				wins.Add(1)
				winner.Store(str(body, "refresh_token"))
			case 400:
				losses.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != racers-1 {
		t.Fatalf("wins %d losses %d", wins.Load(), losses.Load())
	}
	l := s.Ledger(Zoom)
	toks := l.ValidTokens[strings.ToLower(z.user.Email)]
	if len(toks) != 1 || toks[0] != winner.Load() || l.Redemptions != 1 || l.Rejections != racers-1 {
		t.Fatalf("ledger %+v", l)
	}
}
