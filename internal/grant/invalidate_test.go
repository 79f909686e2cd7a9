package grant_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/tenant"
)

// movingStore is a real store whose first ListGrants lets another writer
// move the first listed grant to another credential after the list was
// read and before the caller acts on it: the interleaving a PATCH running
// next to a credential deletion can produce.
type movingStore struct {
	store.Store
	once  sync.Once
	to    string
	moved string // the id of the grant moved
}

func (m *movingStore) ListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error) {
	gs, err := m.Store.ListGrants(ctx, appID, f)
	if err != nil || len(gs) == 0 {
		return gs, err
	}
	m.once.Do(func() {
		m.moved = gs[0].ID
		_, err = m.Store.UpdateGrant(ctx, appID, gs[0].ID, func(g store.Grant) (store.Grant, []store.Event, error) {
			g.CredentialID = m.to
			return g, nil, nil
		})
	})
	return gs, err
}

// Invalidating the grants of a credential re-checks each grant under its
// row lock: one moved to another credential after the list stays valid
// and gets no grant.expired.
func TestInvalidateCredentialRechecksUnderLock(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	app := store.Application{ID: tenant.NewID(), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, email := range []string{"moved@example.com", "stays@example.com"} {
		g := store.Grant{ID: tenant.NewID(), AppID: app.ID, Provider: "google", Email: email, CredentialID: "cred-old",
			Status: store.GrantValid, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}

	ms := &movingStore{Store: st, to: "cred-new"}
	svc := &grant.Service{Store: ms, NewID: tenant.NewID, Now: time.Now}
	if err := svc.InvalidateCredential(ctx, app.ID, "cred-old", grant.CauseCredentialDeleted, "deleted"); err != nil {
		t.Fatal(err)
	}

	// (Both grants have the same created_at: either may be listed first.)
	if ms.moved == ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	moved, _ := st.GetGrant(ctx, app.ID, ids[0])
	stays, _ := st.GetGrant(ctx, app.ID, ids[1])
	if moved.Status != store.GrantValid || moved.CredentialID != "cred-new" {
		t.Errorf("grant moved to another credential: status %s, credential %q; want valid on cred-new", moved.Status, moved.CredentialID)
	}
	if stays.Status != store.GrantInvalid || stays.LastFailureClass != grant.CauseCredentialDeleted {
		t.Errorf("grant still on the deleted credential: status %s, class %q; want invalid, %s", stays.Status, stays.LastFailureClass, grant.CauseCredentialDeleted)
	}
	evs, err := st.ListEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" "+e.GrantID)
	}
	if want := grant.EventExpired + " " + ids[1]; len(got) != 1 || got[0] != want {
		t.Errorf("events %q; want only %q", got, want)
	}
}
