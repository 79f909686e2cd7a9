package ews

import (
	"testing"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

// TestBackOff: ErrorServerBusy's BackOffMilliseconds, bounded; a number
// beyond int64 is the longest pause, not none.
func TestBackOff(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"29775", 29775 * time.Millisecond}, {" 5 ", 5 * time.Millisecond},
		{"0", 0}, {"-5", 0}, {"soon", 0}, {"1.5", 0}, {"", 0},
		{"86400000", provider.MaxRetryAfter},
		{"99999999999999999999", provider.MaxRetryAfter}, {"-99999999999999999999", 0},
	} {
		if got := backOff([]xmlValue{{Name: "Other", Value: "7"}, {Name: "BackOffMilliseconds", Value: tc.v}}); got != tc.want {
			t.Errorf("backOff(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
