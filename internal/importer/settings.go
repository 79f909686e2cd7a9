package importer

import (
	"errors"
	"strings"
	"sync"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/providers"
)

// registry is grantd's list of providers, built with the default
// configuration: the importer only asks it which providers exist and to
// check settings (provider.SettingsChecker), which needs no endpoint.
var registry = sync.OnceValue(func() *provider.Registry {
	return providers.New(providers.DefaultConfig(), providers.Env{Network: netx.DefaultConfig()})
})

// Providers returns the providers a line may name (those grantd
// authenticates accounts of), sorted.
func Providers() []string { return registry().Authenticating() }

// knownProvider reports whether a line may name prov.
func knownProvider(prov string) bool { return registry().Get(prov) != nil }

// oauth reports whether prov's grants belong to an OAuth client.
func oauth(prov string) bool {
	return provider.Implements[provider.OAuthClient](registry(), prov)
}

// checkSettings checks settings as the provider's Validate reads them
// before it contacts anyone (provider.SettingsChecker: the provider
// package's own typed settings), and returns the account's address when
// the settings say it. The message names the setting, never a secret.
func checkSettings(prov string, settings map[string]any) (string, *ErrorInfo) {
	if oauth(prov) {
		// The grant service's rule (internal/grant): bulk authentication
		// with the application's own credential.
		if _, bulk := settings["email_address"]; bulk && settings["refresh_token"] == nil {
			if !provider.Implements[provider.AppTokenMinter](registry(), prov) {
				return "", inputError(TypeUnsupported, "settings.email_address without settings.refresh_token is bulk authentication, which %s does not have: give the user's OAuth refresh token in settings.refresh_token", prov)
			}
			email := str(settings, "email_address")
			if _, err := emailaddr.Parse(email); err != nil {
				return "", inputError(TypeInvalidSettings, "settings.email_address: %v", err)
			}
			if str(settings, "credential_id") == "" {
				return "", inputError(TypeInvalidSettings, "settings.credential_id is required for bulk authentication (settings.email_address): the id of the connector's serviceaccount or adminconsent credential")
			}
			return strings.ToLower(email), nil
		}
	}
	c, ok := registry().Get(prov).(provider.SettingsChecker)
	if !ok {
		return "", nil
	}
	email, err := c.CheckSettings(settings)
	if err != nil {
		msg := err.Error()
		var pe *provider.Error
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		return "", inputError(TypeInvalidSettings, "%s", msg)
	}
	return strings.ToLower(strings.TrimSpace(email)), nil
}

// str is settings[key] when it is a string, trimmed.
func str(settings map[string]any, key string) string {
	s, _ := settings[key].(string)
	return strings.TrimSpace(s)
}
