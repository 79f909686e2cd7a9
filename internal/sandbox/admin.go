package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Admin surface, JSON in and out:
//
//	POST   /admin/clients              {provider, client_id, client_secret}            → 201 {provider, client_id}
//	POST   /admin/users                {provider, email, name?, id?, tenant?}          → 201 {provider, id, email, name, tenant?}
//	POST   /admin/tokens               {provider, client_id, email, scopes[]}          → 201 {refresh_token}
//	POST   /admin/tokens/batch         {provider, client_id, emails[], scopes[]}       → 201 {refresh_tokens[]}
//	POST   /admin/tokens/revoke        {provider, refresh_token} or {provider, email}  → 200 {revoked: n}
//	POST   /admin/tokens/introspect    {provider, refresh_token}                       → 200 {valid: bool}
//	GET    /admin/providers/{provider}                                                 → 200 settings
//	PUT    /admin/providers/{provider} {rotation?, grace_seconds?, access_token_ttl_seconds?} → 200 settings
//	POST   /admin/failures             {provider, endpoint?, status?, delay_ms?, count?, retry_after?} → 201 {}
//	DELETE /admin/failures                                                             → 200 {cleared: true}
//	GET    /admin/ledger?provider=p                                                    → 200 ledger (all providers without ?provider)
//	GET    /admin/counters?provider=p                                                  → 200 counters (a ledger without valid_tokens)
//	POST   /admin/reset                                                                → 200 {reset: true}
//	POST   /admin/users/remove         {provider, email}                               → 200 {removed: bool}
//	POST   /admin/google/service-accounts {client_email?, domain, scopes[]}            → 201 {client_email, key} (key: the JSON key file)
//	PUT    /admin/google/service-accounts/{email} {scopes[]}                           → 200 {client_email, scopes}
//	POST   /admin/microsoft/consents   {tenant, client_id}                             → 201 {tenant, client_id}
//	DELETE /admin/microsoft/consents   {tenant, client_id}                             → 200 {tenant, client_id}
//
// Errors are {"error": code, "error_description": text} with 400, 404 or
// 405. The ledger reports token counts, never tokens.

const maxAdminBody = 1 << 20

// maxBatch is the most emails one POST /admin/tokens/batch takes.
const maxBatch = 10000

type adminClient struct {
	Provider     string `json:"provider"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type adminUser struct {
	Provider string `json:"provider"`
	ID       string `json:"id,omitempty"`
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
}

type adminMint struct {
	Provider string   `json:"provider"`
	ClientID string   `json:"client_id"`
	Email    string   `json:"email"`
	Scopes   []string `json:"scopes"`
}

type adminMintBatch struct {
	Provider string   `json:"provider"`
	ClientID string   `json:"client_id"`
	Emails   []string `json:"emails"`
	Scopes   []string `json:"scopes"`
}

type adminTokenRef struct {
	Provider     string `json:"provider"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Email        string `json:"email,omitempty"`
}

type adminSettings struct {
	Provider              string   `json:"provider,omitempty"`
	Rotation              *string  `json:"rotation,omitempty"`
	GraceSeconds          *float64 `json:"grace_seconds,omitempty"`
	AccessTokenTTLSeconds *float64 `json:"access_token_ttl_seconds,omitempty"`
}

type adminFailure struct {
	Provider string `json:"provider"`
	Endpoint string `json:"endpoint"`
	Status   int    `json:"status"`
	DelayMS  int64  `json:"delay_ms"`
	Count    int    `json:"count"`
	// RetryAfter is the Retry-After header of a 429 or 503 (Failure.RetryAfter).
	RetryAfter string `json:"retry_after"`
}

type adminLedger struct {
	Provider    string         `json:"provider"`
	ValidTokens map[string]int `json:"valid_tokens"`
	adminCounters
}

type adminCounters struct {
	Redemptions        int `json:"redemptions"`
	Rejections         int `json:"rejections"`
	IdentityCalls      int `json:"identity_calls"`
	IdentityRejections int `json:"identity_rejections"`
	InjectedFailures   int `json:"injected_failures"`
}

func countersOf(l Ledger) adminCounters {
	return adminCounters{
		Redemptions: l.Redemptions, Rejections: l.Rejections, IdentityCalls: l.IdentityCalls,
		IdentityRejections: l.IdentityRejections, InjectedFailures: l.InjectedFailures,
	}
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	code := "invalid_request"
	switch status {
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	}
	writeJSON(w, status, errorBody{code, fmt.Sprintf(format, args...)})
}

// decode reads a JSON body strictly (unknown fields are an error).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "body: %v", err)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		adminError(w, http.StatusBadRequest, "body: trailing data after the JSON object")
		return false
	}
	return true
}

// adminProv resolves a provider name, answering 400 when it is unknown.
func (s *Sandbox) adminProv(w http.ResponseWriter, name string) *prov {
	p := s.prov(name)
	if p == nil {
		adminError(w, http.StatusBadRequest, "unknown provider %q (want google, microsoft, yahoo or zoom)", name)
	}
	return p
}

// newAdminMux routes the admin surface with net/http patterns. A known
// path asked with another method is a JSON 405 naming the allowed ones;
// anything else under /admin is a JSON 404.
func (s *Sandbox) newAdminMux() *http.ServeMux {
	m := http.NewServeMux()
	routes := []struct {
		path    string
		methods map[string]http.HandlerFunc
	}{
		{"/admin/clients", map[string]http.HandlerFunc{http.MethodPost: s.adminAddClient}},
		{"/admin/users", map[string]http.HandlerFunc{http.MethodPost: s.adminAddUser}},
		{"/admin/tokens", map[string]http.HandlerFunc{http.MethodPost: s.adminMint}},
		{"/admin/tokens/batch", map[string]http.HandlerFunc{http.MethodPost: s.adminMintBatch}},
		{"/admin/tokens/revoke", map[string]http.HandlerFunc{http.MethodPost: s.adminRevoke}},
		{"/admin/tokens/introspect", map[string]http.HandlerFunc{http.MethodPost: s.adminIntrospect}},
		{"/admin/providers/{provider}", map[string]http.HandlerFunc{
			http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
				if p := s.adminProv(w, r.PathValue("provider")); p != nil {
					writeJSON(w, http.StatusOK, p.settings())
				}
			},
			http.MethodPut: func(w http.ResponseWriter, r *http.Request) { s.adminSetProvider(w, r, r.PathValue("provider")) },
		}},
		{"/admin/failures", map[string]http.HandlerFunc{
			http.MethodPost: s.adminInjectFailure,
			http.MethodDelete: func(w http.ResponseWriter, r *http.Request) {
				s.ClearFailures()
				s.log.Debug("sandbox: failures cleared")
				writeJSON(w, http.StatusOK, map[string]bool{"cleared": true})
			},
		}},
		{"/admin/users/remove", map[string]http.HandlerFunc{http.MethodPost: s.adminRemoveUser}},
		{"/admin/google/service-accounts", map[string]http.HandlerFunc{http.MethodPost: s.adminAddServiceAccount}},
		{"/admin/google/service-accounts/{email}", map[string]http.HandlerFunc{http.MethodPut: s.adminSetDelegation}},
		{"/admin/microsoft/consents", map[string]http.HandlerFunc{
			http.MethodPost:   func(w http.ResponseWriter, r *http.Request) { s.adminConsent(w, r, true) },
			http.MethodDelete: func(w http.ResponseWriter, r *http.Request) { s.adminConsent(w, r, false) },
		}},
		{"/admin/ledger", map[string]http.HandlerFunc{http.MethodGet: s.adminLedger}},
		{"/admin/counters", map[string]http.HandlerFunc{http.MethodGet: s.adminCounters}},
		{"/admin/reset", map[string]http.HandlerFunc{http.MethodPost: func(w http.ResponseWriter, r *http.Request) {
			s.Reset()
			writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
		}}},
	}
	for _, rt := range routes {
		var allow []string
		for method, h := range rt.methods {
			m.HandleFunc(method+" "+rt.path, h)
			allow = append(allow, method)
		}
		sort.Strings(allow)
		allowed := strings.Join(allow, ", ")
		m.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) { methodNotAllowed(w, r, allowed) })
	}
	m.HandleFunc("/admin/", notFound)
	m.HandleFunc("/admin", notFound)
	return m
}

func (s *Sandbox) adminAddClient(w http.ResponseWriter, r *http.Request) {
	var req adminClient
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	if req.ClientID == "" {
		adminError(w, http.StatusBadRequest, "client_id is required")
		return
	}
	s.AddClient(p.name, req.ClientID, req.ClientSecret)
	writeJSON(w, http.StatusCreated, map[string]string{"provider": p.name, "client_id": req.ClientID})
}

func (s *Sandbox) adminAddUser(w http.ResponseWriter, r *http.Request) {
	var req adminUser
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	if !strings.Contains(req.Email, "@") {
		adminError(w, http.StatusBadRequest, "email is required")
		return
	}
	u := s.AddUser(p.name, User{ID: req.ID, Email: req.Email, Name: req.Name, Tenant: req.Tenant})
	writeJSON(w, http.StatusCreated, adminUser{Provider: p.name, ID: u.ID, Email: u.Email, Name: u.Name, Tenant: u.Tenant})
}

func (s *Sandbox) adminMint(w http.ResponseWriter, r *http.Request) {
	var req adminMint
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	tok, err := s.MintRefreshToken(p.name, req.ClientID, req.Email, req.Scopes)
	if err != nil {
		adminError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"refresh_token": tok})
}

// adminMintBatch creates the users that do not exist yet and mints one
// refresh token per email, in the order given: what a load test needs by
// the hundred thousand, one request per few thousand users.
func (s *Sandbox) adminMintBatch(w http.ResponseWriter, r *http.Request) {
	var req adminMintBatch
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	if len(req.Emails) == 0 || len(req.Emails) > maxBatch {
		adminError(w, http.StatusBadRequest, "emails must list 1 to %d addresses", maxBatch)
		return
	}
	for i, e := range req.Emails {
		if !strings.Contains(e, "@") || strings.TrimSpace(e) != e {
			adminError(w, http.StatusBadRequest, "emails[%d] is not an email address", i)
			return
		}
	}
	p.mu.Lock()
	_, known := p.clients[req.ClientID]
	p.mu.Unlock()
	if !known {
		adminError(w, http.StatusBadRequest, "%s: unknown client %q", p.name, req.ClientID)
		return
	}
	toks := make([]string, len(req.Emails))
	for i, e := range req.Emails {
		if !s.hasUser(p, e) {
			s.AddUser(p.name, User{Email: e})
		}
		tok, err := s.MintRefreshToken(p.name, req.ClientID, e, req.Scopes)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		toks[i] = tok
	}
	writeJSON(w, http.StatusCreated, map[string][]string{"refresh_tokens": toks})
}

func (s *Sandbox) hasUser(p *prov, email string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.users[strings.ToLower(strings.TrimSpace(email))] != nil
}

func (s *Sandbox) adminRevoke(w http.ResponseWriter, r *http.Request) {
	var req adminTokenRef
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	var n int
	switch {
	case req.RefreshToken != "" && req.Email != "":
		adminError(w, http.StatusBadRequest, "give refresh_token or email, not both")
		return
	case req.RefreshToken != "":
		n = s.revoke(p.name, req.RefreshToken)
	case req.Email != "":
		n = s.revokeUser(p.name, req.Email)
	default:
		adminError(w, http.StatusBadRequest, "refresh_token or email is required")
		return
	}
	s.log.Debug("sandbox: tokens revoked", "provider", p.name, "count", n)
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

func (s *Sandbox) adminIntrospect(w http.ResponseWriter, r *http.Request) {
	var req adminTokenRef
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": s.IsValidRefreshToken(p.name, req.RefreshToken)})
}

func seconds(v float64) (time.Duration, bool) {
	if math.IsNaN(v) || v < 0 || v > 1e9 {
		return 0, false
	}
	return time.Duration(v * float64(time.Second)), true
}

func (s *Sandbox) adminSetProvider(w http.ResponseWriter, r *http.Request, name string) {
	p := s.adminProv(w, name)
	if p == nil {
		return
	}
	var req adminSettings
	if !decode(w, r, &req) {
		return
	}
	if req.Provider != "" && !strings.EqualFold(req.Provider, p.name) {
		adminError(w, http.StatusBadRequest, "provider %q in the body does not match the path", req.Provider)
		return
	}
	p.mu.Lock()
	rot, ttl := p.rotation, p.ttl
	p.mu.Unlock()
	if req.Rotation != nil {
		m, err := ParseRotationMode(*req.Rotation)
		if err != nil {
			adminError(w, http.StatusBadRequest, "rotation: %v", err)
			return
		}
		if m != rot.Mode {
			rot = Rotation{Mode: m}
		}
	}
	if req.GraceSeconds != nil {
		d, ok := seconds(*req.GraceSeconds)
		if !ok {
			adminError(w, http.StatusBadRequest, "grace_seconds must be a non-negative number")
			return
		}
		rot.Grace = d
	}
	if req.AccessTokenTTLSeconds != nil {
		d, ok := seconds(*req.AccessTokenTTLSeconds)
		if !ok || d <= 0 {
			adminError(w, http.StatusBadRequest, "access_token_ttl_seconds must be a positive number")
			return
		}
		ttl = d
	}
	s.SetRotation(p.name, rot)
	s.SetAccessTokenTTL(p.name, ttl)
	s.log.Debug("sandbox: provider settings", "provider", p.name, "rotation", rot.Mode.String(), "grace", rot.Grace, "access_token_ttl", ttl)
	writeJSON(w, http.StatusOK, p.settings())
}

func (p *prov) settings() adminSettings {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode := p.rotation.Mode.String()
	grace := p.rotation.Grace.Seconds()
	ttl := p.ttl.Seconds()
	return adminSettings{Provider: p.name, Rotation: &mode, GraceSeconds: &grace, AccessTokenTTLSeconds: &ttl}
}

func (s *Sandbox) adminInjectFailure(w http.ResponseWriter, r *http.Request) {
	var req adminFailure
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	switch {
	case req.Endpoint != "" && req.Endpoint != "token" && req.Endpoint != "identity":
		adminError(w, http.StatusBadRequest, "endpoint must be token, identity or empty (both)")
		return
	case req.Status != 0 && (req.Status < 100 || req.Status > 599):
		adminError(w, http.StatusBadRequest, "status must be an HTTP status")
		return
	case req.DelayMS < 0 || req.DelayMS > 3_600_000:
		adminError(w, http.StatusBadRequest, "delay_ms must be between 0 and 3600000")
		return
	case req.Status == 0 && req.DelayMS == 0:
		adminError(w, http.StatusBadRequest, "status or delay_ms is required")
		return
	case req.Count < -1:
		adminError(w, http.StatusBadRequest, "count must be -1 (until cleared) or more")
		return
	case len(req.RetryAfter) > 64 || strings.ContainsAny(req.RetryAfter, "\r\n"):
		adminError(w, http.StatusBadRequest, "retry_after must be a Retry-After value: seconds or an HTTP date")
		return
	}
	s.InjectFailure(p.name, Failure{Endpoint: req.Endpoint, Status: req.Status, Delay: time.Duration(req.DelayMS) * time.Millisecond, Count: req.Count, RetryAfter: req.RetryAfter})
	s.log.Debug("sandbox: failure injected", "provider", p.name, "endpoint", req.Endpoint, "status", req.Status, "delay_ms", req.DelayMS, "count", req.Count)
	writeJSON(w, http.StatusCreated, struct{}{})
}

func (s *Sandbox) adminLedger(w http.ResponseWriter, r *http.Request) {
	one := func(name string) adminLedger {
		l := s.Ledger(name)
		counts := make(map[string]int, len(l.ValidTokens))
		for email, toks := range l.ValidTokens {
			counts[email] = len(toks)
		}
		return adminLedger{Provider: name, ValidTokens: counts, adminCounters: countersOf(l)}
	}
	if name := r.URL.Query().Get("provider"); name != "" {
		p := s.adminProv(w, name)
		if p == nil {
			return
		}
		writeJSON(w, http.StatusOK, one(p.name))
		return
	}
	all := make(map[string]adminLedger, len(s.provs))
	for name := range s.provs {
		all[name] = one(name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": all})
}

// adminCounters answers a provider's counters without the per-user token
// counts of the ledger: cheap at any number of tokens, for polling.
func (s *Sandbox) adminCounters(w http.ResponseWriter, r *http.Request) {
	p := s.adminProv(w, r.URL.Query().Get("provider"))
	if p == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Provider string `json:"provider"`
		adminCounters
	}{p.name, countersOf(s.Counters(p.name))})
}

type adminServiceAccount struct {
	ClientEmail string   `json:"client_email,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Scopes      []string `json:"scopes"`
}

func (s *Sandbox) adminAddServiceAccount(w http.ResponseWriter, r *http.Request) {
	var req adminServiceAccount
	if !decode(w, r, &req) {
		return
	}
	key, err := s.AddServiceAccount(ServiceAccount(req))
	if err != nil {
		adminError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var k saKeyFile
	_ = json.Unmarshal(key, &k)
	writeJSON(w, http.StatusCreated, map[string]any{"client_email": k.ClientEmail, "key": json.RawMessage(key)})
}

func (s *Sandbox) adminSetDelegation(w http.ResponseWriter, r *http.Request) {
	var req adminServiceAccount
	if !decode(w, r, &req) {
		return
	}
	email := r.PathValue("email")
	if err := s.SetDelegation(email, req.Scopes); err != nil {
		adminError(w, http.StatusNotFound, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, adminServiceAccount{ClientEmail: email, Scopes: req.Scopes})
}

func (s *Sandbox) adminRemoveUser(w http.ResponseWriter, r *http.Request) {
	var req adminTokenRef
	if !decode(w, r, &req) {
		return
	}
	p := s.adminProv(w, req.Provider)
	if p == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"removed": s.RemoveUser(p.name, req.Email)})
}

type adminConsentReq struct {
	Tenant   string `json:"tenant"`
	ClientID string `json:"client_id"`
}

func (s *Sandbox) adminConsent(w http.ResponseWriter, r *http.Request, give bool) {
	var req adminConsentReq
	if !decode(w, r, &req) {
		return
	}
	if req.Tenant == "" || req.ClientID == "" {
		adminError(w, http.StatusBadRequest, "tenant and client_id are required")
		return
	}
	status := http.StatusOK
	if give {
		s.GrantAdminConsent(req.Tenant, req.ClientID)
		status = http.StatusCreated
	} else {
		s.RevokeAdminConsent(req.Tenant, req.ClientID)
	}
	writeJSON(w, status, req)
}
