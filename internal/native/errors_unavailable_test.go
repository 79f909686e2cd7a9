package native

import (
	"net/http"
	"testing"

	"github.com/grantd/grantd/internal/fault"
)

// A store or dependency that cannot answer is a retryable 503 with
// Retry-After on the v2 routes too.
func TestUnavailableIsRetryable(t *testing.T) {
	e, ok := toError(fault.Unavailablef(nil, "the database cannot answer now"))
	if !ok || e.Status != http.StatusServiceUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("toError(unavailable) = %+v, %v; want 503 with a Retry-After", e, ok)
	}
}
