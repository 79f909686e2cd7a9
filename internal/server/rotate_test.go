package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/vault"
)

// TestRotateUnderLoad writes secrets while a rotation runs, as a serving
// node would (its own vault, reloading the keyring file), then reads every
// secret back: none is lost and every blob ends under the new key.
func TestRotateUnderLoad(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Vault.ReloadInterval = 50 * time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The "serving node".
	node, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	oldKey := node.Vault.PrimaryKeyID()
	app, _, err := node.Tenants.CreateApplication(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	const grants = 300
	now := time.Now().UTC().Truncate(time.Microsecond)
	seal := func(v *vault.Vault, id string, n int64) []byte {
		b, err := v.Seal(fmt.Appendf(nil, `{"refresh_token":"rt-%s-%d"}`, id, n), []byte("grant/"+app.ID+"/"+id))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ids := make([]string, grants)
	for i := range ids {
		ids[i] = fmt.Sprintf("g-%04d", i)
		g := store.Grant{ID: ids[i], AppID: app.ID, Provider: "google", Email: ids[i] + "@example.com", Status: store.GrantValid, CreatedAt: now, UpdatedAt: now}
		g.Secrets = seal(node.Vault, ids[i], 0)
		if err := node.Store.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}

	// Writers keep re-sealing secrets while the rotation runs.
	wctx, stop := context.WithCancel(ctx)
	go node.Vault.Watch(wctx, cfg.Vault.ReloadInterval)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		last    = map[string]int64{}
		writes  atomic.Int64
		counter atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; wctx.Err() == nil; i += 4 {
				id := ids[i%grants]
				n := counter.Add(1)
				_, err := node.Store.UpdateGrant(ctx, app.ID, id, func(g store.Grant) (store.Grant, []store.Event, error) {
					g.Secrets = seal(node.Vault, id, n)
					return g, nil, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if n > last[id] {
					last[id] = n
				}
				mu.Unlock()
				writes.Add(1)
			}
		}()
	}

	// The rotation, as `grantd keys rotate` does it.
	time.Sleep(50 * time.Millisecond)
	newKey, err := vault.AddKeyToFile(server.KeyringPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	rot, _, err := vault.NewFromFile(server.KeyringPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	n, err := server.Rewrap(ctx, node.Store, rot, 2*cfg.Vault.ReloadInterval+50*time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()
	if n == 0 || writes.Load() == 0 {
		t.Fatalf("rewrapped %d, writes %d: the test did not exercise a concurrent rotation", n, writes.Load())
	}
	if newKey == oldKey || node.Vault.PrimaryKeyID() != newKey {
		t.Fatalf("node primary %s, want new key %s", node.Vault.PrimaryKeyID(), newKey)
	}
	// Every secret opens, holds the last value written, under the new key.
	for _, id := range ids {
		g, err := node.Store.GetGrant(ctx, app.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		kid, err := vault.KeyIDOf(g.Secrets)
		if err != nil || kid != newKey {
			t.Errorf("%s: key %s (%v), want %s", id, kid, err, newKey)
		}
		b, err := rot.Open(g.Secrets, []byte("grant/"+app.ID+"/"+id))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if want := fmt.Sprintf(`{"refresh_token":"rt-%s-%d"}`, id, last[id]); string(b) != want {
			t.Errorf("%s: %s, want %s", id, b, want)
		}
	}
	t.Logf("%d writes during rotation, %d blobs rewrapped", writes.Load(), n)
}
