package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The authorization code grant (hosted OAuth): each flavor routes its
// authorization endpoint (Google /o/oauth2/v2/auth, Microsoft
// /{tenant}/oauth2/v2.0/authorize, Yahoo /oauth2/request_auth, Zoom
// /oauth/authorize) to serveAuthorize, which shows a consent page listing
// the provider's users. Choosing one (a POST of the page's form) sends the
// browser to redirect_uri with a code; "Deny" sends error=access_denied.
// The token endpoint redeems a code once, within CodeTTL, for the client
// and redirect_uri it was issued to, checking the PKCE verifier (S256 or
// plain) when a challenge was sent, and issues a refresh token (a new
// family) with the access token.

// CodeTTL is how long an authorization code can be redeemed.
const CodeTTL = 5 * time.Minute

type authCode struct {
	user        *User
	clientID    string
	redirectURI string
	scopes      []string
	challenge   string
	method      string
	expires     time.Time
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Provider}} sandbox: sign in</title>
<style>body{font-family:sans-serif;max-width:36em;margin:3em auto}button{display:block;margin:.5em 0;padding:.5em 1em}</style>
</head><body>
<h1>{{.Provider}} sandbox</h1>
<p>The application <code>{{.ClientID}}</code> asks for: <code>{{.Scope}}</code></p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}{{range $i, $u := .Users}}<button type="submit" name="email" value="{{$u.Email}}"{{if eq $i 0}} id="allow"{{end}}>Allow as {{$u.Name}} &lt;{{$u.Email}}&gt;</button>
{{else}}<p>No user is registered at this provider: add one with POST /admin/users.</p>
{{end}}<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form></body></html>
`))

// authorizeParams are the query parameters the consent form carries on.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "login_hint", "prompt", "access_type"}

func (s *Sandbox) serveAuthorize(w http.ResponseWriter, r *http.Request, p *prov) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	p.mu.Lock()
	_, known := p.clients[clientID]
	p.mu.Unlock()
	// Errors about the client or the redirect URI are shown, never
	// redirected (RFC 6749 §4.1.2.1).
	switch {
	case !known:
		http.Error(w, "invalid_client: unknown client_id "+clientID, http.StatusBadRequest)
		return
	case redirectURI == "":
		http.Error(w, "invalid_request: redirect_uri is required", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(redirectURI)
	if err != nil || !back.IsAbs() {
		http.Error(w, "invalid_request: redirect_uri is not an absolute URL", http.StatusBadRequest)
		return
	}
	redirect := func(v url.Values) {
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u := *back
		bq := u.Query()
		for k, vs := range v {
			bq[k] = vs
		}
		u.RawQuery = bq.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		redirect(url.Values{"error": {"unsupported_response_type"}, "error_description": {"response_type must be code"}})
		return
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method != "" && method != "S256" && method != "plain" {
		redirect(url.Values{"error": {"invalid_request"}, "error_description": {"unsupported code_challenge_method"}})
		return
	}
	if r.Method == http.MethodGet {
		s.consent(w, r, p, q)
		return
	}
	if r.PostForm.Get("action") == "deny" {
		redirect(url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}})
		return
	}
	p.mu.Lock()
	u := p.users[strings.ToLower(r.PostForm.Get("email"))]
	p.mu.Unlock()
	if u == nil {
		http.Error(w, "no such user: "+r.PostForm.Get("email"), http.StatusBadRequest)
		return
	}
	code := "sbx-" + p.name + "-code-" + rand.Text()
	if method == "" && q.Get("code_challenge") != "" {
		method = "plain"
	}
	now := s.now()
	p.mu.Lock()
	p.codes[code] = &authCode{user: u, clientID: clientID, redirectURI: redirectURI, scopes: strings.Fields(q.Get("scope")),
		challenge: q.Get("code_challenge"), method: method, expires: now.Add(CodeTTL)}
	p.sweep(now) // codes never redeemed expire too
	p.mu.Unlock()
	redirect(url.Values{"code": {code}})
}

func (s *Sandbox) consent(w http.ResponseWriter, r *http.Request, p *prov, q url.Values) {
	p.mu.Lock()
	users := make([]User, 0, len(p.users))
	for _, u := range p.users {
		users = append(users, *u)
	}
	p.mu.Unlock()
	hint := strings.ToLower(q.Get("login_hint"))
	slices.SortFunc(users, func(a, b User) int {
		switch {
		case strings.ToLower(a.Email) == hint:
			return -1
		case strings.ToLower(b.Email) == hint:
			return 1
		}
		return strings.Compare(a.Email, b.Email)
	})
	params := map[string]string{}
	for _, k := range authorizeParams {
		if v := q.Get(k); v != "" {
			params[k] = v
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{
		"Provider": p.name, "ClientID": q.Get("client_id"), "Scope": q.Get("scope"),
		"Action": r.URL.Path, "Params": params, "Users": users,
	})
}

// redeemCode performs an authorization_code grant. Callers hold p.mu.
func (p *prov) redeemCode(now time.Time, clientID, secret, code, redirectURI, verifier, newAccess, newRefresh string) (red redemption, kind tokErr, detail string) {
	want, ok := p.clients[clientID]
	if !ok {
		return red, errUnknownClient, clientID
	}
	if want != "" && secret != want {
		return red, errInvalidClient, ""
	}
	c := p.codes[code]
	delete(p.codes, code) // single use, whatever happens next
	if c == nil || now.After(c.expires) || c.clientID != clientID || c.redirectURI != redirectURI {
		return red, errInvalidGrant, ""
	}
	if c.challenge != "" && !pkceMatches(c.method, c.challenge, verifier) {
		return red, errInvalidGrant, ""
	}
	p.seq++
	p.refresh[newRefresh] = &refreshGrant{user: c.user, clientID: clientID, scopes: c.scopes, family: p.seq, seq: p.seq}
	p.access[newAccess] = &accessGrant{user: c.user, clientID: clientID, scopes: c.scopes, family: p.seq, expires: now.Add(p.ttl)}
	p.sweep(now)
	return redemption{user: *c.user, clientID: clientID, scopes: c.scopes, access: newAccess, refresh: newRefresh, ttl: p.ttl, now: now}, -1, ""
}

func pkceMatches(method, challenge, verifier string) bool {
	if verifier == "" {
		return false
	}
	got := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
