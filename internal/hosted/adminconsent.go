package hosted

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
)

// Admin consent: GET /v3/connect/auth?response_type=adminconsent sends an
// administrator to the provider's admin consent page for the tenant of an
// adminconsent credential (Microsoft's v2.0 adminconsent endpoint); the
// callback reads the answer, records the consent on the credential and
// sends the administrator to the application's redirect URI with
// admin_consent=true and the tenant, or with error and
// error_description. No grant is created: the application then creates
// the tenant's grants with POST /v3/connect/custom and the credential.

// authorizeAdminConsent is Authorize for response_type=adminconsent, after
// the client and the redirect URI were checked.
func (s *Service) authorizeAdminConsent(ctx context.Context, r AuthorizeRequest, callback string) (string, error) {
	if n := utf8.RuneCountInString(r.State); n > MaxState {
		return "", invalidRequest("state is %d characters long; at most %d are allowed", n, MaxState)
	}
	prov := r.Provider
	if prov == "" {
		prov = provider.Microsoft // the only provider with admin consent
	}
	if r.CredentialID == "" {
		return "", invalidRequest("credential_id is required with response_type=adminconsent: the id of an adminconsent credential (POST /v3/connectors/%s/creds)", fault.Shorten(prov, 40))
	}
	// The URL is built with a placeholder state before the state is
	// stored: only a good request stores one.
	az, err := s.Grants.AdminConsentURL(ctx, r.ClientID, prov, r.CredentialID, callback, "pending")
	if err != nil {
		return "", asOAuth(err)
	}
	fs := flowState{AppID: r.ClientID, Provider: prov, CredentialID: r.CredentialID, RedirectURI: r.RedirectURI, State: r.State,
		Callback: callback, AdminConsent: true}
	state, err := s.putCode(ctx, kindState, statePrefix, r.ClientID, "", s.stateTTL(), fs)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(az)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// adminConsentCallback is Callback for a flow started with
// response_type=adminconsent: back is the application's redirect URI.
func (s *Service) adminConsentCallback(ctx context.Context, fs flowState, r CallbackRequest, back func(url.Values) (string, error)) (string, error) {
	answer := r.Answer
	if answer == nil { // callers that pass only the OAuth fields
		answer = url.Values{"error": {r.Error}, "error_description": {r.ErrorDescription}}
	}
	tenant, err := s.Grants.RecordAdminConsent(ctx, fs.AppID, fs.Provider, fs.CredentialID, answer)
	if err != nil {
		code, desc := "access_denied", err.Error()
		var pe *provider.Error
		if errors.As(err, &pe) {
			desc = pe.Message // for people; the error chain is for the log
		}
		switch {
		case errors.As(err, &pe) && pe.Class == provider.ClassUnavailable:
			code, desc = "temporarily_unavailable", withWait(desc, pe)
		case errors.As(err, &pe) && pe.Class == provider.ClassBadRequest && url.Values(answer).Get("error") == "":
			code = "server_error" // an answer that is neither a consent nor an error
		case errors.As(err, &pe):
			code, desc = sanitizeCode(url.Values(answer).Get("error")), pe.Message
			if d := url.Values(answer).Get("error_description"); d != "" {
				desc += ": " + fault.Shorten(d, 300) // Microsoft's words
			}
		default:
			if k := asOAuth(err); k == err { // not the caller's: grantd failed
				s.log().ErrorContext(ctx, "hosted OAuth: admin consent callback", slog.Any("err", err))
				code, desc = "server_error", "grantd could not record the consent; try again"
			}
		}
		return back(url.Values{"error": {code}, "error_description": {desc}})
	}
	return back(url.Values{"admin_consent": {"true"}, "tenant": {tenant}})
}
