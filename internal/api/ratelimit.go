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

// connectLimited takes a token of the client IP's bucket in
// ConnectIPRateLimit before h; oauth selects the OAuth error shape of the
// 429 (token, tokeninfo, revoke: the SDK parses those) over the Nylas
// envelope (auth, callback).
func (s *Server) connectLimited(oauth bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.connectLimit(w, r, oauth, s.cfg.ConnectIPRateLimit, "ip:"+s.clientIP(r), "this client address") {
			return
		}
		h(w, r)
	}
}

// connectClientLimit takes a token of clientID's bucket in
// ConnectClientRateLimit (nothing when clientID is empty) and reports
// whether it answered 429.
func (s *Server) connectClientLimit(w http.ResponseWriter, r *http.Request, oauth bool, clientID string) bool {
	if clientID == "" || len(clientID) > 200 {
		return false
	}
	return s.connectLimit(w, r, oauth, s.cfg.ConnectClientRateLimit, "client:"+clientID, "this client_id")
}

func (s *Server) connectLimit(w http.ResponseWriter, r *http.Request, oauth bool, lim *ratelimit.Limiter, key, who string) bool {
	secs, msg, limited := connectAllow(lim, key, "hosted OAuth", who)
	if !limited {
		return false
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if oauth {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusTooManyRequests, oauthErrorBody{Error: "rate_limit_exceeded", ErrorDescription: msg, ErrorCode: http.StatusTooManyRequests})
	} else {
		s.respondError(w, r, &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Message: msg})
	}
	return true
}

// connectAllow takes a token of key's bucket in lim; when there is none it
// returns the Retry-After seconds and the 429's message (routes: whose
// limit it is; who: whose bucket).
func connectAllow(lim *ratelimit.Limiter, key, routes, who string) (int64, string, bool) {
	ok, wait := lim.Allow(key, time.Now())
	if ok {
		return 0, "", false
	}
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	perSecond, burst := lim.Rate()
	return secs, fmt.Sprintf("too many requests: the limit of %s for %s is %g per second on this grantd node, in bursts of %d; retry in %d s",
		routes, who, perSecond, burst, secs), true
}

// v2Limited takes a token of the client IP's bucket in ConnectIPRateLimit
// (the one of the hosted OAuth routes) before h, a v2 native route: those
// take no API key either. Over it, v2's 429 ({message, type}).
func (s *Server) v2Limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if secs, msg, limited := connectAllow(s.cfg.ConnectIPRateLimit, "ip:"+s.clientIP(r), "v2 native authentication", "this client address"); limited {
			s.cfg.Native.TooManyRequests(w, r, int(secs), msg)
			return
		}
		h(w, r)
	}
}
