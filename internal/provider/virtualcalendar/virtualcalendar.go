// Package virtualcalendar is the "virtual-calendar" provider: calendars
// that belong to no mailbox and no provider account (a meeting room, a
// piece of equipment, a person without a calendar of their own), which a
// scheduling product keeps with grantd's grants. A virtual calendar grant
// is created from settings.email, an identifier the application chooses:
// it need not be an address. There is no provider to call, so the grant is
// valid at once, has no secrets, no refresh and no re-check, and its scope
// is always ["calendar"]. As for every provider, an application has one
// grant per identifier (compared without regard to case): creating the same
// identifier again re-authenticates that grant (same id).
package virtualcalendar

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/provider"
)

// MaxIdentifier is the longest settings.email, in characters.
const MaxIdentifier = 256

// Scope is the scope of every virtual calendar grant.
const Scope = "calendar"

// Provider is the virtual-calendar provider.
type Provider struct{}

// New returns the provider.
func New() *Provider { return &Provider{} }

var (
	_ provider.Provider        = (*Provider)(nil)
	_ provider.SettingsChecker = (*Provider)(nil)
)

type settings struct {
	Email string `setting:"email,required,trim" about:"the calendar's identifier (any text you choose; it need not be an address)"`
}

// identifier checks settings.email.
func identifier(m map[string]any) (string, error) {
	s, err := provider.DecodeSettings[settings](m)
	if err != nil {
		return "", err
	}
	id := s.Email
	if n := utf8.RuneCountInString(id); n > MaxIdentifier {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.email is %d characters long; a virtual calendar's identifier has at most %d", n, MaxIdentifier)
	}
	if !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.email must be printable text (no control characters)")
	}
	return id, nil
}

// CheckSettings implements provider.SettingsChecker.
func (*Provider) CheckSettings(m map[string]any) (string, error) {
	return identifier(m)
}

// Validate implements provider.Provider: nothing to ask anyone; the
// identifier is the grant's email, the scope ["calendar"].
func (*Provider) Validate(_ context.Context, req provider.Request) (provider.Result, error) {
	id, err := identifier(req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	return provider.Result{
		Email:    id,
		Scope:    []string{Scope},
		Settings: map[string]any{"email": id},
	}, nil
}
