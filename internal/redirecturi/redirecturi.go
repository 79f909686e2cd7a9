// Package redirecturi manages the redirect URIs of applications: where
// hosted OAuth (GET /v3/connect/auth) may send an application's users back
// with a code. A redirect URI is compared exactly, byte for byte, with
// the redirect_uri of a request (RFC 9700 §4.1.3): no prefix, wildcard or
// normalisation. https is required, except for loopback addresses
// (http://127.0.0.1:port/…, http://localhost/…, http://[::1]/…; RFC 8252
// §7.3), and native platforms (desktop, ios, android) may use a private
// scheme (com.example.app:/cb; RFC 8252 §7.1).
package redirecturi

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
)

// Platforms a redirect URI may be registered for; "web" is the default.
var Platforms = []string{"web", "desktop", "js", "ios", "android"}

// Bounds.
const (
	MaxURLLength = 2048
	MaxPerApp    = 100
	maxSettings  = 20
	maxSetting   = 512
)

// Service manages redirect URIs.
type Service struct {
	Store store.Store
	NewID func() string
	Now   func() time.Time
}

// Input is a create (every field) or a partial update (nil: unchanged).
type Input struct {
	URL      *string
	Platform *string
	Settings map[string]any // nil: unchanged (update) or none (create)
}

func notFound(id string) error {
	return fault.NotFoundf("redirect URI %q not found: list them with GET /v3/applications/redirect-uris", id)
}

func taken(u string) error {
	return fault.Conflictf("the application already has the redirect URI %s; update that one or delete it first", u)
}

// Check says what is wrong with raw as the redirect URI of platform, or
// returns nil. The error is a fault.Invalid error naming the rule.
func Check(raw, platform string) error {
	if raw == "" {
		return fault.Invalidf("url is required: the absolute URL users are sent back to")
	}
	if len(raw) > MaxURLLength {
		return fault.Invalidf("url is %d bytes long; at most %d are allowed", len(raw), MaxURLLength)
	}
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fault.Invalidf("url must not contain spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fault.Invalidf("url %q is not an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fault.Invalidf("url must not have a fragment (#…): the code is added to its query")
	}
	if u.User != nil {
		return fault.Invalidf("url must not carry a user name or password")
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
		if u.Host == "" {
			return fault.Invalidf("url %q has no host", raw)
		}
		return nil
	case "http":
		if u.Host == "" {
			return fault.Invalidf("url %q has no host", raw)
		}
		if !Loopback(u.Hostname()) {
			return fault.Invalidf("url %q uses http: only https is allowed, except for a loopback address (http://127.0.0.1:port/…, http://localhost:port/…, http://[::1]:port/…)", raw)
		}
		return nil
	case "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss":
		return fault.Invalidf("url %q uses the %s scheme, which cannot receive a code: use https", raw, scheme)
	}
	if platform == "" || platform == "web" || platform == "js" {
		return fault.Invalidf("url %q uses the private scheme %s, allowed for the desktop, ios and android platforms only; a web redirect URI uses https", raw, scheme)
	}
	return nil
}

// Loopback reports whether host (without port) is a loopback address or
// localhost.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkPlatform(p string) error {
	if !slices.Contains(Platforms, p) {
		return fault.Invalidf("platform %q is not one of %s", p, strings.Join(Platforms, ", "))
	}
	return nil
}

func checkSettings(m map[string]any) error {
	if len(m) > maxSettings {
		return fault.Invalidf("settings has %d keys; at most %d are allowed", len(m), maxSettings)
	}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return fault.Invalidf("settings.%s must be a string", k)
		}
		if len(k) > 100 || len(s) > maxSetting {
			return fault.Invalidf("settings.%s is too long (keys at most 100 bytes, values at most %d)", k, maxSetting)
		}
	}
	return nil
}

// Create registers a redirect URI for appID.
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.RedirectURI, error) {
	u := store.RedirectURI{ID: s.NewID(), AppID: appID, Platform: "web", Settings: map[string]any{}}
	if in.URL != nil {
		u.URL = *in.URL
	}
	if in.Platform != nil {
		u.Platform = *in.Platform
	}
	if in.Settings != nil {
		u.Settings = maps.Clone(in.Settings)
	}
	if err := check(u); err != nil {
		return store.RedirectURI{}, err
	}
	list, err := s.Store.ListRedirectURIs(ctx, appID)
	if err != nil {
		return store.RedirectURI{}, err
	}
	if len(list) >= MaxPerApp {
		return store.RedirectURI{}, fault.Invalidf("the application has %d redirect URIs, the most allowed; delete one first", len(list))
	}
	now := s.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	err = s.Store.CreateRedirectURI(ctx, u)
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.RedirectURI{}, taken(u.URL)
	}
	if err != nil {
		return store.RedirectURI{}, err
	}
	return s.Store.GetRedirectURI(ctx, appID, u.ID)
}

func check(u store.RedirectURI) error {
	if err := checkPlatform(u.Platform); err != nil {
		return err
	}
	if err := Check(u.URL, u.Platform); err != nil {
		return err
	}
	return checkSettings(u.Settings)
}

// Get returns one redirect URI of appID.
func (s *Service) Get(ctx context.Context, appID, id string) (store.RedirectURI, error) {
	u, err := s.Store.GetRedirectURI(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return u, notFound(id)
	}
	return u, err
}

// List returns the redirect URIs of appID in creation order.
func (s *Service) List(ctx context.Context, appID string) ([]store.RedirectURI, error) {
	return s.Store.ListRedirectURIs(ctx, appID)
}

// Update changes the fields of in that are set; settings, when sent,
// replace the stored ones wholesale.
func (s *Service) Update(ctx context.Context, appID, id string, in Input) (store.RedirectURI, error) {
	u, err := s.Store.UpdateRedirectURI(ctx, appID, id, func(u store.RedirectURI) (store.RedirectURI, error) {
		if in.URL != nil {
			u.URL = *in.URL
		}
		if in.Platform != nil {
			u.Platform = *in.Platform
		}
		if in.Settings != nil {
			u.Settings = maps.Clone(in.Settings)
		}
		u.UpdatedAt = s.Now().UTC()
		return u, check(u)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return u, notFound(id)
	case errors.Is(err, store.ErrAlreadyExists):
		return u, taken(*in.URL)
	}
	return u, err
}

// Delete removes a redirect URI; codes already issued for it stay
// redeemable until they expire.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	err := s.Store.DeleteRedirectURI(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// Registered reports whether raw is exactly one of appID's redirect URIs.
func (s *Service) Registered(ctx context.Context, appID, raw string) (bool, error) {
	list, err := s.Store.ListRedirectURIs(ctx, appID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list, func(u store.RedirectURI) bool { return u.URL == raw }), nil
}
