package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeBody feeds arbitrary bodies to the request decoder: it never
// panics, every rejection is a 4xx API error with a message, and a body
// whose strings decode to more U+FFFD than it spells (a lone UTF-16
// surrogate, which encoding/json turns into U+FFFD) is refused.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"provider":"google","settings":{"refresh_token":"x"},"scope":"a,b"}`,
		`{"provider":"imap","settings":{"imap_port":"993"},"scope":["a"]}`,
		`{"scope":5}`, `{"scope":[1]}`, `{"settings":"x"}`, `[]`, `null`, ``, `{"a":1} {}`, `{"provider":`,
		"{\"provider\":\"\x00\"}", `{"scope":null,"state":7}`,
		`{"settings":{"imap_password":"\ud800"}}`, `{"settings":{"p":"\ud83d\ude00"}}`, `{"state":"\udc00\ud800"}`,
		`{"scope":["\ud83d\ud83d\ude00"]}`, `{"s\uDBFF":1}`, `{"state":"\\ud800"}`, `{"state":"\ufffd\uFFFD` + "\xef\xbf\xbd" + `"}`,
		`"\ud800"`, `{"settings":{"a":[{"b":"\ud800x"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c customAuthBody
		err := decodeBody(body, &c)
		if replacedCharacters(body) && err == nil {
			t.Fatalf("a body with a lone surrogate was accepted: %q", body)
		}
		if err == nil {
			_ = c.Scope.get()
			return
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Message == "" || ae.Type == "" {
			t.Fatalf("decode error is not a 4xx API error: %#v", err)
		}
	})
}

var escapedFFFD = regexp.MustCompile(`(?i)\\ufffd`)

// replacedCharacters reports whether encoding/json reads more U+FFFD in
// body's strings and keys than body spells, as a character or an escape:
// the decoder made some up. Only a valid UTF-8 body is asked (invalid
// UTF-8 is refused before).
func replacedCharacters(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	spelled := bytes.Count(body, []byte("\uFFFD")) + len(escapedFFFD.FindAll(body, -1))
	dec := json.NewDecoder(bytes.NewReader(body))
	read := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false // not JSON: refused anyway
		}
		if s, ok := tok.(string); ok {
			read += strings.Count(s, "\uFFFD")
		}
	}
	return read > spelled
}

// A problem deep in a body is named with a path of bounded length.
func TestDeepProblemPath(t *testing.T) {
	const depth = 9000
	body := `{"settings":{"a":` + strings.Repeat("[", depth) + `1,"\u0000"` + strings.Repeat("]", depth) + `}}`
	var c customAuthBody
	err := decodeBody([]byte(body), &c)
	var ae *Error
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, "field settings.a[0][0][0][0]…[0][0][0][0][0][1]: contains a NUL character") || len(ae.Message) > 200 {
		t.Fatalf("%v", err)
	}
}

// BenchmarkDecodeDeepProblem: 50,000 numbers 5,000 deep, then a NUL (the
// value check walks them once; the path is spelled only for the problem
// found, not at every value, which made this quadratic).
func BenchmarkDecodeDeepProblem(b *testing.B) {
	const depth = 5000
	body := []byte(`{"settings":{"a":` + strings.Repeat("[", depth) + strings.Repeat("1,", 50000) + `"\u0000"` + strings.Repeat("]", depth) + `}}`)
	for b.Loop() {
		var c customAuthBody
		if err := decodeBody(body, &c); err == nil {
			b.Fatal("accepted")
		}
	}
}
