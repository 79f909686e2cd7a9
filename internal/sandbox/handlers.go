package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const maxFormBytes = 64 << 10

// ServeHTTP routes a request to a provider or the admin surface.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/google/token":
		s.serveToken(w, r, s.provs[Google], "")
	case path == "/google/userinfo", path == "/google/oauth2/v3/userinfo":
		s.serveIdentity(w, r, s.provs[Google], idUserinfo)
	case path == "/google/gmail/v1/users/me/profile":
		s.serveIdentity(w, r, s.provs[Google], idGmailProfile)
	case path == "/google/certs", path == "/yahoo/openid/v1/certs":
		s.serveJWKS(w, r)
	case path == "/microsoft/graph/v1.0/me":
		s.serveIdentity(w, r, s.provs[Microsoft], idUserinfo)
	case strings.HasPrefix(path, "/microsoft/"):
		rest := path[len("/microsoft/"):]
		if tenant, ok := strings.CutSuffix(rest, "/oauth2/v2.0/token"); ok && tenant != "" && !strings.Contains(tenant, "/") {
			s.serveToken(w, r, s.provs[Microsoft], tenant)
			return
		}
		if tenant, ok := strings.CutSuffix(rest, "/discovery/v2.0/keys"); ok && tenant != "" && !strings.Contains(tenant, "/") {
			s.serveJWKS(w, r)
			return
		}
		notFound(w, r)
	case path == "/yahoo/oauth2/get_token":
		s.serveToken(w, r, s.provs[Yahoo], "")
	case path == "/yahoo/openid/v1/userinfo":
		s.serveIdentity(w, r, s.provs[Yahoo], idUserinfo)
	case path == "/zoom/oauth/token":
		s.serveToken(w, r, s.provs[Zoom], "")
	case path == "/zoom/v2/users/me":
		s.serveIdentity(w, r, s.provs[Zoom], idUserinfo)
	case path == "/admin" || strings.HasPrefix(path, "/admin/"):
		s.admin.ServeHTTP(w, r)
	default:
		notFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{"not_found", "no route for " + r.Method + " " + r.URL.Path})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", r.Method + " is not allowed on " + r.URL.Path})
}

func (s *Sandbox) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.keys.jwks)
}

// ---- token endpoint -------------------------------------------------------

// tokErr is a kind of token endpoint error; each provider words it its own
// way (see writeTokenError).
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
	status, answerDelay, ok := s.injected(r.Context(), p, "token")
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
	// 6749 §2.3.1) or, except at Zoom, the body.
	clientID, secret, basic := r.BasicAuth()
	if basic {
		if v, err := url.QueryUnescape(clientID); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else if p.name != Zoom {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}

	grantType := form.Get("grant_type")
	switch {
	case grantType == "":
		reject(errMissingParam, "grant_type")
		return
	case grantType != "refresh_token":
		reject(errUnsupportedGrant, grantType)
		return
	case p.name == Zoom && !basic:
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
	if p.name == Google || p.name == Microsoft {
		requested = strings.Fields(form.Get("scope"))
	}

	// Mint the candidates before locking: crypto/rand is the slow part.
	newAccess := newAccessToken(p.name)
	newRefresh := newRefreshToken(p.name)

	now := s.now()
	p.mu.Lock()
	red, kind, detail := p.redeem(now, clientID, secret, rt, tenant, requested, newAccess, newRefresh)
	if kind >= 0 {
		p.stats.Rejections++
		p.mu.Unlock()
		s.writeTokenError(w, r, p, kind, 0, detail)
		return
	}
	p.stats.Redemptions++
	p.mu.Unlock()
	if !s.hold(r.Context(), answerDelay) {
		// The client is gone: the redemption (and rotation) stands, its
		// answer is lost.
		p.mu.Lock()
		p.stats.LostAnswers++
		p.mu.Unlock()
		return
	}
	s.writeTokenResponse(w, r, p, red)
	if red.refresh != "" {
		p.mu.Lock()
		if g := p.refresh[red.refresh]; g != nil {
			g.answeredAt = s.now()
		}
		p.mu.Unlock()
	}
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
	if p.name == Microsoft {
		switch t := strings.ToLower(tenant); {
		case t == "common" || t == "organizations" || t == strings.ToLower(g.user.Tenant):
		case !p.knownTenant(t):
			return red, errUnknownTenant, tenant
		default:
			return red, errWrongTenant, tenant
		}
	}
	scopes := g.scopes
	if len(requested) > 0 {
		var bad []string
		scopes, bad = narrow(p.name, g.scopes, requested)
		if len(bad) > 0 {
			return red, errInvalidScope, strings.Join(bad, " ")
		}
	}

	red = redemption{user: *g.user, clientID: clientID, scopes: scopes, access: newAccess, ttl: p.ttl, now: now}
	switch p.rotation.Mode {
	case RotateNone:
		if p.name != Google {
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

func (p *prov) knownTenant(t string) bool {
	if t == strings.ToLower(DefaultTenant) {
		return true
	}
	for _, u := range p.users {
		if strings.ToLower(u.Tenant) == t {
			return true
		}
	}
	return false
}

// narrow checks requested scopes against the granted ones and returns the
// scopes of the new access token. At Microsoft, offline_access is implied
// and "…/.default" means everything granted.
func narrow(name string, granted, requested []string) (scopes, bad []string) {
	for _, sc := range requested {
		switch {
		case name == Microsoft && (sc == ".default" || strings.HasSuffix(sc, "/.default")):
			return granted, nil
		case name == Microsoft && sc == "offline_access":
			if slices.Contains(granted, sc) {
				scopes = append(scopes, sc)
			}
		case slices.Contains(granted, sc):
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		default:
			bad = append(bad, sc)
		}
	}
	return scopes, bad
}

type googleToken struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token,omitempty"`
}

type microsoftToken struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token,omitempty"`
}

type yahooToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
	GUID         string `json:"xoauth_yahoo_guid"`
	IDToken      string `json:"id_token,omitempty"`
}

type zoomToken struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
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

type microsoftIDClaims struct {
	Ver               string `json:"ver"`
	Iss               string `json:"iss"`
	Sub               string `json:"sub"`
	Aud               string `json:"aud"`
	Exp               int64  `json:"exp"`
	Iat               int64  `json:"iat"`
	Nbf               int64  `json:"nbf"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email,omitempty"`
	Oid               string `json:"oid"`
	Tid               string `json:"tid"`
}

type yahooIDClaims struct {
	Iss           string `json:"iss"`
	Sub           string `json:"sub"`
	Aud           string `json:"aud"`
	Exp           int64  `json:"exp"`
	Iat           int64  `json:"iat"`
	AuthTime      int64  `json:"auth_time"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
}

func expiresIn(ttl time.Duration) int64 {
	return int64((ttl + time.Second - 1) / time.Second)
}

func (s *Sandbox) writeTokenResponse(w http.ResponseWriter, r *http.Request, p *prov, red redemption) {
	exp := expiresIn(red.ttl)
	scope := strings.Join(red.scopes, " ")
	openid := slices.Contains(red.scopes, "openid")
	iat := red.now.Unix()
	u := red.user
	w.Header().Set("Pragma", "no-cache")
	switch p.name {
	case Google:
		body := googleToken{AccessToken: red.access, ExpiresIn: exp, RefreshToken: red.refresh, Scope: scope, TokenType: "Bearer"}
		if openid {
			body.IDToken = s.keys.sign(googleIDClaims{
				Iss: s.issuerBase(r) + "/google", Azp: red.clientID, Aud: red.clientID, Sub: u.ID,
				Email: u.Email, EmailVerified: true, AtHash: atHash(red.access), Name: u.Name,
				Iat: iat, Exp: iat + int64(idTokenTTL/time.Second),
			})
		}
		writeJSON(w, http.StatusOK, body)
	case Microsoft:
		body := microsoftToken{TokenType: "Bearer", Scope: scope, ExpiresIn: exp, ExtExpiresIn: exp, AccessToken: red.access, RefreshToken: red.refresh}
		if openid {
			c := microsoftIDClaims{
				Ver: "2.0", Iss: s.issuerBase(r) + "/microsoft/" + u.Tenant + "/v2.0", Sub: u.ID, Aud: red.clientID,
				Exp: iat + int64(idTokenTTL/time.Second), Iat: iat, Nbf: iat, Name: u.Name,
				PreferredUsername: u.Email, Oid: u.ID, Tid: u.Tenant,
			}
			if slices.Contains(red.scopes, "email") {
				c.Email = u.Email
			}
			body.IDToken = s.keys.sign(c)
		}
		writeJSON(w, http.StatusOK, body)
	case Yahoo:
		body := yahooToken{AccessToken: red.access, RefreshToken: red.refresh, ExpiresIn: exp, TokenType: "bearer", GUID: u.ID}
		if openid {
			body.IDToken = s.keys.sign(yahooIDClaims{
				Iss: s.issuerBase(r) + "/yahoo", Sub: u.ID, Aud: red.clientID,
				Exp: iat + int64(idTokenTTL/time.Second), Iat: iat, AuthTime: iat,
				Email: u.Email, EmailVerified: true, Name: u.Name,
			})
		}
		writeJSON(w, http.StatusOK, body)
	default:
		writeJSON(w, http.StatusOK, zoomToken{AccessToken: red.access, TokenType: "bearer", RefreshToken: red.refresh, ExpiresIn: exp, Scope: scope})
	}
}

type microsoftError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
}

type zoomError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
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
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
	}
	var code, desc string
	msCode := 0
	switch kind {
	case errMissingParam:
		status, code = http.StatusBadRequest, "invalid_request"
		switch p.name {
		case Microsoft:
			msCode, desc = 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", detail)
		default:
			desc = "Missing required parameter: " + detail
		}
	case errUnsupportedGrant:
		status, code = http.StatusBadRequest, "unsupported_grant_type"
		msCode, desc = 70003, "The app requested an unsupported grant type '"+detail+"'."
		if p.name != Microsoft {
			desc = "Invalid grant_type: " + detail
		}
	case errInvalidClient, errUnknownClient:
		status, code = http.StatusUnauthorized, "invalid_client"
		switch {
		case p.name == Microsoft && kind == errUnknownClient:
			msCode, desc = 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", detail)
		case p.name == Microsoft:
			msCode, desc = 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
		case p.name == Google && kind == errUnknownClient:
			desc = "The OAuth client was not found."
		case p.name == Zoom:
			desc = "Invalid client_id or client_secret"
		default:
			desc = "Unauthorized"
		}
	case errInvalidGrant:
		status, code = http.StatusBadRequest, "invalid_grant"
		switch p.name {
		case Microsoft:
			msCode, desc = 70000, "The provided value for the 'refresh_token' is not valid: the grant is expired, revoked, malformed, or was issued to another client."
		case Yahoo:
			desc = "invalid refresh token"
		case Zoom:
			code, desc = "invalid_request", "Invalid Token!"
		default:
			desc = "Token has been expired or revoked."
		}
	case errInvalidScope:
		status, code = http.StatusBadRequest, "invalid_scope"
		if p.name == Microsoft {
			code, msCode = "invalid_grant", 65001
			desc = "The user or administrator has not consented to use the application for the requested scopes: " + detail
		} else {
			desc = "Some requested scopes were invalid. {invalid=[" + detail + "]}"
		}
	case errUnknownTenant:
		status, code = http.StatusBadRequest, "invalid_request"
		msCode, desc = 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", detail)
	case errWrongTenant:
		status, code = http.StatusBadRequest, "invalid_grant"
		msCode, desc = 50020, fmt.Sprintf("User account from identity provider does not exist in tenant '%s'.", detail)
	case errInjected:
		switch {
		case status == http.StatusTooManyRequests:
			code, desc = "rate_limit_exceeded", "Rate Limit Exceeded"
			msCode = 50196
		case status >= 500:
			code, desc = "server_error", "Backend Error"
			if p.name == Google {
				code = "internal_failure"
			}
			if p.name == Microsoft {
				code, msCode, desc = "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
			}
		default:
			code, desc = "invalid_request", http.StatusText(status)
			msCode = 90000
		}
	}

	switch p.name {
	case Microsoft:
		now := time.Now().UTC()
		ts := now.Format("2006-01-02 15:04:05Z")
		trace, corr := newGUID(), newGUID()
		writeJSON(w, status, microsoftError{
			Error:         code,
			Description:   fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", msCode, desc, trace, corr, now.Format("2006-01-02 15:04:05.0000000Z")),
			ErrorCodes:    []int{msCode},
			Timestamp:     ts,
			TraceID:       trace,
			CorrelationID: corr,
			ErrorURI:      s.issuerBase(r) + "/microsoft/error?code=" + strconv.Itoa(msCode),
		})
	case Zoom:
		writeJSON(w, status, zoomError{Reason: desc, Error: code})
	default:
		writeJSON(w, status, errorBody{code, desc})
	}
}

// ---- identity endpoints ---------------------------------------------------

type identityRoute int

const (
	idUserinfo identityRoute = iota
	idGmailProfile
)

type idErr int

const (
	idMissing idErr = iota
	idInvalid
	idExpired
	idScope
	idInjected
)

type googleUserinfo struct {
	Sub           string `json:"sub"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

type gmailProfile struct {
	EmailAddress  string `json:"emailAddress"`
	MessagesTotal int    `json:"messagesTotal"`
	ThreadsTotal  int    `json:"threadsTotal"`
	HistoryID     string `json:"historyId"`
}

type graphMe struct {
	Context           string   `json:"@odata.context"`
	BusinessPhones    []string `json:"businessPhones"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	JobTitle          *string  `json:"jobTitle"`
	Mail              string   `json:"mail"`
	MobilePhone       *string  `json:"mobilePhone"`
	OfficeLocation    *string  `json:"officeLocation"`
	PreferredLanguage *string  `json:"preferredLanguage"`
	UserPrincipalName string   `json:"userPrincipalName"`
	ID                string   `json:"id"`
}

type zoomMe struct {
	ID          string `json:"id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Type        int    `json:"type"`
	RoleName    string `json:"role_name"`
	Verified    int    `json:"verified"`
	Status      string `json:"status"`
	AccountID   string `json:"account_id"`
}

func (s *Sandbox) serveIdentity(w http.ResponseWriter, r *http.Request, p *prov, route identityRoute) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	status, answerDelay, ok := s.injected(r.Context(), p, "identity")
	if !ok || !s.hold(r.Context(), answerDelay) {
		return
	}
	if status != 0 {
		s.writeIdentityError(w, p, idInjected, status)
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
	case route == idGmailProfile && !slices.ContainsFunc(a.scopes, gmailScope):
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

	given, family, _ := strings.Cut(u.Name, " ")
	switch p.name {
	case Google:
		if route == idGmailProfile {
			writeJSON(w, http.StatusOK, gmailProfile{EmailAddress: u.Email, HistoryID: "1"})
			return
		}
		writeJSON(w, http.StatusOK, googleUserinfo{Sub: u.ID, Name: u.Name, GivenName: given, FamilyName: family, Email: u.Email, EmailVerified: true})
	case Microsoft:
		writeJSON(w, http.StatusOK, graphMe{
			Context:        s.base() + "/microsoft/graph/v1.0/$metadata#users/$entity",
			BusinessPhones: []string{}, DisplayName: u.Name, GivenName: given, Surname: family,
			Mail: u.Email, UserPrincipalName: u.Email, ID: u.ID,
		})
	case Yahoo:
		writeJSON(w, http.StatusOK, googleUserinfo{Sub: u.ID, Name: u.Name, GivenName: given, FamilyName: family, Email: u.Email, EmailVerified: true})
	default:
		writeJSON(w, http.StatusOK, zoomMe{
			ID: u.ID, FirstName: given, LastName: family, DisplayName: u.Name, Email: u.Email,
			Type: 1, RoleName: "Owner", Verified: 1, Status: "active", AccountID: u.Tenant,
		})
	}
}

func gmailScope(sc string) bool {
	return sc == "https://mail.google.com/" || strings.HasPrefix(sc, "https://www.googleapis.com/auth/gmail.")
}

// bearer returns the access token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type graphError struct {
	Error graphErrorBody `json:"error"`
}

type graphErrorBody struct {
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	InnerError map[string]string `json:"innerError"`
}

type googleAPIError struct {
	Error googleAPIErrorBody `json:"error"`
}

type googleAPIErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

type zoomAPIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
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
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
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
	switch p.name {
	case Google:
		if kind == idScope || kind == idInjected {
			st := "PERMISSION_DENIED"
			switch {
			case status == http.StatusTooManyRequests:
				st = "RESOURCE_EXHAUSTED"
			case status >= 500:
				st = "UNAVAILABLE"
			}
			writeJSON(w, status, googleAPIError{googleAPIErrorBody{status, msg, st}})
			return
		}
		writeJSON(w, status, errorBody{"invalid_request", "Invalid Credentials"})
	case Microsoft:
		code := "InvalidAuthenticationToken"
		switch {
		case kind == idScope:
			code = "Authorization_RequestDenied"
		case kind == idInjected && status == http.StatusTooManyRequests:
			code = "TooManyRequests"
		case kind == idInjected:
			code = "serviceNotAvailable"
		}
		now := time.Now().UTC().Format("2006-01-02T15:04:05")
		writeJSON(w, status, graphError{graphErrorBody{Code: code, Message: msg, InnerError: map[string]string{
			"date": now, "request-id": newGUID(), "client-request-id": newGUID(),
		}}})
	case Yahoo:
		code := "invalid_token"
		switch {
		case kind == idScope:
			code = "insufficient_scope"
		case kind == idInjected:
			code = "server_error"
		}
		writeJSON(w, status, errorBody{code, msg})
	default:
		code := 124
		switch {
		case kind == idScope:
			code = 4711
		case kind == idInjected && status == http.StatusTooManyRequests:
			code = 429
		case kind == idInjected:
			code = status
		}
		writeJSON(w, status, zoomAPIError{code, msg})
	}
}
