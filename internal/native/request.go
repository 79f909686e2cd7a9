package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/fault"
)

// AuthorizeRequest is the body of POST /connect/authorize.
type AuthorizeRequest struct {
	ClientID     string
	Name         string
	EmailAddress string // email_address, or email for a virtual calendar
	Provider     string
	Settings     map[string]any
	// Scopes is the comma-separated v2 scope list (the v6 Node SDK's
	// VirtualCalendar sends an array, joined here).
	Scopes          string
	ReauthAccountID string
}

// TokenRequest is the body of POST /connect/token.
type TokenRequest struct {
	ClientID     string
	ClientSecret string
	Code         string
}

// Bounds of what a request may carry.
const (
	maxField    = 1024 // a top-level string field
	maxSettings = 32   // settings keys
	maxSetting  = 4096 // a setting's value (refresh tokens are long)
)

var authorizeFields = []string{"client_id", "name", "email_address", "email", "provider", "settings", "scopes", "reauth_account_id"}

// decodeObject decodes a JSON object body, numbers as json.Number,
// refusing trailing data.
func decodeObject(body []byte) (map[string]any, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalidf("the request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, invalidf("the request body is not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, invalidf("the request body is not a JSON object")
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidf("the request body has data after the JSON object")
	}
	return m, nil
}

// field reads an optional string field (null and absent are "").
func field(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalidf("%s must be a string", key)
	}
	if len(s) > maxField {
		return "", invalidf("%s is %d bytes long; at most %d are allowed", key, len(s), maxField)
	}
	if strings.ContainsRune(s, 0) {
		return "", invalidf("%s contains a NUL character", key)
	}
	return s, nil
}

// ParseAuthorize reads the body of POST /connect/authorize. It checks the
// shape (fields, types, bounds); what the values mean is checked by
// Service.Authorize.
func ParseAuthorize(body []byte) (AuthorizeRequest, error) {
	m, err := decodeObject(body)
	if err != nil {
		return AuthorizeRequest{}, err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(authorizeFields, k) {
			return AuthorizeRequest{}, invalidf("%q is not a field of /connect/authorize; it takes %s", fault.Shorten(k, 64), strings.Join(authorizeFields, ", "))
		}
	}
	var r AuthorizeRequest
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_id", &r.ClientID}, {"name", &r.Name}, {"provider", &r.Provider}, {"reauth_account_id", &r.ReauthAccountID}} {
		if *f.dst, err = field(m, f.key); err != nil {
			return AuthorizeRequest{}, err
		}
	}
	addr, err := field(m, "email_address")
	if err != nil {
		return AuthorizeRequest{}, err
	}
	alt, err := field(m, "email")
	if err != nil {
		return AuthorizeRequest{}, err
	}
	if addr != "" && alt != "" && addr != alt {
		return AuthorizeRequest{}, invalidf("email_address and email differ; send one (email is the virtual calendar's field)")
	}
	r.EmailAddress = addr
	if r.EmailAddress == "" {
		r.EmailAddress = alt
	}
	switch sc := m["scopes"].(type) {
	case nil:
	case string:
		if len(sc) > maxField {
			return AuthorizeRequest{}, invalidf("scopes is %d bytes long; at most %d are allowed", len(sc), maxField)
		}
		r.Scopes = sc
	case []any:
		// The v6 Node SDK's VirtualCalendar sends ["calendar"].
		parts := make([]string, 0, len(sc))
		for _, v := range sc {
			s, ok := v.(string)
			if !ok {
				return AuthorizeRequest{}, invalidf("scopes must be a comma-separated string of v2 scopes, like \"email.read_only,calendar\"")
			}
			parts = append(parts, s)
		}
		r.Scopes = strings.Join(parts, ",")
		if len(r.Scopes) > maxField {
			return AuthorizeRequest{}, invalidf("scopes is %d bytes long; at most %d are allowed", len(r.Scopes), maxField)
		}
	default:
		return AuthorizeRequest{}, invalidf("scopes must be a comma-separated string of v2 scopes, like \"email.read_only,calendar\"")
	}
	switch s := m["settings"].(type) {
	case nil:
	case map[string]any:
		if len(s) > maxSettings {
			return AuthorizeRequest{}, invalidf("settings has %d keys; at most %d are allowed", len(s), maxSettings)
		}
		r.Settings = s
	default:
		return AuthorizeRequest{}, invalidf("settings must be an object with the provider's settings")
	}
	return r, nil
}

// ParseToken reads the body of POST /connect/token.
func ParseToken(body []byte) (TokenRequest, error) {
	m, err := decodeObject(body)
	if err != nil {
		return TokenRequest{}, err
	}
	fields := []string{"client_id", "client_secret", "code"}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(fields, k) {
			return TokenRequest{}, invalidf("%q is not a field of /connect/token; it takes client_id, client_secret and code", fault.Shorten(k, 64))
		}
	}
	var r TokenRequest
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_id", &r.ClientID}, {"client_secret", &r.ClientSecret}, {"code", &r.Code}} {
		if *f.dst, err = field(m, f.key); err != nil {
			return TokenRequest{}, err
		}
		if *f.dst == "" {
			return TokenRequest{}, invalidf("%s is required", f.key)
		}
	}
	return r, nil
}
