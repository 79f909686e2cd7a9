package hosted

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/grantd/grantd/internal/fault"
)

// PKCE (RFC 7636) as the official SDKs send it. Methods:
//   - plain: the challenge is the verifier;
//   - S256 (RFC 7636): BASE64URL(SHA256(verifier)), no padding;
//   - the SDKs' quirk (nylas-v3-api.md §6): base64 (standard alphabet,
//     padding stripped) of the lower-case hex SHA-256 of the verifier,
//     sent as s256 by the Node and Python SDKs and as S256 by the Nylas
//     CLI.
//
// So S256 and s256 both accept either digest form. Verifiers are 36 to 128
// characters of [A-Za-z0-9-._~] (the SDKs' verifier is a 36-character
// UUID; RFC 7636 asks for 43 at least).

// Bounds of verifiers and challenges.
const (
	MinVerifier  = 36
	MaxVerifier  = 128
	MaxChallenge = 128
)

// normMethod returns the canonical method ("plain" or "S256"), or "" for
// an unknown one. An empty method is plain (RFC 7636 §4.3).
func normMethod(m string) string {
	switch m {
	case "", "plain":
		return "plain"
	case "S256", "s256":
		return "S256"
	}
	return ""
}

func unreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// checkChallenge says what is wrong with a challenge and its method, or
// returns nil; method is as sent.
func checkChallenge(challenge, method string) *Error {
	m := normMethod(method)
	if m == "" {
		return invalidRequest("code_challenge_method %q is not supported: use S256 (or plain)", fault.Shorten(method, 20))
	}
	if challenge == "" {
		return invalidRequest("code_challenge_method is set but code_challenge is missing")
	}
	min := MinVerifier
	if m == "S256" {
		min = 43 // a base64url SHA-256 digest; the SDKs' form is 86
	}
	if len(challenge) < min || len(challenge) > MaxChallenge {
		return invalidRequest("code_challenge is %d characters long; it must be %d to %d", len(challenge), min, MaxChallenge)
	}
	if m == "plain" && !unreserved(challenge) || m == "S256" && !unreserved(strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(challenge), "=")) {
		return invalidRequest("code_challenge has characters a %s challenge cannot have", m)
	}
	return nil
}

// checkVerifier says what is wrong with a verifier's form, or returns nil.
func checkVerifier(v string) *Error {
	if v == "" {
		return invalidRequest("code_verifier is required: the authorization was started with a code_challenge (PKCE)")
	}
	if len(v) < MinVerifier || len(v) > MaxVerifier {
		return invalidRequest("code_verifier is %d characters long; it must be %d to %d", len(v), MinVerifier, MaxVerifier)
	}
	if !unreserved(v) {
		return invalidRequest("code_verifier may contain only letters, digits, -, ., _ and ~")
	}
	return nil
}

// verifyPKCE reports whether verifier answers challenge under method
// (canonical).
func verifyPKCE(method, challenge, verifier string) bool {
	eq := func(a string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(challenge)) == 1 }
	if method == "plain" {
		return eq(verifier)
	}
	sum := sha256.Sum256([]byte(verifier))
	rfc := base64.RawURLEncoding.EncodeToString(sum[:])
	quirk := strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))), "=")
	// Both compared, always, so that timing says nothing of which.
	a, b := eq(rfc), eq(quirk)
	return a || b
}
