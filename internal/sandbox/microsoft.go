package sandbox

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/provider/microsoft"
	"github.com/grantd/grantd/internal/providers"
)

// DefaultTenant is the Microsoft tenant id given to users added without
// one.
const DefaultTenant = "5b1e0a3c-7d2f-4e8a-9c61-000000005a4d"

// microsoftFlavor is the fake Microsoft identity platform and Graph:
// /microsoft/{tenant}/oauth2/v2.0/token, /microsoft/{tenant}/discovery/v2.0/keys
// /microsoft/graph/v1.0/me and /microsoft/graph/v1.0/users/{id or
// userPrincipalName} (app-only tokens, appconsent.go). Tokens are redeemed in a tenant (common,
// organizations or the user's), refresh tokens rotate with a grace
// period, "…/.default" asks for every granted scope, and errors carry
// AADSTS codes.
type microsoftFlavor struct{ oauthDefaults }

func (microsoftFlavor) serve(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, rest string) bool {
	if rest == "/graph/v1.0/me" {
		s.serveIdentity(w, r, p, nil, func(u User) any {
			given, family := splitName(u.Name)
			return graphMe{
				Context:        s.base() + "/microsoft/graph/v1.0/$metadata#users/$entity",
				BusinessPhones: []string{}, DisplayName: u.Name, GivenName: given, Surname: family,
				Mail: u.Email, UserPrincipalName: u.Email, ID: u.ID,
			}
		})
		return true
	}
	if key, ok := strings.CutPrefix(rest, "/graph/v1.0/users/"); ok && key != "" && !strings.Contains(key, "/") {
		s.serveGraphUser(w, r, p, key)
		return true
	}
	rest = strings.TrimPrefix(rest, "/")
	if tenant, ok := strings.CutSuffix(rest, "/oauth2/v2.0/token"); ok && tenant != "" && !strings.Contains(tenant, "/") {
		s.serveToken(w, r, p, tenant)
		return true
	}
	if tenant, ok := strings.CutSuffix(rest, "/v2.0/adminconsent"); ok && tenant != "" && !strings.Contains(tenant, "/") {
		s.serveAdminConsent(w, r, p, tenant)
		return true
	}
	if tenant, ok := strings.CutSuffix(rest, "/oauth2/v2.0/authorize"); ok && tenant != "" && !strings.Contains(tenant, "/") {
		s.serveAuthorize(w, r, p)
		return true
	}
	if tenant, ok := strings.CutSuffix(rest, "/discovery/v2.0/keys"); ok && tenant != "" && !strings.Contains(tenant, "/") {
		s.serveJWKS(w, r)
		return true
	}
	return false
}

func (microsoftFlavor) configure(c *providers.Config, base, _ string) {
	c.Microsoft = microsoft.Config{
		LoginURL: base + "/microsoft",
		GraphURL: base + "/microsoft/graph/v1.0",
	}
}

func (microsoftFlavor) defaultRotation() Rotation {
	return Rotation{Mode: RotateGrace, Grace: DefaultGrace}
}

func (microsoftFlavor) newUserID() string       { return newGUID() } // an object id
func (microsoftFlavor) newTenant() string       { return DefaultTenant }
func (microsoftFlavor) newRefreshToken() string { return "M.C5_sbx-microsoft-" + rand.Text() }
func (microsoftFlavor) newAccessToken() string  { return "EwB-sbx-microsoft-" + rand.Text() }
func (microsoftFlavor) scopeParam() bool        { return true }

// checkTenant accepts common, organizations and the user's own tenant; a
// tenant nobody is in is unknown, anyone else's is the wrong one.
func (microsoftFlavor) checkTenant(p *prov, tenant string, u *User) (tokErr, string) {
	switch t := strings.ToLower(tenant); {
	case t == "common" || t == "organizations" || t == strings.ToLower(u.Tenant):
		return -1, ""
	case !knownTenant(p, t):
		return errUnknownTenant, tenant
	default:
		return errWrongTenant, tenant
	}
}

// knownTenant reports whether t is the default tenant or a user's.
// Callers hold p.mu.
func knownTenant(p *prov, t string) bool {
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

// narrow: offline_access is implied (kept when granted, never refused)
// and "…/.default" means everything granted.
func (microsoftFlavor) narrow(granted, requested []string) (scopes, bad []string) {
	return narrowScopes(granted, requested, func(sc string) scopeRule {
		switch {
		case sc == ".default" || strings.HasSuffix(sc, "/.default"):
			return ruleAll
		case sc == "offline_access":
			return ruleIfGranted
		}
		return ruleGranted
	})
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

func (microsoftFlavor) tokenBody(s *Sandbox, r *http.Request, red redemption) any {
	exp := red.expiresIn()
	body := microsoftToken{TokenType: "Bearer", Scope: red.scope(), ExpiresIn: exp, ExtExpiresIn: exp, AccessToken: red.access, RefreshToken: red.refresh}
	if red.openid() {
		iat, u := red.now.Unix(), red.user
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
	return body
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

// writeTokenError words e as Entra does: an AADSTS code in error_codes
// and at the start of the description, with trace and correlation ids.
func (f microsoftFlavor) writeTokenError(s *Sandbox, w http.ResponseWriter, r *http.Request, e tokenError) {
	f.writeTokenErrorCode(s, w, r, e, 0)
}

// writeTokenErrorCode is writeTokenError with the AADSTS code given (0:
// the one of e.kind).
func (microsoftFlavor) writeTokenErrorCode(s *Sandbox, w http.ResponseWriter, r *http.Request, e tokenError, msCode int) {
	code, desc := e.code, e.desc
	switch e.kind {
	case errMissingParam:
		msCode, desc = 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", e.detail)
	case errUnsupportedGrant:
		msCode, desc = 70003, "The app requested an unsupported grant type '"+e.detail+"'."
	case errUnknownClient:
		msCode, desc = 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", e.detail)
	case errInvalidClient:
		msCode, desc = 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
	case errInvalidGrant:
		msCode, desc = 70000, "The provided value for the 'refresh_token' is not valid: the grant is expired, revoked, malformed, or was issued to another client."
	case errInvalidScope:
		code, msCode = "invalid_grant", 65001
		desc = "The user or administrator has not consented to use the application for the requested scopes: " + e.detail
	case errUnknownTenant:
		msCode, desc = 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", e.detail)
	case errWrongTenant:
		msCode, desc = 50020, fmt.Sprintf("User account from identity provider does not exist in tenant '%s'.", e.detail)
	case errInjected:
		switch {
		case e.status == http.StatusTooManyRequests:
			msCode = 50196
		case e.status >= 500:
			code, msCode, desc = "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
		default:
			msCode = 90000
		}
	}
	now := time.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	trace, corr := newGUID(), newGUID()
	writeJSON(w, e.status, microsoftError{
		Error:         code,
		Description:   fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", msCode, desc, trace, corr, now.Format("2006-01-02 15:04:05.0000000Z")),
		ErrorCodes:    []int{msCode},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      s.issuerBase(r) + "/microsoft/error?code=" + strconv.Itoa(msCode),
	})
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

type graphError struct {
	Error graphErrorBody `json:"error"`
}

type graphErrorBody struct {
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	InnerError map[string]string `json:"innerError"`
}

func (microsoftFlavor) writeIdentityError(w http.ResponseWriter, e identityError) {
	code := "InvalidAuthenticationToken"
	switch {
	case e.kind == idScope:
		code = "Authorization_RequestDenied"
	case e.kind == idInjected && e.status == http.StatusTooManyRequests:
		code = "TooManyRequests"
	case e.kind == idInjected:
		code = "serviceNotAvailable"
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05")
	writeJSON(w, e.status, graphError{graphErrorBody{Code: code, Message: e.msg, InnerError: map[string]string{
		"date": now, "request-id": newGUID(), "client-request-id": newGUID(),
	}}})
}

// newGUID returns a random (version 4) GUID, as Entra's ids are.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
