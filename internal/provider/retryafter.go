package provider

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the pause grantd takes from a provider, and passes
// on to its own clients: an answer asking for longer is taken as this.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads an HTTP Retry-After header (RFC 9110 10.2.3:
// seconds, or an HTTP date, taken relative to now); zero when it is
// absent, unreadable or in the past, at most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Out of int64's range, n is its bound: a number of seconds too
		// large to hold is the longest pause, not none.
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// RetryAfterSeconds is the pause the provider asked for with err (its
// *Error's RetryAfter), as the whole seconds of a Retry-After header:
// rounded up, at least 1, at most MaxRetryAfter; 0 when err carries none.
func RetryAfterSeconds(err error) int {
	var pe *Error
	if !errors.As(err, &pe) || pe.RetryAfter <= 0 {
		return 0
	}
	d := min(pe.RetryAfter, MaxRetryAfter)
	return max(int(math.Ceil(d.Seconds())), 1)
}
