package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// TestClaimOfProviderSkipsBacklog: on SQLite, where claims run on the
// single writer connection, a claim of one provider's due grants reads
// them from grants_due_provider, never past another provider's backlog
// (a provider the refresher holds back, whose due grants pile up).
func TestClaimOfProviderSkipsBacklog(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateApplication(ctx, store.Application{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	gs := make([]store.Grant, 20000)
	for i := range gs {
		prov := "google" // the backlog, most overdue first
		if i >= 19000 {
			prov = "microsoft"
		}
		gs[i] = store.Grant{ID: fmt.Sprintf("g%05d", i), AppID: "app", Provider: prov, Email: fmt.Sprintf("u%d@example.com", i),
			Status: store.GrantValid, CreatedAt: now, UpdatedAt: now, NextRefreshAt: now.Add(time.Duration(i-20000) * time.Millisecond)}
	}
	if err := s.SeedGrants(ctx, gs); err != nil {
		t.Fatal(err)
	}
	plan, err := s.ExplainClaimDueGrants(ctx, now, "microsoft", 64)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "grants_due_provider (provider=?") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("the claim of one provider's grants does not read grants_due_provider in order; plan:\n%s", text)
	}
	got, err := s.ClaimDueGrantsOf(ctx, now, "me", time.Minute, "microsoft", 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 64 || got[0].ID != "g19000" || got[63].ID != "g19063" {
		t.Errorf("claimed %d grants, first %v: want microsoft's 64 most overdue", len(got), grantIDs(got))
	}
}

func grantIDs(gs []store.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}
