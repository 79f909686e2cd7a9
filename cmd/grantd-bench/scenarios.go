package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// account is a user at the stand-in with a refresh token, and its grant
// once one was created.
type account struct {
	email, token, grantID string
}

// load is one run: the environment, the accounts and the results.
type load struct {
	o options
	e *env
	p *progress
	n atomic.Int64 // accounts minted so far, for unique emails

	seeded []account // accounts with a grant, created before the scenarios
	pool   []account // accounts for the round trips and the pass-through
	next   atomic.Uint64

	fresh        []account // accounts without a grant, for creates
	freshMu      sync.Mutex
	mintedDuring int // fresh accounts minted while load ran

	seedSeconds, mintSeconds float64
	results                  []result
}

// scenario is a named operation.
type scenario struct {
	name, via string
	// op makes one request and checks its status; with check, also its
	// body (the first request of every scenario).
	op func(ctx context.Context, check bool) error
	// prepare runs before the scenario at a concurrency.
	prepare func(ctx context.Context, conc int) error
}

// mint creates n users at the stand-in, each with a refresh token of the
// connector's client.
func (l *load) mint(ctx context.Context, n int) ([]account, error) {
	out := make([]account, 0, n)
	for len(out) < n {
		batch := min(n-len(out), 5000)
		emails := make([]string, batch)
		for i := range emails {
			// A random start, as real addresses have: grants land all over
			// the email index, not at its end.
			emails[i] = fmt.Sprintf("%s.%s-%d@bench.example.com", strings.ToLower(rand.Text()[:6]), l.e.runID, l.n.Add(1))
		}
		var res struct {
			RefreshTokens []string `json:"refresh_tokens"`
		}
		if err := l.e.standinAdmin(ctx, "/admin/tokens/batch", map[string]any{"provider": "google", "client_id": l.e.clientID, "emails": emails, "scopes": scopes}, &res); err != nil {
			return nil, fmt.Errorf("minting refresh tokens at the stand-in (POST /admin/tokens/batch; a grantd dev sandbox older than grantd-bench lacks it): %w", err)
		}
		if len(res.RefreshTokens) != batch {
			return nil, errors.New("the stand-in minted a different number of tokens than asked")
		}
		for i, t := range res.RefreshTokens {
			out = append(out, account{email: emails[i], token: t})
		}
	}
	return out, nil
}

// takeFresh is an account that has no grant yet; when the minted ones ran
// out it mints more (counted in mintedDuring, as that costs the stand-in
// CPU while load runs).
func (l *load) takeFresh(ctx context.Context) (account, error) {
	l.freshMu.Lock()
	defer l.freshMu.Unlock()
	if len(l.fresh) == 0 {
		more, err := l.mint(ctx, 2000)
		if err != nil {
			return account{}, err
		}
		l.fresh = more
		l.mintedDuring += len(more)
	}
	a := l.fresh[len(l.fresh)-1]
	l.fresh = l.fresh[:len(l.fresh)-1]
	return a, nil
}

// prepareFresh mints, before the create scenario, more fresh accounts than
// it can use: its rate is at most the pass-through's (or the bare round
// trip's) at the same concurrency.
func (l *load) prepareFresh(ctx context.Context, conc int) error {
	results := l.results
	rate := 3000.0
	for _, r := range results {
		if r.Concurrency != conc {
			continue
		}
		switch r.Scenario {
		case "passthrough":
			rate = r.PerSecond * 1.3
		case "roundtrip":
			if !hasResult(results, "passthrough", conc) {
				rate = r.PerSecond
			}
		}
	}
	want := int(rate*(l.o.warmup+l.o.duration).Seconds()) + 2*conc + 100
	want = min(want, 500000)
	l.freshMu.Lock()
	have := len(l.fresh)
	l.freshMu.Unlock()
	if have >= want {
		return nil
	}
	more, err := l.mint(ctx, want-have)
	if err != nil {
		return err
	}
	l.freshMu.Lock()
	l.fresh = append(l.fresh, more...)
	l.freshMu.Unlock()
	return nil
}

func hasResult(results []result, scenario string, conc int) bool {
	for _, r := range results {
		if r.Scenario == scenario && r.Concurrency == conc {
			return true
		}
	}
	return false
}

// cycle returns the accounts of list in turn.
func (l *load) cycle(list []account) account {
	return list[int((l.next.Add(1)-1)%uint64(len(list)))]
}

// seed creates the grants of a database that has grown, through the API.
func (l *load) seed(ctx context.Context) error {
	if l.o.grants == 0 {
		return nil
	}
	t0 := time.Now()
	l.p.update("seeding: minting %d refresh tokens at the stand-in", l.o.grants)
	accts, err := l.mint(ctx, l.o.grants)
	if err != nil {
		return err
	}
	l.mintSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	var next, done atomic.Int64
	errs := make(chan error, l.o.seedConcurrency)
	var wg sync.WaitGroup
	for range l.o.seedConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(accts) || ctx.Err() != nil {
					return
				}
				var out grantOut
				if err := l.create(ctx, l.e.grantdURL, accts[i].token, &out); err != nil {
					errs <- fmt.Errorf("seeding: %w", err)
					return
				}
				accts[i].grantID = out.Data.ID
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			select {
			case err := <-errs:
				return err
			default:
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			l.seedSeconds = time.Since(t0).Seconds()
			l.seeded = accts
			l.p.done("seeded %d grants through the API in %.1f s (%.0f/s), after %.1f s minting their tokens",
				len(accts), l.seedSeconds, float64(len(accts))/l.seedSeconds, l.mintSeconds)
			return nil
		case <-tick.C:
			n := done.Load()
			l.p.update("seeding: %d of %d grants, %.0f/s", n, len(accts), float64(n)/time.Since(t0).Seconds())
		}
	}
}

// grantOut is the part of a grant answer the checks read.
type grantOut struct {
	Data struct {
		ID          string `json:"id"`
		Email       string `json:"email"`
		GrantStatus string `json:"grant_status"`
	} `json:"data"`
}

// create posts one BYO Google create to base (grantd or the pass-through).
func (l *load) create(ctx context.Context, base, token string, out any) error {
	body := `{"provider":"google","settings":{"refresh_token":` + quote(token) + `}}`
	return l.do(ctx, http.MethodPost, base+"/v3/connect/custom", l.e.apiKey, body, http.StatusCreated, out)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// do makes one request, wants status, and decodes the body into out (when
// not nil) or discards it.
func (l *load) do(ctx context.Context, method, url, key, body string, status int, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return l.send(req, status, out)
}

func (l *load) send(req *http.Request, status int, out any) error {
	resp, err := l.e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// detectDomains are known domains of grantd's provider table: detection
// answers them without DNS.
var detectDomains = []string{"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "aol.com", "fastmail.com", "gmx.de", "hotmail.com", "yandex.ru", "proton.me"}

// scenarios returns the scenarios by name.
func (l *load) scenarios() map[string]*scenario {
	g := l.e.grantdURL
	wantEmail := func(out grantOut, a account) error {
		if !strings.EqualFold(out.Data.Email, a.email) || out.Data.GrantStatus != "valid" {
			return fmt.Errorf("answer for %s is %+v", a.email, out.Data)
		}
		return nil
	}
	grantRead := func(name, path, key string) *scenario {
		return &scenario{name: name, via: procGrantd, op: func(ctx context.Context, check bool) error {
			a := l.cycle(l.seeded)
			if !check {
				return l.do(ctx, http.MethodGet, g+strings.ReplaceAll(path, "{id}", a.grantID), key, "", http.StatusOK, nil)
			}
			var out struct {
				Data struct {
					ID          string `json:"id"`
					GrantID     string `json:"grant_id"`
					AccessToken string `json:"access_token"`
				} `json:"data"`
			}
			if err := l.do(ctx, http.MethodGet, g+strings.ReplaceAll(path, "{id}", a.grantID), key, "", http.StatusOK, &out); err != nil {
				return err
			}
			if out.Data.ID != a.grantID && (out.Data.GrantID != a.grantID || out.Data.AccessToken == "") {
				return fmt.Errorf("%s answered for another grant", path)
			}
			return nil
		}}
	}
	return map[string]*scenario{
		"roundtrip": {name: "roundtrip", via: procStandin, op: func(ctx context.Context, check bool) error {
			return l.roundTrip(ctx, l.cycle(l.pool), check)
		}},
		"passthrough": {name: "passthrough", via: procPass, op: func(ctx context.Context, check bool) error {
			a := l.cycle(l.pool)
			if !check {
				return l.create(ctx, l.e.passURL, a.token, nil)
			}
			var out grantOut
			if err := l.create(ctx, l.e.passURL, a.token, &out); err != nil {
				return err
			}
			return wantEmail(out, a)
		}},
		"create": {name: "create", via: procGrantd, op: func(ctx context.Context, check bool) error {
			a, err := l.takeFresh(ctx)
			if err != nil {
				return err
			}
			if !check {
				return l.create(ctx, g, a.token, nil)
			}
			var out grantOut
			if err := l.create(ctx, g, a.token, &out); err != nil {
				return err
			}
			return wantEmail(out, a)
		}, prepare: l.prepareFresh},
		"reauth": {name: "reauth", via: procGrantd, op: func(ctx context.Context, check bool) error {
			a := l.cycle(l.seeded)
			if !check {
				return l.create(ctx, g, a.token, nil)
			}
			var out grantOut
			if err := l.create(ctx, g, a.token, &out); err != nil {
				return err
			}
			if out.Data.ID != a.grantID {
				return fmt.Errorf("re-authenticating %s made grant %s, not its grant %s", a.email, out.Data.ID, a.grantID)
			}
			return wantEmail(out, a)
		}},
		"read":  grantRead("read", "/v3/grants/{id}", l.e.apiKey),
		"token": grantRead("token", "/grantd/v1/grants/{id}/access-token", l.e.readKey),
		"list": {name: "list", via: procGrantd, op: func(ctx context.Context, check bool) error {
			if !check {
				return l.do(ctx, http.MethodGet, g+"/v3/grants?limit=10", l.e.apiKey, "", http.StatusOK, nil)
			}
			var out struct {
				Data []json.RawMessage `json:"data"`
			}
			if err := l.do(ctx, http.MethodGet, g+"/v3/grants?limit=10", l.e.apiKey, "", http.StatusOK, &out); err != nil {
				return err
			}
			if len(out.Data) != min(10, len(l.seeded)) {
				return fmt.Errorf("a list of limit 10 had %d grants", len(out.Data))
			}
			return nil
		}},
		"app": {name: "app", via: procGrantd, op: func(ctx context.Context, check bool) error {
			if !check {
				return l.do(ctx, http.MethodGet, g+"/v3/applications", l.e.apiKey, "", http.StatusOK, nil)
			}
			var out struct {
				Data struct {
					ApplicationID string `json:"application_id"`
				} `json:"data"`
			}
			if err := l.do(ctx, http.MethodGet, g+"/v3/applications", l.e.apiKey, "", http.StatusOK, &out); err != nil {
				return err
			}
			if out.Data.ApplicationID == "" {
				return errors.New("GET /v3/applications answered no application_id")
			}
			return nil
		}},
		"detect": {name: "detect", via: procGrantd, op: func(ctx context.Context, check bool) error {
			i := l.next.Add(1)
			email := fmt.Sprintf("user%d@%s", i, detectDomains[i%uint64(len(detectDomains))])
			if check {
				email = "user@gmail.com"
			}
			u := g + "/v3/providers/detect?email=" + url.QueryEscape(email)
			if !check {
				return l.do(ctx, http.MethodPost, u, l.e.apiKey, "", http.StatusOK, nil)
			}
			var out struct {
				Data struct {
					Provider string `json:"provider"`
				} `json:"data"`
			}
			if err := l.do(ctx, http.MethodPost, u, l.e.apiKey, "", http.StatusOK, &out); err != nil {
				return err
			}
			if out.Data.Provider != "google" {
				return fmt.Errorf("detection of %s answered provider %q", email, out.Data.Provider)
			}
			return nil
		}},
	}
}

// roundTrip makes the provider calls of one create straight at the
// stand-in: the token redemption (client credentials in the form, as
// grantd sends them to Google), then userinfo with the access token.
func (l *load) roundTrip(ctx context.Context, a account, check bool) error {
	sp := l.e.providers.Google
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.token}, "client_id": {l.e.clientID}, "client_secret": {l.e.clientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sp.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := l.send(req, http.StatusOK, &tok); err != nil {
		return err
	}
	if req, err = http.NewRequestWithContext(ctx, http.MethodGet, sp.UserinfoURL, nil); err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if !check {
		return l.send(req, http.StatusOK, nil)
	}
	var ui struct {
		Email string `json:"email"`
	}
	if err := l.send(req, http.StatusOK, &ui); err != nil {
		return err
	}
	if !strings.EqualFold(ui.Email, a.email) {
		return fmt.Errorf("userinfo answered %q for %s", ui.Email, a.email)
	}
	return nil
}
