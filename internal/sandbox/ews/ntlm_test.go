package ews

import (
	"testing"

	"github.com/Azure/go-ntlmssp"
)

// The server side accepts what a real NTLMv2 client computes from the right
// password, and nothing else.
func TestVerifyNTLMv2(t *testing.T) {
	for _, tc := range []struct {
		username, password string
		want               bool
	}{
		{`CONTOSO\alice`, "alice-pw", true},
		{`contoso\ALICE`, "alice-pw", true}, // user name is case-insensitive, NTOWFv2 upper-cases it
		{"alice@contoso.test", "alice-pw", true},
		{`CONTOSO\alice`, "alice-pw ", false},
		{`CONTOSO\alice`, "Alice-pw", false},
		{`CONTOSO\alice`, "", false},
	} {
		ch, msg, err := newChallenge("CONTOSO", "EXCH01")
		if err != nil {
			t.Fatal(err)
		}
		if typ, err := ntlmMessageType(msg); err != nil || typ != 2 {
			t.Fatalf("challenge type %d %v", typ, err)
		}
		if tc.password == "" {
			// go-ntlmssp refuses anonymous; an empty password is just wrong.
			tc.password = "x"
		}
		am, err := ntlmssp.NewAuthenticateMessage(msg, tc.username, tc.password, nil)
		if err != nil {
			t.Fatalf("client could not answer the challenge: %v", err)
		}
		a, err := parseAuthenticate(am)
		if err != nil {
			t.Fatal(err)
		}
		if got := verifyNTLMv2(ch, a, "alice-pw"); got != tc.want {
			t.Errorf("%s / %q: verified=%v, want %v", tc.username, tc.password, got, tc.want)
		}
		// The same answer never verifies against another challenge.
		other, _, _ := newChallenge("CONTOSO", "EXCH01")
		if verifyNTLMv2(other, a, "alice-pw") {
			t.Errorf("%s: response verified against a different challenge", tc.username)
		}
		// A tampered proof fails.
		a.NTResponse = append([]byte(nil), a.NTResponse...)
		a.NTResponse[3] ^= 1
		if verifyNTLMv2(ch, a, "alice-pw") {
			t.Errorf("%s: tampered response verified", tc.username)
		}
	}
}

func TestParseAuthenticateRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("NTLMSSP\x00"), []byte("NTLMSSP\x00\x03\x00\x00\x00"), []byte("hello world, not ntlm at all......................................")} {
		if _, err := parseAuthenticate(b); err == nil {
			t.Errorf("parsed %q", b)
		}
	}
}
