package provider_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/provider"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"soon", 0}, {"1.5", 0},
		{"1", time.Second}, {" 120 ", 2 * time.Minute},
		{"999999", time.Hour}, // bounded
		// Beyond int64: the longest pause, not none.
		{"99999999999999999999", time.Hour}, {"-99999999999999999999", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := provider.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {-time.Second, 0},
		{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2},
		{29775 * time.Millisecond, 30}, {2 * time.Hour, 3600},
	} {
		err := fmt.Errorf("wrapped: %w", &provider.Error{Class: provider.ClassUnavailable, RetryAfter: tc.d})
		if got := provider.RetryAfterSeconds(err); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	if got := provider.RetryAfterSeconds(fmt.Errorf("not a provider's")); got != 0 {
		t.Errorf("RetryAfterSeconds of another error = %d", got)
	}
}
