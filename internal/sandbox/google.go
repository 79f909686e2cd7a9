package sandbox

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/provider/google"
	"github.com/grantd/grantd/internal/providers"
)

// googleFlavor is the fake Google: /google/token, /google/userinfo (and
// /google/oauth2/v3/userinfo), /google/certs, the Gmail profile at
// /google/gmail/v1/users/me/profile and the primary calendar at
// /google/calendar/v3/calendars/primary; the token endpoint also takes
// service accounts' JWT-bearer grant (serviceaccount.go). Google keeps refresh tokens (no
// rotation) and sends none back on refresh, honours the scope parameter,
// and issues an id_token when openid was granted.
type googleFlavor struct{ oauthDefaults }

func (googleFlavor) serve(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, rest string) bool {
	switch rest {
	case "/token":
		s.serveToken(w, r, p, "")
	case "/o/oauth2/v2/auth":
		s.serveAuthorize(w, r, p)
	case "/userinfo", "/oauth2/v3/userinfo":
		s.serveIdentity(w, r, p, nil, func(u User) any { return userinfo(u) })
	case "/gmail/v1/users/me/profile":
		s.serveIdentity(w, r, p, func(scopes []string) bool { return slices.ContainsFunc(scopes, gmailScope) },
			func(u User) any { return gmailProfile{EmailAddress: u.Email, HistoryID: "1"} })
	case "/calendar/v3/calendars/primary":
		s.serveIdentity(w, r, p, func(scopes []string) bool { return slices.ContainsFunc(scopes, calendarScope) },
			func(u User) any { return calendarEntry{ID: u.Email, Summary: u.Email, TimeZone: "UTC"} })
	case "/certs":
		s.serveJWKS(w, r)
	default:
		return false
	}
	return true
}

func (googleFlavor) configure(c *providers.Config, base, iss string) {
	c.Google = google.Config{
		AuthURL:     base + "/google/o/oauth2/v2/auth",
		TokenURL:    base + "/google/token",
		UserinfoURL: base + "/google/userinfo",
		JWKSURL:     base + "/google/certs",
		Issuer:      iss + "/google",
		APIURL:      base + "/google",
	}
}

// newUserID is a Google subject: 21 decimal digits.
func (googleFlavor) newUserID() string {
	var b [21]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	b[0] = '1'
	return string(b[:])
}

func (googleFlavor) newRefreshToken() string  { return "1//sbx-google-" + rand.Text() }
func (googleFlavor) newAccessToken() string   { return "ya29.sbx-google-" + rand.Text() }
func (googleFlavor) scopeParam() bool         { return true }
func (googleFlavor) echoesRefreshToken() bool { return false }

type googleToken struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token,omitempty"`
}

type googleIDClaims struct {
	Iss           string `json:"iss"`
	Azp           string `json:"azp"`
	Aud           string `json:"aud"`
	Sub           string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	AtHash        string `json:"at_hash"`
	Name          string `json:"name"`
	Iat           int64  `json:"iat"`
	Exp           int64  `json:"exp"`
}

func (googleFlavor) tokenBody(s *Sandbox, r *http.Request, red redemption) any {
	body := googleToken{AccessToken: red.access, ExpiresIn: red.expiresIn(), RefreshToken: red.refresh, Scope: red.scope(), TokenType: "Bearer"}
	if red.openid() {
		iat := red.now.Unix()
		body.IDToken = s.keys.sign(googleIDClaims{
			Iss: s.issuerBase(r) + "/google", Azp: red.clientID, Aud: red.clientID, Sub: red.user.ID,
			Email: red.user.Email, EmailVerified: true, AtHash: atHash(red.access), Name: red.user.Name,
			Iat: iat, Exp: iat + int64(idTokenTTL/time.Second),
		})
	}
	return body
}

func (googleFlavor) writeTokenError(_ *Sandbox, w http.ResponseWriter, _ *http.Request, e tokenError) {
	switch {
	case e.kind == errUnknownClient:
		e.desc = "The OAuth client was not found."
	case e.kind == errInjected && e.status >= 500:
		e.code = "internal_failure"
	}
	writeOAuthError(w, e)
}

type gmailProfile struct {
	EmailAddress  string `json:"emailAddress"`
	MessagesTotal int    `json:"messagesTotal"`
	ThreadsTotal  int    `json:"threadsTotal"`
	HistoryID     string `json:"historyId"`
}

// serveGrant serves the JWT-bearer grant of service accounts
// (serviceaccount.go).
func (googleFlavor) serveGrant(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, _, grantType string, form url.Values) bool {
	if grantType != JWTBearerGrant {
		return false
	}
	s.serveJWTBearer(w, r, p, form)
	return true
}

// calendarEntry is the part of a Calendar API calendar resource grantd
// reads (calendars/primary: id is the user's address).
type calendarEntry struct {
	ID       string `json:"id"`
	Summary  string `json:"summary"`
	TimeZone string `json:"timeZone"`
}

// calendarScope reports whether sc lets a token read the primary
// calendar.
func calendarScope(sc string) bool {
	return strings.HasPrefix(sc, "https://www.googleapis.com/auth/calendar")
}

// gmailScope reports whether sc lets a token read the Gmail profile.
func gmailScope(sc string) bool {
	return sc == "https://mail.google.com/" || strings.HasPrefix(sc, "https://www.googleapis.com/auth/gmail.")
}

type googleAPIError struct {
	Error googleAPIErrorBody `json:"error"`
}

type googleAPIErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// writeIdentityError: the userinfo endpoint refuses a token the OAuth way;
// the Google APIs (and every injected failure) answer a Google API error.
func (googleFlavor) writeIdentityError(w http.ResponseWriter, e identityError) {
	if e.kind == idScope || e.kind == idInjected {
		st := "PERMISSION_DENIED"
		switch {
		case e.status == http.StatusTooManyRequests:
			st = "RESOURCE_EXHAUSTED"
		case e.status >= 500:
			st = "UNAVAILABLE"
		}
		writeJSON(w, e.status, googleAPIError{googleAPIErrorBody{e.status, e.msg, st}})
		return
	}
	writeJSON(w, e.status, errorBody{"invalid_request", "Invalid Credentials"})
}
