package tenant

import (
	"regexp"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsVersion7(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("NewID() = %q, not an RFC 9562 version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewIDCarriesTime(t *testing.T) {
	t0 := time.UnixMilli(0x0123456789ab)
	id := newID(t0)
	if got := id[:8] + id[9:13]; got != "0123456789ab" {
		t.Fatalf("newID(%v) = %q: time prefix %q, want 0123456789ab", t0, id, got)
	}
	// IDs made a millisecond apart sort in time order (what keeps new
	// primary-key entries on the last b-tree page).
	for i := range 100 {
		a, b := newID(t0.Add(time.Duration(i)*time.Millisecond)), newID(t0.Add(time.Duration(i+1)*time.Millisecond))
		if a >= b {
			t.Fatalf("newID not time-ordered: %q >= %q", a, b)
		}
	}
}
