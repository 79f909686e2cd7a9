package importer

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/provider"
)

// The settings POST /v3/connect/custom reads, per provider: what a dry
// run checks. This table is the one place the importer knows them; it
// mirrors the provider packages' own checks (internal/provider/oauthx for
// refresh_token, imap, icloud, ews) and must never be stricter than they
// are. When the provider packages export their typed settings
// (provider.DecodeSettings and a settings struct per provider), this table
// is to be replaced by calls to them.

type settingKind int

const (
	kindString settingKind = iota // a JSON string
	kindPort                      // a port: a JSON number or a numeric string, 1 to 65535
)

type setting struct {
	key      string
	kind     settingKind
	required bool // present, a string, not blank
}

var oauthSettings = []setting{
	{key: "refresh_token", required: true},
	{key: "credential_id"},
}

// providerSettings are the settings of each provider that accepts
// POST /v3/connect/custom. Settings not listed are passed on unchecked.
var providerSettings = map[string][]setting{
	provider.Google:    oauthSettings,
	provider.Microsoft: oauthSettings,
	provider.Yahoo:     oauthSettings,
	provider.Zoom:      oauthSettings,
	provider.IMAP: {
		{key: "imap_username", required: true},
		{key: "imap_password", required: true},
		{key: "email"},
		{key: "imap_host"},
		{key: "imap_port", kind: kindPort},
		{key: "smtp_host"},
		{key: "smtp_port", kind: kindPort},
		{key: "smtp_username"},
		{key: "smtp_password"},
	},
	provider.ICloud: {
		{key: "username", required: true},
		{key: "password", required: true},
	},
	provider.EWS: {
		{key: "ews_username", required: true},
		{key: "ews_password", required: true},
		{key: "email"},
		{key: "ews_host"},
		{key: "ews_port", kind: kindPort},
	},
}

// Providers returns the providers a line may name, sorted.
func Providers() []string {
	out := make([]string, 0, len(providerSettings))
	for p := range providerSettings {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// checkSettings checks settings against the provider's table. The error
// names the setting and what it must be, never its value (but a port's).
func checkSettings(prov string, settings map[string]any) *ErrorInfo {
	if connector.OAuth(prov) {
		if _, bulk := settings["email_address"]; bulk && settings["refresh_token"] == nil {
			return inputError(TypeUnsupported, "settings.email_address without settings.refresh_token is bulk authentication with a service-account or admin-consent credential, which grantd does not support yet: give the user's OAuth refresh token in settings.refresh_token")
		}
	}
	for _, s := range providerSettings[prov] {
		raw, ok := settings[s.key]
		if !ok || raw == nil {
			if s.required {
				return inputError(TypeMissingSetting, "settings.%s is required for provider %s", s.key, prov)
			}
			continue
		}
		switch s.kind {
		case kindString:
			str, ok := raw.(string)
			if !ok {
				return inputError(TypeInvalidField, "settings.%s must be a string, got %s", s.key, jsonType(raw))
			}
			if s.required && strings.TrimSpace(str) == "" {
				return inputError(TypeMissingSetting, "settings.%s is empty: provider %s needs a non-empty string", s.key, prov)
			}
		case kindPort:
			if !validPort(raw) {
				return inputError(TypeInvalidField, "settings.%s must be a port number between 1 and 65535 (a number or a numeric string)", s.key)
			}
		}
	}
	// The account's address, where the settings are all grantd has.
	switch prov {
	case provider.IMAP:
		if str(settings, "email") == "" && !strings.Contains(str(settings, "imap_username"), "@") {
			return inputError(TypeMissingSetting, "settings.email is required for provider imap when settings.imap_username is not an email address")
		}
	case provider.EWS:
		if str(settings, "email") == "" && !strings.Contains(str(settings, "ews_username"), "@") {
			return inputError(TypeMissingSetting, "settings.email is required for provider ews when settings.ews_username is not an email address")
		}
	case provider.ICloud:
		if !strings.Contains(str(settings, "username"), "@") {
			return inputError(TypeInvalidField, "settings.username must be the iCloud email address")
		}
	}
	return nil
}

// accountEmail is the address of the account a password provider's
// settings name (as grantd will make the grant's email), lower-cased; ""
// for OAuth providers, whose address only the provider knows.
func accountEmail(prov string, settings map[string]any) string {
	var e string
	switch prov {
	case provider.IMAP:
		if e = str(settings, "email"); e == "" {
			e = str(settings, "imap_username")
		}
	case provider.ICloud:
		e = str(settings, "username")
	case provider.EWS:
		if e = str(settings, "email"); e == "" {
			e = str(settings, "ews_username")
		}
	}
	return strings.ToLower(strings.TrimSpace(e))
}

// str is settings[key] when it is a string, trimmed.
func str(settings map[string]any, key string) string {
	s, _ := settings[key].(string)
	return strings.TrimSpace(s)
}

// validPort reports whether raw (a json.Number or a string) is a port
// number; a blank string is no port, as grantd reads it.
func validPort(raw any) bool {
	var f float64
	switch v := raw.(type) {
	case json.Number:
		n, err := v.Float64()
		if err != nil {
			return false
		}
		f = n
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return true
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return false
		}
		f = float64(n)
	default:
		return false
	}
	return f == math.Trunc(f) && f >= 1 && f <= 65535
}

// jsonType names the JSON type of a value decoded with UseNumber.
func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return "another type"
}
