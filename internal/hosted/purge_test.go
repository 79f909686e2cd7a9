package hosted

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/token"
)

type plainSealer struct{}

func (plainSealer) Seal(p, _ []byte) ([]byte, error) { return p, nil }
func (plainSealer) Open(b, _ []byte) ([]byte, error) { return b, nil }

// TestPurgeStaleTokens: as codes are stored, issued tokens expired, used
// or revoked more than TokenRetention ago are deleted; a used refresh
// token within the retention is kept and its replay still revokes the
// family.
func TestPurgeStaleTokens(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateApplication(ctx, store.Application{ID: "app1", Name: "app", CreatedAt: clock, UpdatedAt: clock}))
	must(st.CreateGrant(ctx, store.Grant{ID: "g1", AppID: "app1", Provider: "google", Email: "a@example.com", Status: store.GrantValid, CreatedAt: clock, UpdatedAt: clock}))
	toks := &token.Service{Store: st, Now: now}
	s := &Service{Store: st, Vault: plainSealer{}, Tokens: toks, Now: now, TokenRetention: 24 * time.Hour}

	// A sign-in (access + refresh), then its refresh rotated an hour later.
	first, err := toks.Issue(ctx, "app1", "g1", nil, true)
	must(err)
	clock = clock.Add(time.Hour)
	second, _, err := toks.Refresh(ctx, "app1", first.RefreshToken, false)
	must(err)
	exists := func(tok string) bool {
		t.Helper()
		_, err := st.GetToken(ctx, token.Hash(tok))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	putCodes := func() {
		t.Helper()
		for range purgeEvery {
			_, err := s.putCode(ctx, kindState, statePrefix, "app1", "", time.Minute, map[string]string{})
			must(err)
		}
		s.purges.Wait() // the purge runs beside the request that ticked
	}

	// Within the retention nothing goes, and the used refresh token
	// still counts as a replay.
	clock = clock.Add(23 * time.Hour)
	putCodes()
	for _, tok := range []string{first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken} {
		if !exists(tok) {
			t.Fatalf("token deleted within the retention")
		}
	}

	// Past it: the first access token (expired) and the used refresh
	// token go; the live refresh token stays.
	clock = clock.Add(2 * time.Hour)
	putCodes()
	if exists(first.AccessToken) || exists(first.RefreshToken) {
		t.Fatal("stale tokens were not deleted")
	}
	if !exists(second.RefreshToken) {
		t.Fatal("the live refresh token was deleted")
	}
	// The replay past the retention is only an invalid token now.
	if _, _, err := toks.Refresh(ctx, "app1", first.RefreshToken, false); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("replay past the retention: %v", err)
	}
}
