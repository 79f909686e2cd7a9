package provider_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
)

type testSettings struct {
	User  string `setting:"user,required"`
	Token string `setting:"token,trim" about:"the user's token"`
	Need  string `setting:"need,required,trim" about:"the user's refresh token"`
	Host  string `setting:"host,trim"`
	Port  int    `setting:"port,port"`
	Other string // no tag: not a setting
}

func decode(t *testing.T, m map[string]any) (testSettings, *provider.Error) {
	t.Helper()
	s, err := provider.DecodeSettings[testSettings](m)
	if err == nil {
		return s, nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class != provider.ClassBadRequest {
		t.Fatalf("error %v is not a bad request", err)
	}
	return s, pe
}

func TestDecodeSettings(t *testing.T) {
	base := func() map[string]any { return map[string]any{"user": " u ", "need": " rt "} }
	s, pe := decode(t, map[string]any{"user": " u ", "need": " rt ", "token": " t ", "host": " h ", "port": json.Number("993"),
		"Other": "x", "credential_id": 5})
	if pe != nil {
		t.Fatal(pe)
	}
	if s.User != " u " || s.Need != "rt" || s.Token != "t" || s.Host != "h" || s.Port != 993 || s.Other != "" {
		t.Errorf("decoded %+v", s)
	}

	for _, tc := range []struct {
		name string
		set  map[string]any
		msg  string // "" = accepted
		port int
	}{
		{name: "missing", set: map[string]any{"user": nil}, msg: "settings.user is required"},
		{name: "missing with about", set: map[string]any{"need": nil},
			msg: "settings.need is required: a non-empty string holding the user's refresh token"},
		{name: "not a string", set: map[string]any{"user": 42.0}, msg: "settings.user must be a string, got a number"},
		{name: "not a string with about", set: map[string]any{"token": map[string]any{}},
			msg: "settings.token must be a string holding the user's token, got an object"},
		{name: "array", set: map[string]any{"host": []any{"h"}}, msg: "settings.host must be a string, got an array"},
		{name: "blank required", set: map[string]any{"user": " \t"}, msg: "settings.user is empty: a non-empty string is required"},
		{name: "blank required with about", set: map[string]any{"need": ""},
			msg: "settings.need is empty: a non-empty string holding the user's refresh token is required"},
		{name: "blank optional", set: map[string]any{"token": " "}},
		{name: "null optional", set: map[string]any{"token": nil}},
		{name: "port json number", set: map[string]any{"port": json.Number("143")}, port: 143},
		{name: "port json number with a fraction of zero", set: map[string]any{"port": json.Number("143.0")}, port: 143},
		{name: "port float64", set: map[string]any{"port": 587.0}, port: 587},
		{name: "port int", set: map[string]any{"port": 25}, port: 25},
		{name: "port int64", set: map[string]any{"port": int64(465)}, port: 465},
		{name: "port numeric string", set: map[string]any{"port": " 993 "}, port: 993},
		{name: "port blank string", set: map[string]any{"port": " "}},
		{name: "port word", set: map[string]any{"port": "nine"},
			msg: `settings.port must be a port number between 1 and 65535 (a number or a numeric string), got "nine"`},
		{name: "port out of range", set: map[string]any{"port": json.Number("70000")}, msg: "between 1 and 65535 (a number or a numeric string), got 70000"},
		{name: "port zero", set: map[string]any{"port": 0}, msg: "got 0"},
		{name: "port negative string", set: map[string]any{"port": "-1"}, msg: `got "-1"`},
		{name: "port fraction", set: map[string]any{"port": 5.5}, msg: "got 5.5"},
		{name: "port huge string", set: map[string]any{"port": strings.Repeat("9", 80)}, msg: `got "` + strings.Repeat("9", 40) + provider.Ellipsis + `"`},
		{name: "port exponent string", set: map[string]any{"port": "1e3"}, msg: "must be a port number"},
		{name: "port boolean", set: map[string]any{"port": true}, msg: "settings.port must be a port number between 1 and 65535 (a number or a numeric string), got a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			for k, v := range tc.set {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			s, pe := decode(t, m)
			switch {
			case tc.msg == "" && pe != nil:
				t.Fatalf("refused: %v", pe)
			case tc.msg != "" && pe == nil:
				t.Fatalf("accepted: %+v", s)
			case tc.msg != "" && !strings.Contains(pe.Message, tc.msg):
				t.Fatalf("message %q does not contain %q", pe.Message, tc.msg)
			case tc.msg == "" && s.Port != tc.port:
				t.Fatalf("port %d, want %d", s.Port, tc.port)
			}
		})
	}
	// A null setting is an absent one; nil settings have none.
	if _, pe := decode(t, map[string]any{"user": "u", "need": "x", "port": nil}); pe != nil {
		t.Errorf("null port: %v", pe)
	}
	if _, pe := decode(t, nil); pe == nil || pe.Message != "settings.user is required" {
		t.Errorf("nil settings: %v", pe)
	}
}

// Settings structs the decoder cannot serve.
type (
	intWithoutPort struct {
		N int `setting:"n"`
	}
	portOnString struct {
		N string `setting:"n,port"`
	}
	unknownOption struct {
		N string `setting:"n,secret"`
	}
	noName struct {
		N string `setting:",required"`
	}
	boolSetting struct {
		N bool `setting:"n"`
	}
	requiredPort struct {
		N int `setting:"n,port,required"`
	}
	unexportedSetting struct {
		//lint:ignore U1000 never set: the decoder must refuse it
		n string `setting:"n"`
	}
)

// mustPanic fails t unless decoding into T panics.
func mustPanic[T any](t *testing.T) {
	t.Helper()
	defer func() {
		if recover() == nil {
			var z T
			t.Errorf("%T: no panic", z)
		}
	}()
	_, _ = provider.DecodeSettings[T](nil)
}

// A settings struct the decoder cannot serve is a programming error,
// found on first use.
func TestDecodeSettingsBadTags(t *testing.T) {
	mustPanic[intWithoutPort](t)
	mustPanic[portOnString](t)
	mustPanic[unknownOption](t)
	mustPanic[noName](t)
	mustPanic[boolSetting](t)
	mustPanic[requiredPort](t)
	mustPanic[unexportedSetting](t)
}

// Whatever JSON the settings hold, decoding answers a value or a bad
// request, and never panics.
func FuzzDecodeSettings(f *testing.F) {
	for _, s := range []string{`{"user":"u","need":"x","port":"993"}`, `{"port":1e308}`, `{"user":[1,{"a":null}],"port":-0.0}`, `{"need":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil {
			return
		}
		s, pe := decode(t, m)
		if pe == nil && (s.Port < 0 || s.Port > 65535) {
			t.Fatalf("port %d accepted", s.Port)
		}
	})
}

// The decoder's cost on every validation (IMAP's nine settings).
func BenchmarkDecodeSettings(b *testing.B) {
	type imapLike struct {
		IMAPUsername string `setting:"imap_username,required"`
		IMAPPassword string `setting:"imap_password,required"`
		SMTPUsername string `setting:"smtp_username"`
		SMTPPassword string `setting:"smtp_password"`
		Email        string `setting:"email"`
		IMAPHost     string `setting:"imap_host,trim"`
		SMTPHost     string `setting:"smtp_host,trim"`
		IMAPPort     int    `setting:"imap_port,port"`
		SMTPPort     int    `setting:"smtp_port,port"`
	}
	m := map[string]any{"imap_username": "ada@example.com", "imap_password": "pw", "imap_host": "imap.example.com",
		"imap_port": json.Number("993"), "smtp_host": "smtp.example.com", "smtp_port": "587"}
	for b.Loop() {
		if _, err := provider.DecodeSettings[imapLike](m); err != nil {
			b.Fatal(err)
		}
	}
}
