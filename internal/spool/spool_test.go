package spool_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/grantd/grantd/internal/spool"
	"github.com/grantd/grantd/internal/vault"
)

func newVault(t testing.TB) *vault.Vault {
	t.Helper()
	kr, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return vault.NewFromKeyring(kr)
}

func open(t testing.TB, dir string, v spool.Sealer) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func datas(recs []spool.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

// Records appended and not removed come back after a reopen (and only
// they), sealed on disk: the plaintext is not in the files.
func TestReplay(t *testing.T) {
	dir, v := t.TempDir(), newVault(t)
	s := open(t, dir, v)
	var ids []uint64
	for i := range 5 {
		id, err := s.Append([]byte(fmt.Sprintf("secret-token-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, i := range []int{0, 2, 4} {
		if err := s.Remove(ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len %d, want 2", s.Len())
	}
	// A crash: the spool is not closed, its lock goes with the process
	// (here: a second slot is used, and the first one adopted once its
	// lock is released).
	segs, _ := filepath.Glob(filepath.Join(s.Dir(), "*.seg"))
	for _, f := range segs {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("secret-token")) {
			t.Errorf("%s holds a record in the clear", f)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, v)
	defer s2.Close()
	got := datas(s2.Pending())
	if fmt.Sprint(got) != "[secret-token-1 secret-token-3]" {
		t.Errorf("replayed %q", got)
	}
	if s2.Len() != 2 || len(s2.Pending()) != 0 {
		t.Errorf("after Pending: Len %d", s2.Len())
	}
}

// A slot held by a live spool is not opened twice: the second spool takes
// another slot; once the first is closed, a third adopts its records.
func TestSlotsAndAdoption(t *testing.T) {
	dir, v := t.TempDir(), newVault(t)
	a := open(t, dir, v)
	if _, err := a.Append([]byte("held-by-a")); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir, v)
	if a.Dir() == b.Dir() {
		t.Fatalf("two spools in one slot %s", a.Dir())
	}
	if n := len(b.Pending()); n != 0 {
		t.Errorf("b replayed %d records of a live slot", n)
	}
	// a "dies" (its lock is released; its records stay on disk).
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir, v)
	defer c.Close()
	if got := datas(c.Pending()); fmt.Sprint(got) != "[held-by-a]" {
		t.Errorf("adopted %q", got)
	}
	b.Close()
}

// A torn frame at the end of a segment (a crash during a write) ends the
// replay of that segment; what came before survives.
func TestTornTail(t *testing.T) {
	dir, v := t.TempDir(), newVault(t)
	s := open(t, dir, v)
	if _, err := s.Append([]byte("complete")); err != nil {
		t.Fatal(err)
	}
	slot := s.Dir()
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(slot, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9}) // a frame cut short
	f.Close()
	s2 := open(t, dir, v)
	defer s2.Close()
	if got := datas(s2.Pending()); fmt.Sprint(got) != "[complete]" {
		t.Errorf("replayed %q", got)
	}
}

// Records sealed with a key the keyring no longer has are kept, not
// returned, and counted.
func TestUnreadableKept(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newVault(t))
	s.Append([]byte("old key"))
	s.Close()
	s2 := open(t, dir, newVault(t))
	if len(s2.Pending()) != 0 || s2.Unreadable() != 1 || s2.Len() != 1 {
		t.Errorf("pending/unreadable/len: %d %d", s2.Unreadable(), s2.Len())
	}
	s2.Close()
}

// Concurrent appends (group commit) all come back; segments roll.
func TestConcurrentAppends(t *testing.T) {
	dir, v := t.TempDir(), newVault(t)
	s := open(t, dir, v)
	var wg sync.WaitGroup
	big := bytes.Repeat([]byte("x"), 64<<10)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id, err := s.Append(append([]byte(fmt.Sprintf("%d-%d:", w, i)), big...))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := s.Remove(id); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if s.Len() != 80 {
		t.Errorf("Len %d, want 80", s.Len())
	}
	s.Close()
	s2 := open(t, dir, v)
	defer s2.Close()
	if n := len(s2.Pending()); n != 80 {
		t.Errorf("replayed %d, want 80", n)
	}
	segs, _ := filepath.Glob(filepath.Join(s2.Dir(), "*.seg"))
	if len(segs) != 1 {
		t.Errorf("after compaction: %d segments", len(segs))
	}
}

// BenchmarkAppend is the spool's cost per refresh: one sealed record
// appended and fsynced, then removed (its commit), with 1 and 8 appenders.
func BenchmarkAppend(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("appenders=%d", par), func(b *testing.B) {
			s := open(b, b.TempDir(), newVault(b))
			defer s.Close()
			rec := bytes.Repeat([]byte("r"), 600) // a rotated token set with its grant id, fingerprint, version
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id, err := s.Append(rec)
					if err != nil {
						b.Error(err)
						return
					}
					if err := s.Remove(id); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
