package provider_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
)

func TestRedactorForms(t *testing.T) {
	const pw = `Pa"ss\wo rd/+&é<x>`
	r := provider.NewRedactor(pw)
	jsonForm, _ := json.Marshal(pw)
	for name, echoed := range map[string]string{
		"raw":              pw,
		"query-escaped":    url.QueryEscape(pw),
		"path-escaped":     url.PathEscape(pw),
		"lower-case hex":   regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(pw), strings.ToLower),
		"json":             string(jsonForm[1 : len(jsonForm)-1]),
		"imap quoted":      `Pa\"ss\\wo rd/+&é<x>`,
		"base64 (SASL)":    base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64, no pad":   base64.RawStdEncoding.EncodeToString([]byte(pw)),
		"base64 URL-safe":  base64.URLEncoding.EncodeToString([]byte(pw)),
		"inside more text": "535 5.7.8 LOGIN alice " + pw + " failed",
	} {
		if got := r.String("server said: " + echoed + " (end)"); strings.Contains(got, echoed) || !strings.Contains(got, provider.Redacted) {
			t.Errorf("%s form survived: %q", name, got)
		}
	}
}

func TestRedactorCompoundForms(t *testing.T) {
	r := provider.NewRedactor("client-secret-1", "hunter22")
	r.AddEncoded(provider.BasicAuth("client-id", "client-secret-1"), provider.SASLPlain("", "alice", "hunter22"))
	for _, echoed := range []string{
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("client-id:client-secret-1")),
		"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00hunter22")),
	} {
		got := r.String(echoed)
		enc := echoed[strings.LastIndex(echoed, " ")+1:]
		if strings.Contains(got, enc) {
			t.Errorf("compound form survived: %q", got)
		}
	}
}

func TestRedactorLongestFirst(t *testing.T) {
	// The SMTP password extends the IMAP one: redacting the shorter first
	// would leave the tail of the longer.
	r := provider.NewRedactor("hunter2", "hunter2-smtp")
	if got := r.String("imap hunter2 smtp hunter2-smtp"); got != "imap [REDACTED] smtp [REDACTED]" {
		t.Errorf("got %q", got)
	}
}

func TestRedactorShortenedText(t *testing.T) {
	token := "1//0g" + strings.Repeat("Abc123_-", 80)
	r := provider.NewRedactor(token)
	for _, cut := range []int{5, 9, 100, len(token) - 1} {
		text := "invalid token " + token[:cut] + provider.Ellipsis + " then more"
		got := r.String(text)
		if strings.Contains(got, token[:min(cut, 5)]) || got != "invalid token "+provider.Redacted+provider.Ellipsis+" then more" {
			t.Errorf("cut at %d: %q", cut, got)
		}
	}
	// Fewer than four bytes of a secret are not secret, and text that is
	// not a secret's beginning stays.
	if got := r.String("x 1//" + provider.Ellipsis); got != "x 1//"+provider.Ellipsis {
		t.Errorf("short tail redacted: %q", got)
	}
	if got := r.String("plain words" + provider.Ellipsis); got != "plain words"+provider.Ellipsis {
		t.Errorf("ordinary text redacted: %q", got)
	}
}

func TestRedactorEllipsisInsideSecret(t *testing.T) {
	r := provider.NewRedactor("abc" + provider.Ellipsis + "defgh")
	got := r.String("pw abc" + provider.Ellipsis + "defg" + provider.Ellipsis)
	if got != "pw "+provider.Redacted+provider.Ellipsis {
		t.Errorf("got %q", got)
	}
}

func TestRedactorCopy(t *testing.T) {
	a := provider.NewRedactor("hunter2-secret")
	_ = a.String("x") // built
	b := *a
	b.AddEncoded("zzzz-a-much-longer-encoded-form")
	_ = b.String("y")
	if got := a.String("pw hunter2-secret"); got != "pw [REDACTED]" {
		t.Errorf("the original after a copy was used: %q", got)
	}
}

func TestRedactorError(t *testing.T) {
	secret := "s3cr/et+token"
	r := provider.NewRedactor(secret, "ab") // too short to redact
	cause := fmt.Errorf("wrapped: %w", errors.New("body had s3cr%2Fet%2Btoken in it"))
	in := &provider.Error{
		Class:         provider.ClassInvalidCredentials,
		Message:       "token s3cr/et+token rejected (ab)",
		ProviderError: map[string]any{"d": "bad s3cr/et+token", "list": []any{"s3cr/et+token", int64(1)}, "strs": []string{"x s3cr/et+token"}, "status": 400},
		Err:           cause,
	}
	out := r.Error(in).(*provider.Error)
	if out.Message != "token [REDACTED] rejected (ab)" || out.ProviderError["status"] != 400 {
		t.Errorf("got %q %v", out.Message, out.ProviderError)
	}
	if all := fmt.Sprint(out, out.ProviderError); strings.Contains(all, secret) || strings.Contains(all, "s3cr%2Fet") {
		t.Errorf("secret survived: %s", all)
	}
	if errors.Unwrap(out.Err) != nil {
		t.Errorf("redacted cause still unwraps to the original")
	}
	if in.Message != "token s3cr/et+token rejected (ab)" {
		t.Errorf("Error modified its input")
	}
	clean := &provider.Error{Class: provider.ClassUnavailable, Message: "m", Err: cause, ProviderError: map[string]any{"a": "b"}}
	if got := provider.NewRedactor("nothing-here").Error(clean); got != clean {
		t.Errorf("an error without secrets was replaced") // errors.Is must keep working
	}
	if r.Error(nil) != nil {
		t.Errorf("Error(nil) != nil")
	}
	if plain := r.Error(errors.New("x s3cr/et+token")); strings.Contains(plain.Error(), secret) {
		t.Errorf("plain error not redacted: %v", plain)
	}
	var nilR *provider.Redactor
	if nilR.String("a") != "a" {
		t.Errorf("nil Redactor")
	}
}

// FuzzRedactor: whatever the secret and the text around it, no form of
// the secret that the Redactor knows survives, nor its beginning before an
// Ellipsis.
func FuzzRedactor(f *testing.F) {
	f.Add("hunter22", "before ", " after", 3)
	f.Add(`p"a\ss`, "LOGIN alice ", "", 0)
	f.Add("1//0gABCDEF", "", "…", 7)
	f.Fuzz(func(t *testing.T, secret, before, after string, cut int) {
		if len(secret) < 4 || strings.Contains(before+after, provider.Redacted) {
			return
		}
		r := provider.NewRedactor(secret)
		for _, form := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret))} {
			got := r.String(before + form + after)
			if strings.Contains(got, form) {
				t.Fatalf("form %q survived in %q", form, got)
			}
		}
		if cut < 0 {
			cut = -cut
		}
		if n := 4 + cut%len(secret); n < len(secret) {
			got := r.String(before + secret[:n] + provider.Ellipsis)
			if strings.HasSuffix(got, secret[:n]+provider.Ellipsis) {
				t.Fatalf("cut secret %q survived in %q", secret[:n], got)
			}
		}
	})
}

// LooseAddress accepts what any password validator accepted before the
// strict rule (re-checks of stored grants must not refuse them).
func TestLooseAddress(t *testing.T) {
	for _, a := range []string{"ada@mailhost", "alice@contoso", "a,b@corp.com", `"x"@corp.com`, "a;b@example.com", " bob@example.com "} {
		if !provider.LooseAddress(a) {
			t.Errorf("%q refused", a)
		}
	}
	for _, a := range []string{"", "alice", "@example.com", "alice@", "a b@example.com", "<a@example.com>", "a\t@example.com"} {
		if provider.LooseAddress(a) {
			t.Errorf("%q accepted", a)
		}
	}
}
