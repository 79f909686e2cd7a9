package hosted

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/token"
)

// failingSealer refuses to seal while fail is set: the vault of a node
// that cannot create the id_tokens' signing key.
type failingSealer struct{ fail *bool }

func (f failingSealer) Seal(p, _ []byte) ([]byte, error) {
	if *f.fail {
		return nil, errors.New("vault unavailable")
	}
	return p, nil
}
func (failingSealer) Open(b, _ []byte) ([]byte, error) { return b, nil }

// TestRefreshKeepsTokenWhenIDTokenFails: a refresh whose id_token cannot
// be signed (no signing key can be created) fails before the refresh
// token is rotated, so that the client's retry with the same refresh
// token succeeds instead of counting as a replay that revokes the family.
func TestRefreshKeepsTokenWhenIDTokenFails(t *testing.T) {
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
	fail := true
	toks := &token.Service{Store: st, Now: now}
	s := &Service{Store: st, Vault: plainSealer{}, Tokens: toks, Now: now, Issuer: "https://grantd.example",
		IDTokens: &idtoken.Keys{Store: st, Vault: failingSealer{&fail}, Now: now}}

	first, err := toks.IssuePKCEOnly(ctx, "app1", "g1", nil, true)
	must(err)
	req := TokenRequest{GrantType: "refresh_token", ClientID: "app1", RefreshToken: first.RefreshToken}
	if _, err := s.Token(ctx, req); err == nil {
		t.Fatal("refresh succeeded without a signing key")
	}
	fail = false
	out, err := s.Token(ctx, req)
	if err != nil {
		t.Fatalf("the retry of the refresh after the signing key's failure: %v", err)
	}
	if out.IDToken == "" || out.RefreshToken == "" {
		t.Fatalf("retry answered %+v, want an id_token and a refresh token", out)
	}
}
