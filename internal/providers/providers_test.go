package providers_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/providers"
)

// The registry is what the services list and ask: its order is the order
// of the names in messages, and each provider's capabilities decide which
// services use it.
func TestRegistry(t *testing.T) {
	r := providers.New(providers.DefaultConfig(), providers.Env{Network: netx.DefaultConfig()})
	if got, want := r.Names(), []string{"google", "microsoft", "yahoo", "zoom", "imap", "icloud", "ews", "virtual-calendar", "nylas"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if got, want := r.Authenticating(), []string{"ews", "google", "icloud", "imap", "microsoft", "nylas", "virtual-calendar", "yahoo", "zoom"}; !slices.Equal(got, want) {
		t.Errorf("Authenticating = %v, want %v", got, want)
	}
	if r.Has("nope") {
		t.Errorf("an unregistered name is known")
	}
	oauth := []string{"google", "microsoft", "yahoo", "zoom"}
	for name, want := range map[string][]string{
		"OAuthClient": oauth,
		"Refresher":   oauth,
		"Rechecker":   {"ews", "icloud", "imap"},
		// Bulk authentication and its credential types.
		"AppTokenMinter":    {"google", "microsoft"},
		"CredentialChecker": {"google", "microsoft"},
		// grantd import checks every line with it (internal/importer).
		"SettingsChecker": r.Authenticating(),
		// Agent accounts: the application's mail host checks passwords.
		"PasswordVerifier": {"nylas"},
	} {
		var got []string
		switch name {
		case "OAuthClient":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.OAuthClient](r)))
		case "Refresher":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.Refresher](r)))
		case "Rechecker":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.Rechecker](r)))
		case "AppTokenMinter":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.AppTokenMinter](r)))
		case "CredentialChecker":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.CredentialChecker](r)))
		case "SettingsChecker":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.SettingsChecker](r)))
		case "PasswordVerifier":
			got = slices.Sorted(maps.Keys(provider.Capable[provider.PasswordVerifier](r)))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	for _, p := range oauth {
		keys := []string{}
		for _, cs := range r.Get(p).(provider.OAuthClient).ConnectorSettings() {
			keys = append(keys, cs.Key)
		}
		if !slices.Equal(keys[:2], []string{"client_id", "client_secret"}) {
			t.Errorf("%s connector settings %v do not begin with its OAuth client", p, keys)
		}
	}
}
