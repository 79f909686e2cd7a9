// Package emailaddr parses and checks email addresses: the one rule for
// what grantd accepts as an address (detection, and the accounts of
// password grants, whose address the caller gives).
package emailaddr

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxEmailBytes bounds an email address: a 64-byte local part, "@" and a
// 255-byte domain.
const MaxEmailBytes = 320

// Email is a parsed email address.
type Email struct {
	// Local is the local part, unquoted (as net/mail returns it).
	Local string
	// Domain is the domain in lower-case ASCII (IDNs as punycode).
	Domain string
}

// String is the canonical form: the local part (quoted when it is not a
// dot-atom) @ the ASCII domain. Parse(e.String()) == e.
func (e Email) String() string {
	s := (&mail.Address{Address: e.Local + "@" + e.Domain}).String() // "<addr-spec>"
	return s[1 : len(s)-1]
}

// idnaProfile maps a domain for lookup (UTS #46, non-transitional, so ß
// stays ß), allows only letters, digits and hyphens and checks DNS
// lengths.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.BidiRule(),
)

// DomainToASCII returns the lower-case ASCII (punycode) form of a domain given
// in Unicode or ASCII.
func DomainToASCII(domain string) (string, error) {
	a, err := idnaProfile.ToASCII(domain)
	if err != nil {
		return "", err
	}
	return strings.ToLower(a), nil
}

// Parse parses a bare address (user@example.com) by the rules of
// net/mail (RFC 5322 addr-spec, with RFC 6532 UTF-8): no display name, no
// angle brackets, no control characters, at most MaxEmailBytes bytes. The
// domain must be a host name (no address literal) and is converted to
// ASCII; both "bücher.de" and "xn--bcher-kva.de" give the same Email. Its
// errors say what is wrong, for people.
func Parse(s string) (Email, error) {
	if s == "" {
		return Email{}, fmt.Errorf("email is empty")
	}
	if len(s) > MaxEmailBytes {
		return Email{}, fmt.Errorf("email is %d bytes long; an address has at most %d", len(s), MaxEmailBytes)
	}
	if !utf8.ValidString(s) {
		return Email{}, fmt.Errorf("email is not valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return Email{}, fmt.Errorf("email contains a control character (%U at byte %d)", r, i)
		}
	}
	if s[0] == '<' || s[len(s)-1] == '>' {
		return Email{}, fmt.Errorf("email must be a bare address like user@example.com, without angle brackets")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return Email{}, fmt.Errorf("email is not an email address like user@example.com%s", addressHint(s))
	}
	if addr.Name != "" {
		return Email{}, fmt.Errorf("email must be a bare address like user@example.com, without a display name")
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at <= 0 {
		return Email{}, fmt.Errorf("email is not an email address like user@example.com")
	}
	local, domain := addr.Address[:at], addr.Address[at+1:]
	if !strings.HasSuffix(s, "@"+domain) {
		return Email{}, fmt.Errorf("email has spaces or comments around its domain")
	}
	if strings.HasPrefix(domain, "[") {
		return Email{}, fmt.Errorf("email domain must be a name, not an address literal like %s", domain)
	}
	if len(local) > 64 {
		return Email{}, fmt.Errorf("email local part is %d bytes long; at most 64", len(local))
	}
	ascii, err := DomainToASCII(domain)
	if err != nil {
		return Email{}, fmt.Errorf("email domain %q is not a valid domain name (%v)", domain, err)
	}
	if !strings.Contains(ascii, ".") {
		return Email{}, fmt.Errorf("email domain %q has no dot: expected a domain like example.com", domain)
	}
	if tld := ascii[strings.LastIndexByte(ascii, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		// RFC 3696 2: a top-level domain is never all-numeric; this is an
		// IP address written as a domain.
		return Email{}, fmt.Errorf("email domain %q is an IP address; expected a domain name like example.com", domain)
	}
	return Email{Local: local, Domain: ascii}, nil
}

// addressHint says, where it can, what makes s not an address (net/mail's
// own words, "no angle-addr", help nobody).
func addressHint(s string) string {
	at := strings.LastIndexByte(s, '@')
	switch {
	case at < 0:
		return ": it has no @"
	case at == 0:
		return ": nothing comes before the @"
	case at == len(s)-1:
		return ": nothing comes after the @"
	case strings.ContainsAny(s, " \t"):
		return ": it contains a space"
	case strings.HasSuffix(s, ".") || strings.Contains(s[at:], "..") || strings.HasPrefix(s[at+1:], "."):
		return ": its domain is not a host name"
	case strings.ContainsAny(s[:at], "()<>[]:;,\\\""):
		return ": its local part has characters that need quoting"
	}
	return ""
}
