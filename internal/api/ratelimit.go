package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/grantd/grantd/internal/ratelimit"
)

// TypeRateLimit is the Nylas error type of a 429.
const TypeRateLimit = "api.rate_limit_error"

// limit answers 429 with Retry-After when the caller's application has no
// token left in lim (nil: no limit), and reports whether it did.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, lim *ratelimit.Limiter, what string) bool {
	ok, wait := lim.Allow(principal(r).App.ID, time.Now())
	if ok {
		return false
	}
	secs := int64(math.Ceil(wait.Seconds()))
	secs = max(secs, 1)
	perSecond, burst := lim.Rate()
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.respondError(w, r, &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Message: fmt.Sprintf(
		"too many requests: this application's limit for %s is %g per second on this grantd node, in bursts of %d; retry in %d s",
		what, perSecond, burst, secs)})
	return true
}
