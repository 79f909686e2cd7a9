package api

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/hosted"
	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/provider"
)

// Hosted OAuth and grantd's token endpoints (internal/hosted). Errors of
// /v3/connect/auth, callback, token, tokeninfo and revoke are OAuth-shaped
// ({error, error_description, error_uri, error_code}: the SDK reads them
// so on every path containing connect/token or connect/revoke); GET
// /v3/grants/me answers the Nylas envelope.

type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
	ErrorCode        int    `json:"error_code"`
}

// respondOAuth writes err in the OAuth shape: a *hosted.Error as it is,
// the services' invalid errors as invalid_request, unavailable ones as a
// 503 temporarily_unavailable (Retry-After: the provider's pause when an
// upstream provider gave one, else retryAfterUnavailable), anything else
// as a 500 server_error (logged, never shown).
func (s *Server) respondOAuth(w http.ResponseWriter, r *http.Request, err error) {
	var he *hosted.Error
	var pe *provider.Error
	retryAfter := retryAfterUnavailable
	if !errors.As(err, &he) {
		switch k := fault.KindOf(err); {
		case errors.As(err, &pe) && pe.Class == provider.ClassUnavailable:
			// An upstream provider's failure: its message, and its own
			// pause when it gave one, as the v3 and v2 routes answer it.
			he = &hosted.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: pe.Message}
			if secs := provider.RetryAfterSeconds(pe); secs > 0 {
				retryAfter = strconv.Itoa(secs)
			}
		case k == fault.Invalid || k == fault.NotFound:
			// The message for people (a provider's, a service's), not the
			// error chain, which may name addresses and Go's own errors.
			msg := err.Error()
			if ae, ok := toAPIError(err); ok {
				msg = ae.Message
			}
			he = &hosted.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: msg}
		case k == fault.Unavailable || errors.Is(err, context.DeadlineExceeded):
			he = &hosted.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "a dependency of grantd is not answering now; try again"}
		default:
			if r.Context().Err() == nil {
				s.log.ErrorContext(r.Context(), "oauth endpoint failed", slog.String("request_id", RequestID(r.Context())), slog.String("route", r.Pattern), slog.Any("err", err))
			}
			he = &hosted.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error; the request id identifies it in grantd's log"}
		}
	}
	switch he.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer error="`+he.Code+`"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, he.Status, oauthErrorBody{Error: he.Code, ErrorDescription: he.Description, ErrorCode: he.Status})
}

// publicURL is grantd's external address: public_url, else the request's
// host over http.
func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// clientIP is the address of the client: the peer, unless the peer is a
// trusted proxy (http.trusted_proxies); then the right-most address of
// X-Forwarded-For (every header line, in order) that is not a trusted
// proxy, walking from the right while the hops are trusted. Addresses
// left of the first untrusted one were written by the client and are
// never believed. A hop that is not an address ends the walk at the last
// trusted address; all hops trusted: the left-most.
func (s *Server) clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = strings.Trim(host[:i], "[]")
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer.Unmap()) {
		return host
	}
	addr := peer.Unmap()
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(h)
		if err != nil {
			ap, err2 := netip.ParseAddrPort(h)
			if err2 != nil {
				break
			}
			a = ap.Addr()
		}
		addr = a.Unmap().WithZone("")
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// connectAuth is GET /v3/connect/auth: a 302 to the provider.
func (s *Server) connectAuth(w http.ResponseWriter, r *http.Request) {
	if s.connectClientLimit(w, r, false, r.URL.Query().Get("client_id")) {
		return
	}
	req, herr := hosted.ParseAuthorize(r.URL.Query())
	if herr != nil {
		s.respondOAuth(w, r, herr)
		return
	}
	detect := func(email string) string {
		if s.cfg.Detector == nil {
			return ""
		}
		res, err := s.cfg.Detector.Detect(r.Context(), email, func(string) (bool, error) { return true, nil }, false)
		if err != nil || !res.Detected {
			return ""
		}
		return res.Provider
	}
	to, err := s.cfg.Hosted.Authorize(r.Context(), req, s.publicURL(r)+"/v3/connect/callback", detect)
	if errors.Is(err, hosted.ErrChooseProvider) && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		// The hosted provider picker: ask the user, then come back here.
		s.providerPicker(w, r, req.LoginHint != "")
		return
	}
	if err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

// connectCallback is GET /v3/connect/callback: the provider's answer; a
// 302 to the application's redirect URI.
func (s *Server) connectCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to, err := s.cfg.Hosted.Callback(r.Context(), hosted.CallbackRequest{State: q.Get("state"), Code: q.Get("code"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description"), IP: s.clientIP(r), UserAgent: fault.Shorten(r.UserAgent(), 512), Answer: q})
	if err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

// connectToken is POST /v3/connect/token: the flat token response.
func (s *Server) connectToken(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.respondOAuth(w, r, &hosted.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is too large"})
			return
		}
		s.respondOAuth(w, r, err)
		return
	}
	req, herr := hosted.ParseTokenRequest(r.Header.Get("Content-Type"), body)
	if herr != nil {
		s.respondOAuth(w, r, herr)
		return
	}
	if s.connectClientLimit(w, r, true, req.ClientID) {
		return
	}
	req.Issuer = s.publicURL(r)
	out, err := s.cfg.Hosted.Token(r.Context(), req)
	if err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, out)
}

// tokenInfo is GET /v3/connect/tokeninfo?access_token=….
func (s *Server) tokenInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	info, err := s.cfg.Hosted.Introspect(r.Context(), q.Get("access_token"), q.Get("id_token"))
	if err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	if info.Iss == "" {
		info.Iss = s.publicURL(r)
	}
	respond(w, r, http.StatusOK, info)
}

// jwks is GET /.well-known/jwks.json: the public keys of grantd's
// id_tokens (the signing key, created on first use, and the replaced keys
// not retired yet).
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := s.cfg.Hosted.IDTokens.Set(r.Context())
	if err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	// Relying parties cache it; a kid they do not know sends them back
	// (a rotated key signs at once).
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}

// openIDConfiguration is GET /.well-known/openid-configuration: OpenID
// Connect Discovery 1.0's metadata of grantd's endpoints, issuer
// public_url (else the request's address).
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL(r)
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/v3/connect/auth",
		"token_endpoint":                        base + "/v3/connect/token",
		"revocation_endpoint":                   base + "/v3/connect/revoke",
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{idtoken.Alg},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "none"},
		// RFC 8414: the client authenticates at revocation as at the
		// token endpoint (or with the application's Bearer API key, which
		// has no registered name).
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_post", "none"},
		"code_challenge_methods_supported":           []string{"plain", "S256"},
		"claims_supported":                           []string{"iss", "aud", "sub", "email", "iat", "exp"},
	})
}

// revokeToken is POST /v3/connect/revoke?token=…: token, client_id and
// client_secret in the query (as the SDKs send token) or a form body (RFC
// 7009), and the Bearer API key the SDKs send; the client is
// authenticated before the token is looked at (hosted.Service.Revoke).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if n := len(r.Header.Values("Authorization")); n > 1 {
		s.respondOAuth(w, r, &hosted.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf("the request has %d Authorization headers; send one", n)})
		return
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.respondOAuth(w, r, &hosted.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is too large"})
			return
		}
		if clientGone(r, err) {
			s.respondOAuth(w, r, err)
			return
		}
		s.respondOAuth(w, r, &hosted.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the form body is not validly encoded"})
		return
	}
	req := hosted.RevokeRequest{}
	for _, f := range []struct {
		name string
		v    *string
	}{{"token", &req.Token}, {"client_id", &req.ClientID}, {"client_secret", &req.ClientSecret}} {
		if vs := r.Form[f.name]; len(vs) > 1 {
			s.respondOAuth(w, r, &hosted.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the parameter " + f.name + " is given more than once"})
			return
		} else if len(vs) == 1 {
			*f.v = vs[0]
		}
	}
	req.APIKey, _ = bearer(r.Header.Get("Authorization"))
	if s.connectClientLimit(w, r, true, req.ClientID) {
		return
	}
	if err := s.cfg.Hosted.Revoke(r.Context(), req); err != nil {
		s.respondOAuth(w, r, err)
		return
	}
	respondDeleted(w, r)
}

// grantsMe is GET /v3/grants/me with Authorization: Bearer <grantd access
// token>: the token's grant.
func (s *Server) grantsMe(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		s.respondError(w, r, &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Message: "missing access token: send Authorization: Bearer <access token from /v3/connect/token>"})
		return
	}
	_, g, err := s.cfg.Hosted.Grant(r.Context(), tok)
	var he *hosted.Error
	if errors.As(err, &he) {
		s.respondError(w, r, &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Message: he.Description})
		return
	}
	if err != nil {
		s.respondError(w, r, err)
		return
	}
	respond(w, r, http.StatusOK, grantView(g))
}

var pickerPage = template.Must(template.New("picker").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title>
<style>body{font-family:sans-serif;max-width:30em;margin:3em auto}label,input,select,button{display:block;margin:.5em 0}</style>
</head><body>
<h1>Sign in</h1>
{{if .Failed}}<p id="error">The provider of that address could not be detected: choose it below.</p>{{end}}
<form method="get" action="/v3/connect/auth">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label for="login_hint">Email address</label>
<input type="email" id="login_hint" name="login_hint" value="{{.Hint}}" required>
<label for="provider">Provider</label>
<select id="provider" name="provider"><option value="">detect from the address</option>
<option value="google">Google</option><option value="microsoft">Microsoft</option><option value="yahoo">Yahoo</option><option value="zoom">Zoom</option></select>
<button type="submit" id="continue">Continue</button>
</form></body></html>
`))

// providerPicker is the hosted provider picker: a form asking for the
// address (and, when detection failed, the provider), sent back to
// /v3/connect/auth with the request's other parameters.
func (s *Server) providerPicker(w http.ResponseWriter, r *http.Request, failed bool) {
	q := r.URL.Query()
	params := map[string]string{}
	for k := range q {
		if k != "login_hint" && k != "provider" {
			params[k] = q.Get(k)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(http.StatusOK)
	_ = pickerPage.Execute(w, map[string]any{"Params": params, "Hint": q.Get("login_hint"), "Failed": failed})
}
