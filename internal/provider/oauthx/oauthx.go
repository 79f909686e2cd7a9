// Package oauthx holds what the OAuth providers (Google, Microsoft, Yahoo,
// Zoom) share when validating a Bring-Your-Own-Auth refresh token: checking
// the request, redeeming the refresh token, calling an identity endpoint
// with the access token, and turning every failure into a classified
// *provider.Error that never carries a secret.
//
// A provider package describes itself once in Options (its name, what its
// identity call needs, and a Classify hook for its own error codes) and
// drives one validation through a Session:
//
//	s, err := oauthx.Start(req, oauthx.Options{Provider: "Google"}, hc)
//	tok, err := s.Redeem(ctx, oauthx.TokenEndpoint{URL: …, AuthStyle: oauth2.AuthStyleInParams}, nil)
//	err = s.GetJSON(ctx, "userinfo", userinfoURL, tok.AccessToken, &claims)
//	return s.Result(tok, oauthx.Identity{…}), nil
//
// Errors returned by Session methods are already classified and redacted;
// errors a provider package builds itself should go through s.Redact.
package oauthx

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/provider"
)

// DefaultTimeout bounds one outbound call when a validator is built without
// an HTTP client.
const DefaultTimeout = 15 * time.Second

// Client returns hc, or a client with DefaultTimeout when hc is nil.
func Client(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// Options describe an OAuth provider to oauthx.
type Options struct {
	// Provider is the provider's display name used in messages ("Google").
	Provider string
	// ScopeHint names the scopes the identity call needs, for messages
	// ("openid, …/userinfo.email and …/userinfo.profile").
	ScopeHint string
	// Unauthorized is the class of a plain 401 from the identity endpoint
	// (default ClassInvalidCredentials; Google's userinfo answers 401 to a
	// token without the identity scopes, so Google sets ClassMissingScope).
	Unauthorized provider.Class
	// Classify reads the provider's own codes in an error answer of its
	// token endpoint (nil: OAuth's rules alone decide; see TokenClassifier).
	Classify TokenClassifier
}

// A TokenClassifier reads the provider-specific part of an error answer of
// a token endpoint (pe, as ParseProviderError returns it): Microsoft
// Entra's AADSTS codes, Zoom's "Invalid Token!". It returns the class the
// provider's codes give the answer, or "" when they give none, and the
// message for that class, or "" for OAuth's (build it with Words(pe)).
//
// OAuth's own reading comes first where it is certain: a 5xx or another
// "not now" status is ClassUnavailable whatever the body says, and an
// error code decides its class, in this order: unavailable
// (temporarily_unavailable, server_error), missing scope (invalid_scope),
// invalid client (invalid_client, unauthorized_client, a 401 without a
// code), invalid credentials (invalid_grant). The classifier's class joins
// that order as if it were the matching code, so a classifier must return
// the first class of the order its codes support. The classifier's
// message is used when its class is the one chosen.
type TokenClassifier func(pe map[string]any) (provider.Class, string)

// Session is one validation in progress. It remembers every secret it has
// seen (refresh tokens, client secret, access token) so that errors can be
// scrubbed of them.
type Session struct {
	Options

	hc           *http.Client
	client       provider.Client
	refreshToken string
	requested    []string
	red          provider.Redactor
	// rotated is set by Redeem when the provider issued a new refresh
	// token: the one the caller sent may be dead from then on.
	rotated bool
}

// Start checks the request (settings.refresh_token, client_id and
// client_secret) and returns a session for it with the provider's options.
// The error is a ClassBadRequest *provider.Error.
func Start(req provider.Request, o Options, hc *http.Client) (*Session, error) {
	in, err := provider.DecodeSettings[refreshSettings](req.Settings)
	if err != nil {
		return nil, err
	}
	rt := in.RefreshToken
	if err := CheckClient(req.Client); err != nil {
		return nil, err
	}
	s := &Session{
		Options:      o,
		hc:           Client(hc),
		client:       req.Client,
		refreshToken: rt,
		requested:    req.Scope,
	}
	s.addSecret(rt)
	s.addSecret(req.Client.ClientSecret)
	// Clients authenticating in the header send these (x/oauth2
	// URL-encodes both parts first).
	c := req.Client
	s.red.AddEncoded(provider.BasicAuth(c.ClientID, c.ClientSecret),
		provider.BasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)))
	return s, nil
}

// CheckSettings checks the settings of a Bring-Your-Own-Auth OAuth grant
// as Start reads them: the OAuth providers' provider.SettingsChecker.
func CheckSettings(settings map[string]any) (string, error) {
	_, err := provider.DecodeSettings[refreshSettings](settings)
	return "", err
}

// refreshSettings are the settings of a Bring-Your-Own-Auth OAuth grant.
type refreshSettings struct {
	RefreshToken string `setting:"refresh_token,required,trim" about:"the user's OAuth refresh token"`
}

// CheckClient requires a client_id and a client_secret.
func CheckClient(c provider.Client) error {
	switch {
	case c.ClientID == "" && c.ClientSecret == "":
		return provider.Errorf(provider.ClassBadRequest,
			"the connector (or the credential used) has no client_id and no client_secret: set the OAuth client of the provider app on the connector")
	case c.ClientID == "":
		return provider.Errorf(provider.ClassBadRequest,
			"the connector (or the credential used) has no client_id: set the OAuth client of the provider app on the connector")
	case c.ClientSecret == "":
		return provider.Errorf(provider.ClassBadRequest,
			"the connector (or the credential used) has no client_secret: set the OAuth client of the provider app on the connector")
	}
	return nil
}

// ConnectorSettings are the settings of an OAuth provider's connector
// (see provider.OAuthClient): its OAuth client, client_id and the sealed
// client_secret, both required, then the provider's extra settings,
// optional.
func ConnectorSettings(extra ...string) []provider.ConnectorSetting {
	out := []provider.ConnectorSetting{
		{Key: "client_id", Required: true, About: "the OAuth client id"},
		{Key: "client_secret", Secret: true, Required: true, About: "the OAuth client secret"},
	}
	for _, k := range extra {
		out = append(out, provider.ConnectorSetting{Key: k})
	}
	return out
}

func (s *Session) addSecret(v string) { s.red.Add(v) }

// Redact removes every secret the session has seen from err (see
// provider.Redactor).
func (s *Session) Redact(err error) error { return s.red.Error(err) }

// Identity is who the provider says the token belongs to.
type Identity struct {
	Email          string
	Name           string
	ProviderUserID string
}

// Result builds the validation result from the redeemed token and the
// identity: the granted scope (the token response's "scope", split on spaces
// and commas; the requested scopes when the provider reports none), the
// refresh token to store (the rotated one when the provider sent one) and
// the access token with its expiry.
func (s *Session) Result(tok *oauth2.Token, id Identity) provider.Result {
	rt := tok.RefreshToken
	if rt == "" {
		rt = s.refreshToken
	}
	return provider.Result{
		Email:                id.Email,
		Name:                 id.Name,
		ProviderUserID:       id.ProviderUserID,
		Scope:                GrantedScope(tok, s.requested),
		Secrets:              map[string]string{"refresh_token": rt, "access_token": tok.AccessToken},
		Settings:             map[string]any{},
		AccessTokenExpiresAt: tok.Expiry,
	}
}

// GrantedScope returns the scopes of the token response, or requested when
// the response has none.
func GrantedScope(tok *oauth2.Token, requested []string) []string {
	if raw, ok := tok.Extra("scope").(string); ok {
		if sc := SplitScope(raw); len(sc) > 0 {
			return sc
		}
	}
	if len(requested) == 0 {
		return []string{}
	}
	return append([]string(nil), requested...)
}

// SplitScope splits a scope string on spaces and commas, dropping empty
// entries and duplicates.
func SplitScope(raw string) []string {
	f := strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	out := make([]string, 0, len(f))
	seen := make(map[string]bool, len(f))
	for _, sc := range f {
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

// redact removes every secret the session has seen from pe.
func (s *Session) redact(pe *provider.Error) *provider.Error { return s.red.ProviderError(pe) }
