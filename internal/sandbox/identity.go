package sandbox

import (
	"net/http"
	"strings"
)

type idErr int

const (
	idMissing idErr = iota
	idInvalid
	idExpired
	idScope
	idInjected
)

// oidcUserinfo is an OpenID Connect userinfo answer (Google's and
// Yahoo's).
type oidcUserinfo struct {
	Sub           string `json:"sub"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// userinfo is u's OpenID Connect userinfo.
func userinfo(u User) oidcUserinfo {
	given, family := splitName(u.Name)
	return oidcUserinfo{Sub: u.ID, Name: u.Name, GivenName: given, FamilyName: family, Email: u.Email, EmailVerified: true}
}

// splitName splits a name at its first space: given name, family name.
func splitName(name string) (given, family string) {
	given, family, _ = strings.Cut(name, " ")
	return given, family
}

// serveIdentity answers a "who am I" request with answer(the token's
// user), after checking the access token (and, when need is not nil, that
// its scopes satisfy need).
func (s *Sandbox) serveIdentity(w http.ResponseWriter, r *http.Request, p *prov, need func(scopes []string) bool, answer func(u User) any) {
	if !s.identityRequest(w, r, p) {
		return
	}
	tok := bearer(r)
	now := s.now()
	var u User
	kind := idErr(-1)
	p.mu.Lock()
	a := p.access[tok]
	switch {
	case tok == "":
		kind = idMissing
	case a == nil:
		kind = idInvalid
	case !now.Before(a.expires):
		kind = idExpired
	case need != nil && !need(a.scopes):
		kind = idScope
	default:
		u = *a.user
	}
	if kind >= 0 {
		p.stats.IdentityRejections++
	} else {
		p.stats.IdentityCalls++
	}
	p.mu.Unlock()
	if kind >= 0 {
		s.writeIdentityError(w, p, kind, 0)
		return
	}

	writeJSON(w, http.StatusOK, answer(u))
}

// bearer returns the access token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// identityError is an identity endpoint error: its status and the common
// message, which the provider's flavor puts in its own body.
type identityError struct {
	kind   idErr
	status int
	msg    string
}

// writeIdentityError answers an identity endpoint error in the provider's
// words; status is used by idInjected only.
func (s *Sandbox) writeIdentityError(w http.ResponseWriter, p *prov, kind idErr, status int) {
	if kind == idInjected {
		switch status {
		case http.StatusUnauthorized:
			kind = idInvalid
		case http.StatusForbidden:
			kind = idScope
		}
	}
	var msg string
	switch kind {
	case idMissing:
		status, msg = http.StatusUnauthorized, "Access token is empty."
	case idInvalid:
		status, msg = http.StatusUnauthorized, "Invalid access token."
	case idExpired:
		status, msg = http.StatusUnauthorized, "Access token is expired."
	case idScope:
		status, msg = http.StatusForbidden, "Request had insufficient authentication scopes."
	default:
		msg = http.StatusText(status)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sandbox", error="invalid_token"`)
	}
	p.f.writeIdentityError(w, identityError{kind: kind, status: status, msg: msg})
}

// identityRequest checks an identity request's method and applies what a
// test injected for the provider's identity endpoint (a delay, an error
// status); it reports whether the handler should answer the request.
func (s *Sandbox) identityRequest(w http.ResponseWriter, r *http.Request, p *prov) bool {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return false
	}
	status, answerDelay, ok := s.injected(r.Context(), w.Header(), p, "identity")
	if !ok || !s.hold(r.Context(), answerDelay) {
		return false
	}
	if status != 0 {
		s.writeIdentityError(w, p, idInjected, status)
		return false
	}
	return true
}
