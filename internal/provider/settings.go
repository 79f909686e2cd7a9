package provider

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/grantd/grantd/internal/fault"
)

// DecodeSettings reads the settings of a request (as decoded from JSON,
// numbers as json.Number or float64, or stored settings after a round
// trip) into a T, a struct whose fields name their setting in a `setting`
// tag, followed by options:
//
//	type settings struct {
//		Username string `setting:"imap_username,required"`
//		Host     string `setting:"imap_host,trim"`
//		Port     int    `setting:"imap_port,port"`
//		Token    string `setting:"refresh_token,required,trim" about:"the user's OAuth refresh token"`
//	}
//
// A string field takes a JSON string; with required it must be present,
// not null and not blank; with trim it is stored without surrounding
// white space (never trim a password). An int field must have the port
// option: a port number from 1 to 65535, given as a JSON number or a
// numeric string. An absent or null setting, and a blank string for a
// port, leave the zero value. An about tag names what the value holds, for
// messages. Keys no field names are ignored: other layers read them
// (credential_id), and requests have always been free to send more.
//
// The error is a ClassBadRequest *Error naming the first setting that is
// wrong (in field order) and what it must be; it repeats no string value
// but a port's, which is never secret.
func DecodeSettings[T any](settings map[string]any) (T, error) {
	var out T
	v := reflect.ValueOf(&out).Elem()
	for _, f := range settingFields(v.Type()) {
		raw := settings[f.key]
		if raw == nil {
			if f.required {
				return out, f.errorf("is required%s", f.phrase(": a non-empty string holding %s"))
			}
			continue
		}
		fv := v.Field(f.index)
		if f.port {
			n, err := f.portNumber(raw)
			if err != nil {
				return out, err
			}
			fv.SetInt(int64(n))
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return out, f.errorf("must be a string%s, got %s", f.phrase(" holding %s"), jsonType(raw))
		}
		if f.required && strings.TrimSpace(s) == "" {
			if f.about != "" {
				return out, f.errorf("is empty: a non-empty string holding %s is required", f.about)
			}
			return out, f.errorf("is empty: a non-empty string is required")
		}
		if f.trim {
			s = strings.TrimSpace(s)
		}
		fv.SetString(s)
	}
	return out, nil
}

// settingField is one field of a settings struct.
type settingField struct {
	index                int
	key, about           string
	required, trim, port bool
}

var settingCache sync.Map // reflect.Type → []settingField

// settingFields reads the setting tags of struct type t, once. A tag it
// cannot use is a programming error: it panics on first use.
func settingFields(t reflect.Type) []settingField {
	if fs, ok := settingCache.Load(t); ok {
		return fs.([]settingField)
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("provider.DecodeSettings: %s is not a struct", t))
	}
	var fs []settingField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("setting")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := settingField{index: i, key: name, about: sf.Tag.Get("about")}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "required":
				f.required = true
			case "trim":
				f.trim = true
			case "port":
				f.port = true
			default:
				panic(fmt.Sprintf("provider.DecodeSettings: %s.%s: unknown option %q", t, sf.Name, o))
			}
		}
		switch k := sf.Type.Kind(); {
		case name == "" || !sf.IsExported():
			panic(fmt.Sprintf("provider.DecodeSettings: %s.%s: an exported field with a setting name", t, sf.Name))
		case k == reflect.String && !f.port:
		case k == reflect.Int && f.port && !f.required && !f.trim:
		default:
			panic(fmt.Sprintf("provider.DecodeSettings: %s.%s: a string (required, trim) or an int with the port option", t, sf.Name))
		}
		fs = append(fs, f)
	}
	settingCache.Store(t, fs)
	return fs
}

func (f settingField) errorf(format string, args ...any) *Error {
	return Errorf(ClassBadRequest, "settings.%s %s", f.key, fmt.Sprintf(format, args...))
}

// phrase is format with the field's about, or "" when it has none.
func (f settingField) phrase(format string) string {
	if f.about == "" {
		return ""
	}
	return fmt.Sprintf(format, f.about)
}

// portNumber reads a port: a JSON number (json.Number, float64 or an
// integer type) or a numeric string, holding an integer from 1 to 65535.
// A blank string is no port (0).
func (f settingField) portNumber(raw any) (int, error) {
	var (
		n   float64
		got string
	)
	switch t := raw.(type) {
	case json.Number:
		got = Shorten(t.String())
		v, err := t.Float64()
		if err != nil {
			return 0, f.portError(got)
		}
		n = v
	case float64:
		n, got = t, strconv.FormatFloat(t, 'g', -1, 64)
	case int:
		n, got = float64(t), strconv.Itoa(t)
	case int64:
		n, got = float64(t), strconv.FormatInt(t, 10)
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return 0, nil
		}
		got = strconv.Quote(Shorten(t))
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return 0, f.portError(got)
		}
		n = float64(v)
	default:
		return 0, f.portError(jsonType(raw))
	}
	if n != math.Trunc(n) || n < 1 || n > 65535 {
		return 0, f.portError(got)
	}
	return int(n), nil
}

func (f settingField) portError(got string) *Error {
	return f.errorf("must be a port number between 1 and 65535 (a number or a numeric string), got %s", got)
}

// Shorten cuts s, a value quoted in a message, to 40 bytes (on a rune
// boundary) and an Ellipsis.
func Shorten(s string) string { return fault.Shorten(s, 40) }

// jsonType names the JSON type of a value decoded by encoding/json.
func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case float64, int, int64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	default:
		return fmt.Sprintf("%T", v)
	}
}
