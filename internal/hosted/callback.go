package hosted

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
)

// codeData is what grantd's authorization code stands for, sealed in the
// store: the grant and what the code is bound to.
type codeData struct {
	RedirectURI string   `json:"redirect_uri"`
	Challenge   string   `json:"challenge,omitempty"`
	Method      string   `json:"method,omitempty"`
	AccessType  string   `json:"access_type,omitempty"`
	Scope       []string `json:"scope"`
}

// CallbackRequest is the provider's answer at GET /v3/connect/callback.
type CallbackRequest struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	IP, UserAgent    string
	// Answer is the whole query of the provider's redirect back (admin
	// consent reads admin_consent and tenant from it).
	Answer map[string][]string
}

// Callback handles the provider's answer: it authenticates the code
// through the grant service (creating the grant, or re-authenticating the
// application's grant for the same email) and returns where to send the
// user: the application's redirect URI with grantd's code and the
// application's state, or with error and error_description when the
// provider or the authentication failed. An *Error is returned (and
// nothing redirected) only when the state is unknown, used or expired:
// there is then no trusted redirect URI.
func (s *Service) Callback(ctx context.Context, r CallbackRequest) (string, error) {
	var fs flowState
	c, ok, err := s.takeCode(ctx, kindState, r.State, &fs)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalidRequest("this sign-in link is unknown, was used already or expired: start the sign-in again from the application")
	}
	back := func(v url.Values) (string, error) {
		u, err := url.Parse(fs.RedirectURI)
		if err != nil {
			return "", err
		}
		q := u.Query()
		for k, vs := range v {
			q[k] = vs
		}
		if fs.State != "" {
			q.Set("state", fs.State)
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if fs.AdminConsent {
		return s.adminConsentCallback(ctx, fs, r, back)
	}
	if r.Error != "" || r.Code == "" {
		code := sanitizeCode(r.Error)
		desc := "the provider sent no authorization code"
		if r.Error != "" {
			desc = "the provider answered " + code
			if r.ErrorDescription != "" {
				desc += ": " + fault.Shorten(r.ErrorDescription, 300)
			}
		} else {
			code = "server_error"
		}
		return back(url.Values{"error": {code}, "error_description": {desc}})
	}
	g, _, err := s.Grants.AuthenticateCode(ctx, grant.CodeRequest{AppID: c.AppID, Provider: fs.Provider, CredentialID: fs.CredentialID,
		Code: r.Code, RedirectURI: fs.Callback, CodeVerifier: fs.Verifier, Scope: fs.Scope, State: fs.State, IP: r.IP, UserAgent: r.UserAgent})
	if err != nil {
		code, desc := "access_denied", err.Error()
		var pe *provider.Error
		if errors.As(err, &pe) {
			// The message written for people, not the error chain (the
			// class, Go's transport errors and addresses are for the log).
			desc = pe.Message
		}
		switch {
		case pe != nil && pe.Class == provider.ClassUnavailable:
			code = "temporarily_unavailable"
			if d := unreached(pe); d != "" {
				desc = d
				s.log().WarnContext(ctx, "hosted OAuth: callback: the provider's token endpoint", slog.Any("err", err))
			}
			desc = withWait(desc, pe)
		case pe != nil && (pe.Class == provider.ClassTLS || pe.Class == provider.ClassAddressRefused):
			// grantd could not reach the provider safely: nothing the
			// user did or refused.
			code, desc = "server_error", unreached(pe)
			s.log().WarnContext(ctx, "hosted OAuth: callback: the provider's token endpoint", slog.Any("err", err))
		case pe != nil:
		default:
			if k := asOAuth(err); k == err { // not the caller's: grantd failed
				s.log().ErrorContext(ctx, "hosted OAuth: callback", slog.Any("err", err))
				code, desc = "server_error", "grantd could not complete the sign-in; try again"
			}
		}
		return back(url.Values{"error": {code}, "error_description": {desc}})
	}
	cd := codeData{RedirectURI: fs.RedirectURI, Challenge: fs.Challenge, Method: fs.Method, AccessType: fs.AccessType, Scope: g.Scope}
	code, err := s.putCode(ctx, kindCode, codePrefix, c.AppID, g.ID, s.codeTTL(), cd)
	if err != nil {
		s.log().ErrorContext(ctx, "hosted OAuth: store code", slog.Any("err", err))
		return back(url.Values{"error": {"server_error"}, "error_description": {"grantd could not complete the sign-in; try again"}})
	}
	return back(url.Values{"code": {code}})
}

// unreached is the error_description of a provider that grantd could not
// reach, or not safely: a failure decided without the provider's answer (a
// transport error, a TLS certificate that does not verify, an address
// grantd does not connect to). The provider error's message names the
// endpoint's host or address: that is for grantd's operator (the log has
// it), not for the application's redirect URI and the user's browser. ""
// for an answer of the provider, whose message says what it answered.
func unreached(pe *provider.Error) string {
	switch {
	case pe.Class == provider.ClassTLS:
		return "grantd could not verify the TLS certificate of the provider's endpoint; grantd's operator finds the details in its log (network.ca_file, the endpoint configuration)"
	case pe.Class == provider.ClassAddressRefused:
		return "the provider's endpoint has an address grantd does not connect to; grantd's operator finds the details in its log"
	case pe.Class == provider.ClassUnavailable && !pe.Answered && pe.Err != nil:
		// A transport error (its cause kept); grantd's own refusals
		// (provider.Errorf) have none and say what happened.
		return "grantd could not reach the provider; try again"
	}
	return ""
}

// withWait adds to desc the pause the provider asked for, if it gave one:
// a redirect carries no Retry-After header.
func withWait(desc string, pe *provider.Error) string {
	if secs := provider.RetryAfterSeconds(pe); secs > 0 {
		return fmt.Sprintf("%s (the provider asked to wait %d s before trying again)", desc, secs)
	}
	return desc
}

// sanitizeCode keeps an OAuth error code as the provider sent it when it
// looks like one (lower-case letters and _), else access_denied.
func sanitizeCode(c string) string {
	if c == "" || len(c) > 64 || strings.TrimFunc(c, func(r rune) bool { return r >= 'a' && r <= 'z' || r == '_' }) != "" {
		return "access_denied"
	}
	return c
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}
