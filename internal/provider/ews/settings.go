package ews

import (
	"strings"

	"github.com/grantd/grantd/internal/provider"
)

// rawSettings are the settings of provider "ews" as given.
type rawSettings struct {
	Username string `setting:"ews_username,required,trim"`
	Password string `setting:"ews_password,required"`
	Email    string `setting:"email,trim"`
	Host     string `setting:"ews_host,trim"`
	Port     int    `setting:"ews_port,port"`
}

// settings are the checked request settings.
type settings struct {
	email, username, password string
	host                      string
	port                      int
	portSet                   bool
}

func bad(format string, args ...any) error {
	return provider.Errorf(provider.ClassBadRequest, format, args...)
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(m map[string]any) (string, error) {
	s, err := parseSettings(m, false)
	if err != nil {
		return "", err
	}
	return strings.ToLower(s.email), nil
}

func parseSettings(m map[string]any, recheck bool) (settings, error) {
	in, err := provider.DecodeSettings[rawSettings](m)
	if err != nil {
		return settings{}, err
	}
	s := settings{username: in.Username, password: in.Password, email: in.Email, host: in.Host, port: in.Port, portSet: in.Port != 0}
	explicitEmail := s.email != ""
	if s.email == "" {
		if !strings.Contains(s.username, "@") {
			return s, bad("settings.email is required for provider ews when settings.ews_username is not an email address")
		}
		s.email = s.username
	}
	if err := provider.AccountAddress(s.email, recheck); err != nil {
		if !explicitEmail {
			return s, bad("settings.ews_username %q is not an email address (%s); add settings.email with the mailbox's address", s.username, strings.TrimPrefix(err.Error(), "email "))
		}
		return s, bad("settings.%s", err.Error())
	}
	return s, nil
}

func checkScope(scope []string) ([]string, error) {
	if len(scope) == 0 {
		return append([]string(nil), Scopes...), nil
	}
	for _, sc := range scope {
		ok := scopeAliases[sc]
		for _, k := range Scopes {
			ok = ok || sc == k
		}
		if !ok {
			return nil, bad("scope %q is not an EWS scope; use %s", sc, strings.Join(Scopes, ", "))
		}
	}
	return append([]string(nil), scope...), nil
}
