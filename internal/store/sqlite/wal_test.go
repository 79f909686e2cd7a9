package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// TestWALStaysBounded writes far more than walLimit through the store
// while readers list grants almost without pause (which keeps a passive
// checkpoint from restarting the WAL), and checks that the WAL file
// never grows past a few times walLimit, and that it is cut to nothing
// once writes stop.
func TestWALStaysBounded(t *testing.T) {
	old := walLimit
	walLimit = 1 << 20
	t.Cleanup(func() { walLimit = old })
	// walLimit plus the writes of the rounds whose truncation the readers
	// held off (each waits at most checkpointBusyTimeout): how much that is
	// depends on how fast this machine writes (15 to 27 MB of the 36 MB
	// written, idle), so the bound is what is written. A WAL never cut
	// back holds about three times that (105 MB): the test tells the two
	// apart with room on either side.
	const minWritten = 30 << 20

	path := filepath.Join(t.TempDir(), "grantd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateApplication(ctx, store.Application{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	done := make(chan struct{})
	var peak atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the WAL's size
		defer wg.Done()
		for {
			if n := walSize(); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	for range 3 { // readers that hardly pause
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.ListGrants(ctx, "app", store.GrantFilter{ListOptions: store.ListOptions{Limit: 50}}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	pad := strings.Repeat("x", 4000)
	var written atomic.Int64
	var writers sync.WaitGroup
	for w := range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 600 {
				g := store.Grant{ID: fmt.Sprintf("g-%d-%d", w, i), AppID: "app", Provider: "google", Email: fmt.Sprintf("u%d-%d@example.com", w, i),
					Status: store.GrantValid, Settings: map[string]any{"pad": pad}, Secrets: []byte(pad)}
				if err := s.CreateGrant(ctx, g); err != nil {
					t.Error(err)
					return
				}
				written.Add(int64(2 * len(pad)))
			}
		}()
	}
	writers.Wait()
	// Keep reading a moment after the writes: the idle truncation must
	// not need the readers to stop.
	deadline := time.Now().Add(10 * checkpointInterval) // a loaded machine delays the checkpointer
	for walSize() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	idle := walSize()
	close(done)
	wg.Wait()
	t.Logf("%d MB written; WAL peak %.1f MB (limit %d MB), %d bytes once idle", written.Load()>>20, float64(peak.Load())/(1<<20), walLimit>>20, idle)
	bound := written.Load()
	if bound < minWritten {
		t.Fatalf("only %d bytes written: the test proves nothing", written.Load())
	}
	if p := peak.Load(); p > bound {
		t.Errorf("the WAL grew to %d bytes, past %d", p, bound)
	}
	if idle != 0 {
		t.Errorf("the WAL is %d bytes %v after the writes stopped; want it truncated", idle, 10*checkpointInterval)
	}
}
