package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// tokErr is a kind of token endpoint error; each provider words it its own
// way (see flavor.writeTokenError).
type tokErr int

const (
	errMissingParam tokErr = iota // 400 invalid_request
	errUnsupportedGrant
	errInvalidClient // 401: wrong secret or missing client authentication
	errUnknownClient // 401
	errInvalidGrant  // 400: unknown, revoked, expired or other client's token
	errInvalidScope
	errUnknownTenant
	errWrongTenant
	errInjected // an injected status
)

// redemption is what a successful grant produces; built under p.mu,
// encoded outside it.
type redemption struct {
	user     User
	clientID string
	scopes   []string
	access   string
	refresh  string // "" when the provider sends none back
	ttl      time.Duration
	now      time.Time
}

// expiresIn is the token's lifetime in whole seconds, as expires_in.
func (red redemption) expiresIn() int64 {
	return int64((red.ttl + time.Second - 1) / time.Second)
}

// scope is the token's space-separated scope.
func (red redemption) scope() string { return strings.Join(red.scopes, " ") }

// openid: the token's scopes ask for an ID token.
func (red redemption) openid() bool { return slices.Contains(red.scopes, "openid") }

func (s *Sandbox) serveToken(w http.ResponseWriter, r *http.Request, p *prov, tenant string) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	// Read the body before any injected delay: the server notices a client
	// that hangs up (and cancels the request context) only once the body
	// has been consumed.
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	parseErr := r.ParseForm()
	status, answerDelay, ok := s.injected(r.Context(), w.Header(), p, "token")
	if !ok {
		return
	}
	if status != 0 {
		s.writeTokenError(w, r, p, errInjected, status, "")
		return
	}
	reject := func(kind tokErr, detail string) {
		p.mu.Lock()
		p.stats.Rejections++
		p.mu.Unlock()
		s.writeTokenError(w, r, p, kind, 0, detail)
	}
	if parseErr != nil {
		reject(errMissingParam, "body")
		return
	}
	form := r.PostForm

	// Client authentication: HTTP Basic (form-encoded id and secret, RFC
	// 6749 §2.3.1) or, where the provider accepts it, the body.
	clientID, secret, basic := r.BasicAuth()
	if basic {
		if v, err := url.QueryUnescape(clientID); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else if p.f.clientInBody() {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}

	grantType := form.Get("grant_type")
	if x, ok := p.f.(extraGrants); ok && grantType != "refresh_token" && x.serveGrant(s, p, w, r, tenant, grantType, form) {
		return
	}
	switch {
	case grantType == "":
		reject(errMissingParam, "grant_type")
		return
	case grantType == "authorization_code":
		s.serveCodeGrant(w, r, p, form, clientID, secret, basic, answerDelay, reject)
		return
	case grantType != "refresh_token":
		reject(errUnsupportedGrant, grantType)
		return
	case !p.f.clientInBody() && !basic:
		reject(errInvalidClient, "")
		return
	case clientID == "":
		reject(errMissingParam, "client_id")
		return
	}
	rt := form.Get("refresh_token")
	if rt == "" {
		reject(errMissingParam, "refresh_token")
		return
	}
	var requested []string
	if p.f.scopeParam() {
		requested = strings.Fields(form.Get("scope"))
	}

	// Mint the candidates before locking: crypto/rand is the slow part.
	newAccess := p.f.newAccessToken()
	newRefresh := p.f.newRefreshToken()

	now := s.now()
	p.mu.Lock()
	red, kind, detail := p.redeem(now, clientID, secret, rt, tenant, requested, newAccess, newRefresh)
	if !s.answerRedemption(w, r, p, red, kind, detail, answerDelay) {
		return
	}
	if red.refresh != "" {
		p.mu.Lock()
		if g := p.refresh[red.refresh]; g != nil {
			g.answeredAt = s.now()
		}
		p.mu.Unlock()
	}
}

// extraGrants is implemented by the flavors whose token endpoint takes
// grant types besides refresh_token (Google's JWT bearer, Microsoft's
// client credentials). serveGrant answers a request of grantType (the form
// parsed, injected failures applied) and reports whether it did.
type extraGrants interface {
	serveGrant(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, tenant, grantType string, form url.Values) bool
}

// serveCodeGrant answers an authorization_code grant (authorize.go).
func (s *Sandbox) serveCodeGrant(w http.ResponseWriter, r *http.Request, p *prov, form url.Values, clientID, secret string, basic bool,
	answerDelay time.Duration, reject func(tokErr, string)) {
	switch {
	case !p.f.clientInBody() && !basic:
		reject(errInvalidClient, "")
		return
	case clientID == "":
		reject(errMissingParam, "client_id")
		return
	case form.Get("code") == "":
		reject(errMissingParam, "code")
		return
	case form.Get("redirect_uri") == "":
		reject(errMissingParam, "redirect_uri")
		return
	}
	newAccess, newRefresh := p.f.newAccessToken(), p.f.newRefreshToken()
	now := s.now()
	p.mu.Lock()
	red, kind, detail := p.redeemCode(now, clientID, secret, form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier"), newAccess, newRefresh)
	s.answerRedemption(w, r, p, red, kind, detail, answerDelay)
}

// answerRedemption counts a redemption's outcome (called with p.mu held;
// it unlocks), waits answerDelay and writes the answer or the error. It
// reports whether the token answer was written: a client gone during the
// wait keeps its redemption (and rotation) and loses the answer.
func (s *Sandbox) answerRedemption(w http.ResponseWriter, r *http.Request, p *prov, red redemption, kind tokErr, detail string, answerDelay time.Duration) bool {
	if kind >= 0 {
		p.stats.Rejections++
		p.mu.Unlock()
		s.writeTokenError(w, r, p, kind, 0, detail)
		return false
	}
	p.stats.Redemptions++
	p.mu.Unlock()
	if !s.hold(r.Context(), answerDelay) {
		p.mu.Lock()
		p.stats.LostAnswers++
		p.mu.Unlock()
		return false
	}
	s.writeTokenResponse(w, r, p, red)
	return true
}

// redeem performs a refresh_token grant. Callers hold p.mu. kind is -1 on
// success.
func (p *prov) redeem(now time.Time, clientID, secret, rt, tenant string, requested []string, newAccess, newRefresh string) (red redemption, kind tokErr, detail string) {
	want, ok := p.clients[clientID]
	if !ok {
		return red, errUnknownClient, clientID
	}
	if want != "" && secret != want {
		return red, errInvalidClient, ""
	}
	g := p.refresh[rt]
	if g == nil || !g.live(now) || g.clientID != clientID {
		return red, errInvalidGrant, ""
	}
	if kind, detail := p.f.checkTenant(p, tenant, g.user); kind >= 0 {
		return red, kind, detail
	}
	scopes := g.scopes
	if len(requested) > 0 {
		var bad []string
		scopes, bad = p.f.narrow(g.scopes, requested)
		if len(bad) > 0 {
			return red, errInvalidScope, strings.Join(bad, " ")
		}
	}

	red = redemption{user: *g.user, clientID: clientID, scopes: scopes, access: newAccess, ttl: p.ttl, now: now}
	switch p.rotation.Mode {
	case RotateNone:
		if p.f.echoesRefreshToken() {
			red.refresh = rt
		}
	case RotateGrace, RotateStrict:
		if p.rotation.Mode == RotateStrict {
			delete(p.refresh, rt)
			p.retired[rt] = g.family
		} else if g.deadline.IsZero() {
			g.deadline = now.Add(p.rotation.Grace)
		}
		p.seq++
		p.refresh[newRefresh] = &refreshGrant{user: g.user, clientID: clientID, scopes: g.scopes, family: g.family, seq: p.seq}
		red.refresh = newRefresh
	}
	p.access[newAccess] = &accessGrant{user: g.user, clientID: clientID, scopes: scopes, family: g.family, expires: now.Add(p.ttl)}
	p.sweep(now)
	return red, -1, ""
}

func (s *Sandbox) writeTokenResponse(w http.ResponseWriter, r *http.Request, p *prov, red redemption) {
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, p.f.tokenBody(s, r, red))
}

// tokenError is a token endpoint error, worded the common OAuth way until
// the provider's flavor words it its own.
type tokenError struct {
	kind       tokErr
	status     int
	code, desc string
	detail     string // what the error is about: a parameter, a client id, a tenant, scopes
}

// writeTokenError answers a token endpoint error in the provider's words.
// status is used by errInjected only.
func (s *Sandbox) writeTokenError(w http.ResponseWriter, r *http.Request, p *prov, kind tokErr, status int, detail string) {
	if kind == errInjected {
		switch {
		case status == http.StatusBadRequest:
			kind = errInvalidGrant
		case status == http.StatusUnauthorized:
			kind = errInvalidClient
		}
	}
	e := tokenError{kind: kind, status: status, detail: detail}
	switch kind {
	case errMissingParam:
		e.status, e.code, e.desc = http.StatusBadRequest, "invalid_request", "Missing required parameter: "+detail
	case errUnsupportedGrant:
		e.status, e.code, e.desc = http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+detail
	case errInvalidClient, errUnknownClient:
		e.status, e.code, e.desc = http.StatusUnauthorized, "invalid_client", "Unauthorized"
	case errInvalidGrant:
		e.status, e.code, e.desc = http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked."
	case errInvalidScope:
		e.status, e.code, e.desc = http.StatusBadRequest, "invalid_scope", "Some requested scopes were invalid. {invalid=["+detail+"]}"
	case errUnknownTenant:
		e.status, e.code = http.StatusBadRequest, "invalid_request"
	case errWrongTenant:
		e.status, e.code = http.StatusBadRequest, "invalid_grant"
	case errInjected:
		switch {
		case status == http.StatusTooManyRequests:
			e.code, e.desc = "rate_limit_exceeded", "Rate Limit Exceeded"
		case status >= 500:
			e.code, e.desc = "server_error", "Backend Error"
		default:
			e.code, e.desc = "invalid_request", http.StatusText(status)
		}
	}
	p.f.writeTokenError(s, w, r, e)
}

// writeOAuthError writes e as RFC 6749 says: {"error", "error_description"}.
func writeOAuthError(w http.ResponseWriter, e tokenError) {
	writeJSON(w, e.status, errorBody{e.code, e.desc})
}
