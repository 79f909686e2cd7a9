package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// A database that cannot answer is store.ErrUnavailable (a
// fault.Unavailable error), for reads, writes and transactions: stopped
// (refused and closed connections), and frozen (nothing answers: only
// store.WithTimeout's deadline ends the call, in bounded time). The same
// Store serves again once the server is back.
func TestUnavailable(t *testing.T) {
	c := testenv.StartPGCluster(t)
	const timeout = 300 * time.Millisecond
	st := store.WithTimeout(open(t, c.URL), timeout)
	ctx := context.Background()
	app := store.Application{ID: "app1", Name: "a", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"read": func() error { _, err := st.GetApplication(ctx, "app1"); return err },
		"write": func() error {
			return st.CreateAPIKey(ctx, store.APIKey{ID: "k" + time.Now().Format("150405.000000000"), AppID: "app1", Hash: []byte(time.Now().String()), CreatedAt: time.Now()})
		},
		"update": func() error {
			_, err := st.UpdateApplication(ctx, "app1", func(a store.Application) (store.Application, error) { a.Name += "x"; return a, nil })
			return err
		},
	}
	check := func(phase string, bound time.Duration) {
		t.Helper()
		for name, call := range calls {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if !errors.Is(err, store.ErrUnavailable) || !fault.Is(err, fault.Unavailable) {
				t.Errorf("%s: %s: %v; want store.ErrUnavailable", phase, name, err)
			}
			if took > bound {
				t.Errorf("%s: %s took %v; want at most %v", phase, name, took, bound)
			}
		}
	}
	recovered := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for name, call := range calls {
			for {
				err := call()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %s: %s still fails: %v", phase, name, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	c.Stop("fast")
	check("stopped", 2*time.Second)
	c.Start()
	recovered("stop")
	c.Freeze()
	check("frozen", timeout+time.Second)
	c.Thaw()
	recovered("freeze")
}
