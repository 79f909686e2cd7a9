package hosted

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// The reference's test vector for the SDKs' PKCE (nylas-python #329), RFC
// 7636's S256 and plain.
func TestVerifyPKCE(t *testing.T) {
	if !verifyPKCE("S256", "ZTk2YmY2Njg2YTNjMzUxMGU5ZTkyN2RiNzA2OWNiMWNiYTliOTliMDIyZjQ5NDgzYTZjZTMyNzA4MDllNjhhMg", "nylas") {
		t.Error("the SDKs' challenge of nylas")
	}
	v := oauth2.GenerateVerifier()
	if !verifyPKCE("S256", oauth2.S256ChallengeFromVerifier(v), v) {
		t.Error("RFC 7636 S256")
	}
	if verifyPKCE("S256", oauth2.S256ChallengeFromVerifier(v), v+"x") {
		t.Error("a wrong verifier passed")
	}
	if !verifyPKCE("plain", v, v) || verifyPKCE("plain", v, v+"x") || verifyPKCE("S256", v, v) {
		t.Error("plain")
	}
	if normMethod("s256") != "S256" || normMethod("") != "plain" || normMethod("S512") != "" {
		t.Error("normMethod")
	}
}

// FuzzParseTokenRequest: any body gives a request or an invalid_request
// 400, never a panic; what it accepts holds no NUL and round-trips the
// grant type of a form.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/json", `{"grant_type":"authorization_code","client_id":"a","code":"c","redirect_uri":"http://localhost/cb","code_verifier":"v"}`)
	f.Add("application/json", `{"grant_type":"refresh_token","grant_type":"x"}`)
	f.Add("application/json", `{"grant_type":1}`)
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=grt_x&client_id=a")
	f.Add("application/x-www-form-urlencoded", "grant_type=a&grant_type=b")
	f.Add("", `{"client_id":null}`)
	f.Add("text/plain", "x")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r, e := ParseTokenRequest(ct, []byte(body))
		if e != nil {
			if e.Status != 400 || e.Code != "invalid_request" || e.Description == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		for _, v := range []string{r.GrantType, r.ClientID, r.ClientSecret, r.Code, r.RedirectURI, r.CodeVerifier, r.RefreshToken, r.GrantID, r.Scope} {
			if strings.ContainsRune(v, 0) || len(v) > 4096 {
				t.Fatalf("accepted %q", v)
			}
		}
	})
}

// FuzzParseAuthorize: any query gives a request or an invalid_request;
// a parameter given twice is always refused.
func FuzzParseAuthorize(f *testing.F) {
	f.Add("client_id=a&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&response_type=code&provider=google&scope=a+b")
	f.Add("state=a&state=b")
	f.Add("code_challenge=x&code_challenge_method=s256")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, e := ParseAuthorize(q)
		if repeated(q) != "" {
			if e == nil {
				t.Fatalf("a repeated parameter was accepted: %q", raw)
			}
			return
		}
		if e != nil {
			t.Fatalf("refused %q: %v", raw, e)
		}
		for _, sc := range r.Scope {
			if sc == "" || strings.ContainsAny(sc, " ,") {
				t.Fatalf("scope entry %q", sc)
			}
		}
	})
}

// FuzzCheckChallenge: an accepted challenge is within bounds; a verifier
// accepted by checkVerifier verifies against its own plain and S256
// challenges.
func FuzzCheckChallenge(f *testing.F) {
	f.Add("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", "dBjftJeZ4CVP-mJ92K9qS7zCq9F5DbUkG5y6X6E8b7s")
	f.Add("abc", "plain", "b189f8f0-a204-41ce-a996-3a9a94f209aa")
	f.Add("x", "S512", "")
	f.Fuzz(func(t *testing.T, challenge, method, verifier string) {
		if e := checkChallenge(challenge, method); e == nil {
			if len(challenge) < MinVerifier || len(challenge) > MaxChallenge || !utf8.ValidString(challenge) {
				t.Fatalf("accepted challenge %q", challenge)
			}
		}
		if checkVerifier(verifier) == nil {
			if !verifyPKCE("plain", verifier, verifier) || !verifyPKCE("S256", oauth2.S256ChallengeFromVerifier(verifier), verifier) {
				t.Fatalf("verifier %q does not verify", verifier)
			}
			if checkChallenge(verifier, "plain") != nil {
				t.Fatalf("verifier %q is no plain challenge", verifier)
			}
		}
	})
}
