package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/provider"
)

// MaxLineBytes is the longest line accepted, without its line end.
const MaxLineBytes = 1 << 20

// MaxExternalIDBytes bounds a line's external_id.
const MaxExternalIDBytes = 512

// Line is one line of the file: the body of POST /v3/connect/custom plus
// the caller's external_id. Export writes it; Parse reads it more
// leniently (scope as a string too, external_id as a number too).
type Line struct {
	ExternalID string         `json:"external_id,omitempty"`
	Provider   string         `json:"provider"`
	Settings   map[string]any `json:"settings"`
	Scope      []string       `json:"scope,omitempty"`
	State      string         `json:"state,omitempty"`
}

// Item is a line that passed the checks: what a Sender sends.
type Item struct {
	Line       int // line number in the input, from 1 (blank lines count)
	ExternalID string
	Provider   string
	// Email is the account's address when the settings say it (password
	// providers), lower-cased; "" for OAuth providers.
	Email string
	// Body is the line as read: the request body (grantd ignores
	// external_id). It holds secrets: never log it.
	Body []byte
	// The parsed request, for a Sender that calls the grant service
	// directly. Scope is nil when the line has none.
	Settings map[string]any
	Scope    []string
	State    string
	// Replayed says an earlier run sent this line and recorded no
	// outcome (it was stopped meanwhile): grantd may already have made
	// its grant.
	Replayed bool

	dupKey  string // same account within the input (see dupKeyOf)
	dupWhat string
}

// Outcomes of a line.
const (
	OutcomeCreated         = "created"
	OutcomeReauthenticated = "reauthenticated"
	OutcomeFailed          = "failed"
)

// Failure classes.
const (
	// ClassInput: the line itself is wrong (not JSON, too long, unknown
	// provider, missing settings, a duplicate); nothing was sent.
	ClassInput = "input"
	// ClassPermanent: grantd refused the line (a 4xx: a revoked token, a
	// wrong password, no connector); retrying would not help.
	ClassPermanent = "permanent"
	// ClassTransient: grantd or the provider could not be reached or
	// failed (504 api.provider_error, 5xx, a refused or cut connection),
	// still after every retry; a rerun tries the line again.
	ClassTransient = "transient"
)

// Error types of the input class (grantd's own types, such as
// api.invalid_request_error, describe the others).
const (
	TypeInvalidJSON     = "import.invalid_json"
	TypeLineTooLong     = "import.line_too_long"
	TypeMissingField    = "import.missing_field"
	TypeInvalidField    = "import.invalid_field"
	TypeUnknownProvider = "import.unknown_provider"
	TypeInvalidSettings = "import.invalid_settings"
	TypeUnsupported     = "import.unsupported"
	TypeDuplicate       = "import.duplicate"
	TypeUnreachable     = "import.unreachable" // no answer from grantd (transient)
)

// ErrorInfo says why a line failed. Message is for people and never
// holds a secret from the line.
type ErrorInfo struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Class   string `json:"class"`
	// Status is grantd's HTTP status, when grantd answered.
	Status int `json:"status,omitempty"`
	// ProviderError is grantd's error.provider_error: the provider's own
	// words (grantd keeps secrets out of it).
	ProviderError map[string]any `json:"provider_error,omitempty"`
}

func inputError(typ, format string, args ...any) *ErrorInfo {
	return &ErrorInfo{Type: typ, Class: ClassInput, Message: fmt.Sprintf(format, args...)}
}

// Parse reads and checks line number n (without its line end, at most
// MaxLineBytes long): JSON, provider, required settings, bounds of state
// and scope. It contacts nothing. Item.Body is raw itself: copy it to
// keep it longer than raw.
func Parse(n int, raw []byte) (it Item, bad *ErrorInfo) {
	it.Line = n
	if len(raw) > MaxLineBytes {
		return it, lineTooLong()
	}
	if !utf8.Valid(raw) {
		return it, inputError(TypeInvalidJSON, "the line is not valid UTF-8; the file must be UTF-8 JSON")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return it, notJSON(raw, err)
	}
	if top == nil {
		return it, inputError(TypeInvalidJSON, "the line must be a JSON object, got null")
	}
	if e := decodeField(top, "external_id", &it.ExternalID, externalID); e != nil {
		return it, e
	}
	if e := decodeField(top, "provider", &it.Provider, stringField); e != nil {
		return it, e
	}
	if strings.TrimSpace(it.Provider) == "" {
		return it, inputError(TypeMissingField, "provider is required; one of: %s", strings.Join(Providers(), ", "))
	}
	if !knownProvider(it.Provider) {
		return it, inputError(TypeUnknownProvider, "provider %q is not one grantd imports; use one of: %s", provider.Shorten(it.Provider), strings.Join(Providers(), ", "))
	}
	rawSettings, ok := top["settings"]
	if !ok || string(rawSettings) == "null" {
		return it, inputError(TypeMissingField, "settings is required: an object with the %s credentials", it.Provider)
	}
	dec := json.NewDecoder(bytes.NewReader(rawSettings))
	dec.UseNumber()
	if err := dec.Decode(&it.Settings); err != nil || it.Settings == nil {
		return it, inputError(TypeInvalidField, "settings must be an object, got %s", rawKind(rawSettings))
	}
	if e := decodeField(top, "state", &it.State, stringField); e != nil {
		return it, e
	}
	if n := utf8.RuneCountInString(it.State); n > grant.MaxStateLength {
		return it, inputError(TypeInvalidField, "state is %d characters long; at most %d are allowed", n, grant.MaxStateLength)
	}
	if e := decodeField(top, "scope", &it.Scope, scopeField); e != nil {
		return it, e
	}
	if e := checkScope(it.Scope); e != nil {
		return it, e
	}
	if it.Email, bad = checkSettings(it.Provider, it.Settings); bad != nil {
		return it, bad
	}
	it.dupKey, it.dupWhat = dupKeyOf(it)
	it.Body = raw
	return it, nil
}

func lineTooLong() *ErrorInfo {
	return inputError(TypeLineTooLong, "the line is longer than %d bytes (1 MiB)", MaxLineBytes)
}

// notJSON describes a JSON error without quoting the line (a syntax
// error's own message quotes a character of it).
func notJSON(raw []byte, err error) *ErrorInfo {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return inputError(TypeInvalidJSON, "the line is not valid JSON: syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return inputError(TypeInvalidJSON, "the line must be a JSON object, got %s", rawKind(raw))
	}
	return inputError(TypeInvalidJSON, "the line is not valid JSON")
}

// decodeField decodes top[key], when present and not null, with dec.
func decodeField[T any](top map[string]json.RawMessage, key string, dst *T, dec func(key string, raw json.RawMessage, dst *T) *ErrorInfo) *ErrorInfo {
	raw, ok := top[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	return dec(key, raw, dst)
}

func stringField(key string, raw json.RawMessage, dst *string) *ErrorInfo {
	if err := json.Unmarshal(raw, dst); err != nil {
		return inputError(TypeInvalidField, "%s must be a string, got %s", key, rawKind(raw))
	}
	return nil
}

// externalID takes a string or an integer (kept as written).
func externalID(key string, raw json.RawMessage, dst *string) *ErrorInfo {
	var n json.Number
	switch {
	case json.Unmarshal(raw, dst) == nil:
	case json.Unmarshal(raw, &n) == nil && !strings.ContainsAny(n.String(), ".eE"):
		*dst = n.String()
	default:
		return inputError(TypeInvalidField, "%s must be a string or an integer, got %s", key, rawKind(raw))
	}
	if len(*dst) > MaxExternalIDBytes {
		return inputError(TypeInvalidField, "%s is %d bytes long; at most %d are allowed", key, len(*dst), MaxExternalIDBytes)
	}
	return nil
}

// scopeField takes an array of strings or one string of comma- or
// space-separated scopes, as grantd does.
func scopeField(key string, raw json.RawMessage, dst *[]string) *ErrorInfo {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		*dst = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		if *dst == nil {
			*dst = []string{}
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return inputError(TypeInvalidField, "%s must be an array of strings or a comma-separated string, got %s", key, rawKind(raw))
	}
	return nil
}

func checkScope(scope []string) *ErrorInfo {
	if len(scope) > grant.MaxScopes {
		return inputError(TypeInvalidField, "scope has %d entries; at most %d are allowed", len(scope), grant.MaxScopes)
	}
	for i, sc := range scope {
		if strings.TrimSpace(sc) == "" {
			return inputError(TypeInvalidField, "scope[%d] is empty", i)
		}
		if len(sc) > grant.MaxScopeLength {
			return inputError(TypeInvalidField, "scope[%d] is %d bytes long; at most %d are allowed", i, len(sc), grant.MaxScopeLength)
		}
	}
	return nil
}

// rawKind names the JSON type of raw.
func rawKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// dupKeyOf is what makes two lines the same account: the email address
// (grantd keeps one grant per email address in an application, whatever
// the provider), or for OAuth lines, whose address only the provider
// knows, the refresh token. what describes it for a message.
func dupKeyOf(it Item) (key, what string) {
	if it.Email != "" {
		return "e\x00" + it.Email, "email address " + it.Email
	}
	if tok := str(it.Settings, "refresh_token"); tok != "" {
		return "t\x00" + it.Provider + "\x00" + tok, it.Provider + " refresh token"
	}
	return "", ""
}
