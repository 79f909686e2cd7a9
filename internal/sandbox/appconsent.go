package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Microsoft app permissions: an administrator of a tenant consents to a
// client (an app registration), after which the client gets app-only
// tokens for the tenant with the client credentials grant (scope
// https://graph.microsoft.com/.default) and reads the tenant's users with
// Graph /users/{id | userPrincipalName}. Without consent (never given, or
// revoked: the service principal is gone) Entra answers
// unauthorized_client with AADSTS700016.

// appToken is an app-only access token of a tenant. Guarded by p.mu.
type appToken struct {
	tenant   string // lower-cased
	clientID string
	expires  time.Time
}

// GrantAdminConsent records that tenant's administrator consented to the
// Microsoft client clientID (app permissions).
func (s *Sandbox) GrantAdminConsent(tenant, clientID string) {
	p := s.mustProv(Microsoft)
	p.mu.Lock()
	defer p.mu.Unlock()
	t := strings.ToLower(tenant)
	if p.consents[t] == nil {
		p.consents[t] = map[string]bool{}
	}
	p.consents[t][clientID] = true
}

// RevokeAdminConsent withdraws it; the app tokens already issued die too.
func (s *Sandbox) RevokeAdminConsent(tenant, clientID string) {
	p := s.mustProv(Microsoft)
	p.mu.Lock()
	defer p.mu.Unlock()
	t := strings.ToLower(tenant)
	delete(p.consents[t], clientID)
	for tok, a := range p.appTokens {
		if a.tenant == t && a.clientID == clientID {
			delete(p.appTokens, tok)
		}
	}
}

// HasAdminConsent reports whether tenant consented to clientID.
func (s *Sandbox) HasAdminConsent(tenant, clientID string) bool {
	p := s.mustProv(Microsoft)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.consents[strings.ToLower(tenant)][clientID]
}

// serveGrant serves the client credentials grant.
func (microsoftFlavor) serveGrant(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, tenant, grantType string, form url.Values) bool {
	if grantType != "client_credentials" {
		return false
	}
	reject := func(kind tokErr, detail string) {
		p.mu.Lock()
		p.stats.Rejections++
		p.mu.Unlock()
		s.writeTokenError(w, r, p, kind, 0, detail)
	}
	clientID, secret, basic := r.BasicAuth()
	if basic {
		if v, err := url.QueryUnescape(clientID); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if clientID == "" {
		reject(errMissingParam, "client_id")
		return true
	}
	scope := form.Get("scope")
	if scope == "" {
		reject(errMissingParam, "scope")
		return true
	}
	t := strings.ToLower(tenant)
	now := s.now()
	access := microsoftFlavor{}.newAccessToken()
	p.mu.Lock()
	want, known := p.clients[clientID]
	var fail func()
	switch {
	case t == "common" || t == "organizations" || t == "consumers" || !knownTenant(p, t):
		fail = func() { reject(errUnknownTenant, tenant) }
	case !known:
		fail = func() { reject(errUnknownClient, clientID) }
	case want != "" && secret != want:
		fail = func() { reject(errInvalidClient, "") }
	case !strings.HasSuffix(scope, "/.default") || strings.Contains(scope, " "):
		fail = func() {
			p.mu.Lock()
			p.stats.Rejections++
			p.mu.Unlock()
			writeAADError(s, w, r, http.StatusBadRequest, "invalid_scope", 1002012,
				"The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		}
	case !p.consents[t][clientID]:
		fail = func() {
			p.mu.Lock()
			p.stats.Rejections++
			p.mu.Unlock()
			writeAADError(s, w, r, http.StatusBadRequest, "unauthorized_client", 700016,
				"Application with identifier '"+clientID+"' was not found in the directory '"+tenant+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
		}
	}
	if fail != nil {
		p.mu.Unlock()
		fail()
		return true
	}
	p.appTokens[access] = &appToken{tenant: t, clientID: clientID, expires: now.Add(p.ttl)}
	ttl := p.ttl
	p.stats.Redemptions++
	p.mu.Unlock()
	exp := int64((ttl + time.Second - 1) / time.Second)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": exp, "ext_expires_in": exp, "access_token": access})
	return true
}

// writeAADError writes an Entra error with code (AADSTS msCode).
func writeAADError(s *Sandbox, w http.ResponseWriter, r *http.Request, status int, code string, msCode int, desc string) {
	e := tokenError{kind: -1, status: status, code: code, desc: desc}
	microsoftFlavor{}.writeTokenErrorCode(s, w, r, e, msCode)
}

// serveGraphUser answers Graph /users/{id or userPrincipalName} for an
// app-only token of the user's tenant.
func (s *Sandbox) serveGraphUser(w http.ResponseWriter, r *http.Request, p *prov, key string) {
	if !s.identityRequest(w, r, p) {
		return
	}
	tok := bearer(r)
	now := s.now()
	p.mu.Lock()
	a := p.appTokens[tok]
	if a == nil || !now.Before(a.expires) {
		p.stats.IdentityRejections++
		p.mu.Unlock()
		s.writeIdentityError(w, p, idInvalid, 0)
		return
	}
	var u *User
	k := strings.ToLower(key)
	if cand := p.users[k]; cand != nil {
		u = cand
	} else {
		for _, cand := range p.users {
			if strings.ToLower(cand.ID) == k {
				u = cand
				break
			}
		}
	}
	if u != nil && strings.ToLower(u.Tenant) != a.tenant {
		u = nil
	}
	var found User
	if u != nil {
		found = *u
		p.stats.IdentityCalls++
	} else {
		p.stats.IdentityRejections++
	}
	p.mu.Unlock()
	if u == nil {
		writeJSON(w, http.StatusNotFound, graphError{graphErrorBody{Code: "Request_ResourceNotFound",
			Message:    "Resource '" + key + "' does not exist or one of its queried reference-property objects are not present.",
			InnerError: map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": newGUID(), "client-request-id": newGUID()}}})
		return
	}
	given, family := splitName(found.Name)
	writeJSON(w, http.StatusOK, graphMe{
		Context:        s.base() + "/microsoft/graph/v1.0/$metadata#users/$entity",
		BusinessPhones: []string{}, DisplayName: found.Name, GivenName: given, Surname: family,
		Mail: found.Email, UserPrincipalName: found.Email, ID: found.ID,
	})
}

// DeclineAdminConsent makes tenant's administrator decline (true) or
// accept (false, the default) at the admin consent endpoint.
func (s *Sandbox) DeclineAdminConsent(tenant string, decline bool) {
	p := s.mustProv(Microsoft)
	p.mu.Lock()
	defer p.mu.Unlock()
	if decline {
		p.declines[strings.ToLower(tenant)] = true
	} else {
		delete(p.declines, strings.ToLower(tenant))
	}
}

// serveAdminConsent is Entra's v2.0 admin consent endpoint with an
// administrator who answers at once: consent is recorded for the client
// in the tenant (unless DeclineAdminConsent) and the browser is sent back
// to redirect_uri with admin_consent=True, the tenant and the state, or
// with error and error_description.
func (s *Sandbox) serveAdminConsent(w http.ResponseWriter, r *http.Request, p *prov, tenant string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || (back.Scheme != "http" && back.Scheme != "https") || back.Host == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid_request", "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application."})
		return
	}
	clientID := q.Get("client_id")
	t := strings.ToLower(tenant)
	answer := url.Values{"state": {q.Get("state")}}
	p.mu.Lock()
	_, known := p.clients[clientID]
	switch {
	case !known:
		answer.Set("error", "unauthorized_client")
		answer.Set("error_description", "AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory.")
	case t == "common" || t == "organizations" || t == "consumers" || !knownTenant(p, t):
		answer.Set("error", "invalid_request")
		answer.Set("error_description", "AADSTS90002: Tenant '"+tenant+"' not found.")
	case p.declines[t]:
		answer.Set("error", "access_denied")
		answer.Set("error_description", "AADSTS65004: User declined to consent to access the app.")
	default:
		if p.consents[t] == nil {
			p.consents[t] = map[string]bool{}
		}
		p.consents[t][clientID] = true
		answer.Set("admin_consent", "True")
		answer.Set("tenant", tenant)
	}
	p.mu.Unlock()
	if back.RawQuery != "" {
		back.RawQuery += "&"
	}
	back.RawQuery += answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}
