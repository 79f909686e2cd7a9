package conformance

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// ScaleGrants is the number of grants Scale seeds, from
// GRANTD_SCALE_GRANTS (0: the scale run is skipped).
func ScaleGrants() int {
	n, _ := strconv.Atoi(os.Getenv("GRANTD_SCALE_GRANTS"))
	return n
}

// Scale seeds n grants in one application (SeedGrants: multi-row
// inserts) and measures ListGrants with limit 10 for every filter, the
// common combinations, and first and deep pages by offset and by cursor:
// the median and the 90th percentile of the wall time, and this process's
// CPU per call (for PostgreSQL that leaves out the server's). It prints a
// Markdown table. Run with GRANTD_SCALE_GRANTS=N (see docs/benchmarks.md).
func Scale(t *testing.T, s store.Store, n int) {
	ctx := context.Background()
	seeder, ok := unwrap(s).(grantSeeder)
	if !ok {
		t.Fatalf("%T has no SeedGrants", s)
	}
	app := newApp(t, s)
	start := time.Now()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const chunk = 100000
	for i := 0; i < n; i += chunk {
		gs := make([]store.Grant, 0, chunk)
		for j := i; j < min(n, i+chunk); j++ {
			gs = append(gs, scaleGrant(app, j, base))
		}
		if err := seeder.SeedGrants(ctx, gs); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded %d grants in %v", n, time.Since(start).Round(time.Second))
	mid := scaleGrant(app, n/2, base)
	at := func(i int) time.Time { return scaleGrant(app, i, base).CreatedAt }
	lim := store.ListOptions{Limit: 10}
	cases := []struct {
		name string
		f    store.GrantFilter
	}{
		{"no filter, first page", store.GrantFilter{ListOptions: lim}},
		{"no filter, sort_by=updated_at", store.GrantFilter{ListOptions: store.ListOptions{Limit: 10, SortBy: "updated_at"}}},
		{"grant_status=invalid (1%)", store.GrantFilter{ListOptions: lim, Status: store.GrantInvalid}},
		{"grant_status=valid", store.GrantFilter{ListOptions: lim, Status: store.GrantValid}},
		{"provider=icloud (2%)", store.GrantFilter{ListOptions: lim, Provider: "icloud"}},
		{"ip (one grant)", store.GrantFilter{ListOptions: lim, IP: mid.IP}},
		{"workspace_id (1 in 1000)", store.GrantFilter{ListOptions: lim, WorkspaceID: "ws-7"}},
		{"credential_id (1 in 20)", store.GrantFilter{ListOptions: lim, CredentialID: "cred-4"}},
		{"email", store.GrantFilter{ListOptions: lim, Email: mid.Email}},
		{"account_ids (two)", store.GrantFilter{ListOptions: lim, AccountIDs: []string{"acct-100", "acct-200"}}},
		{"since (last 1%)", store.GrantFilter{ListOptions: lim, Since: at(n - n/100)}},
		{"since+before (a day in the middle)", store.GrantFilter{ListOptions: lim, Since: at(n / 2), Before: at(n / 2).Add(24 * time.Hour)}},
		{"status=invalid+provider=icloud (0.02%)", store.GrantFilter{ListOptions: lim, Status: store.GrantInvalid, Provider: "icloud"}},
		{"status=invalid+provider=nylas (no match: walks the invalid ones)", store.GrantFilter{ListOptions: lim, Status: store.GrantInvalid, Provider: "nylas"}},
		{"status=valid+credential_id", store.GrantFilter{ListOptions: lim, Status: store.GrantValid, CredentialID: "cred-4"}},
		{"grant_status=invalid, sort_by=updated_at asc", store.GrantFilter{ListOptions: store.ListOptions{Limit: 10, SortBy: "updated_at", Asc: true}, Status: store.GrantInvalid}},
		{"offset=1000", store.GrantFilter{ListOptions: store.ListOptions{Limit: 10, Offset: 1000}}},
		{fmt.Sprintf("offset=%d (last page)", n-10), store.GrantFilter{ListOptions: store.ListOptions{Limit: 10, Offset: n - 10}}},
		{"cursor, last page", store.GrantFilter{ListOptions: lim, After: store.GrantKey{At: at(10), ID: scaleGrant(app, 10, base).ID}}},
		{"grant_status=invalid, cursor at the end", store.GrantFilter{ListOptions: lim, Status: store.GrantInvalid, After: store.GrantKey{At: at(1000), ID: scaleGrant(app, 1000, base).ID}}},
	}
	fmt.Printf("\n| ListGrants, limit 10, %d grants | p50 | p90 | CPU per call (this process) | rows |\n|---|---|---|---|---|\n", n)
	for _, c := range cases {
		// Warm up, then time at least 20 calls and 1 s.
		var rows int
		for range 3 {
			gs, err := s.ListGrants(ctx, app, c.f)
			if err != nil {
				t.Fatal(c.name, err)
			}
			rows = len(gs)
		}
		var lat []time.Duration
		cpu0 := cpuTime()
		t0 := time.Now()
		for len(lat) < 20 || time.Since(t0) < time.Second {
			t1 := time.Now()
			if _, err := s.ListGrants(ctx, app, c.f); err != nil {
				t.Fatal(c.name, err)
			}
			lat = append(lat, time.Since(t1))
			if len(lat) >= 2000 {
				break
			}
		}
		cpu := (cpuTime() - cpu0) / time.Duration(len(lat))
		slices.Sort(lat)
		fmt.Printf("| %s | %s | %s | %s | %d |\n", c.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10]), ms(cpu), rows)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleGrant is the i-th grant of Scale's application: created a minute
// apart; 1% invalid; providers google 60%, microsoft 30%, imap 8%, icloud
// 2% (independent of the status); a distinct ip each; one workspace of 1000 for a third of them; one
// of 20 credentials for half; an account id for every 100th.
func scaleGrant(app string, i int, base time.Time) store.Grant {
	g := benchGrant(app, int64(i))
	g.ID = fmt.Sprintf("%s-g%09d", app, i)
	g.Email = fmt.Sprintf("user%d@example.com", i)
	switch r := i % 50; {
	case r < 30:
		g.Provider = "google"
	case r < 45:
		g.Provider = "microsoft"
	case r < 49:
		g.Provider = "imap"
	default:
		g.Provider = "icloud"
	}
	if i%97 == 13 {
		g.Status = store.GrantInvalid
	}
	g.IP = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	if i%3 == 0 {
		g.WorkspaceID = fmt.Sprintf("ws-%d", i%1000)
	}
	if i%2 == 0 {
		g.CredentialID = fmt.Sprintf("cred-%d", i%20)
	}
	if i%100 == 0 {
		g.AccountID = fmt.Sprintf("acct-%d", i)
	}
	g.CreatedAt = base.Add(time.Duration(i) * time.Minute)
	g.UpdatedAt = g.CreatedAt.Add(time.Duration(i%97) * time.Hour)
	return g
}
