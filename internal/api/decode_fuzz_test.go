package api

import (
	"errors"
	"testing"
)

// FuzzDecodeBody feeds arbitrary bodies to the request decoder: it never
// panics, and every rejection is a 4xx API error with a message.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"provider":"google","settings":{"refresh_token":"x"},"scope":"a,b"}`,
		`{"provider":"imap","settings":{"imap_port":"993"},"scope":["a"]}`,
		`{"scope":5}`, `{"scope":[1]}`, `{"settings":"x"}`, `[]`, `null`, ``, `{"a":1} {}`, `{"provider":`,
		"{\"provider\":\"\x00\"}", `{"scope":null,"state":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c customAuthBody
		err := decodeBody(body, &c)
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
