package provider

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/fault"
)

// Redacted replaces a secret in messages.
const Redacted = "[REDACTED]"

// Ellipsis ends a text that was shortened. A Redactor also removes the
// beginning of a secret that stands right before it (the rest of the
// secret having been cut off).
const Ellipsis = fault.Ellipsis

// minSecret is the length below which a string is not redacted: shorter
// ones would redact ordinary words.
const minSecret = 4

// A Redactor removes secrets from errors: the secrets a validation has
// seen (passwords, tokens, client secrets) in every form in which they
// travel to a server and may come back in its answer: as is, URL-encoded
// (query or path, upper- or lower-case hex), JSON-escaped,
// backslash-escaped (an IMAP quoted string), base64-encoded (SASL LOGIN),
// and, through AddEncoded, compound encodings such as HTTP Basic and SASL
// PLAIN credentials. Longer forms are replaced first, so a secret that
// extends another is not half-redacted. The zero value is ready to use; a
// Redactor is not safe for concurrent use.
type Redactor struct {
	secrets []string // as added
	encoded []string // added by AddEncoded
	forms   []string // every form, longest first; built on first use
	built   bool
}

// NewRedactor returns a Redactor for secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add adds secrets, with their encodings. It is cheap: the encodings are
// computed when a text is first redacted (most validations succeed).
func (r *Redactor) Add(secrets ...string) {
	for _, s := range secrets {
		if len(s) >= minSecret {
			r.secrets = append(r.secrets, s)
			r.built = false
		}
	}
}

// AddEncoded adds strings that are redacted exactly as given (BasicAuth,
// SASLPlain).
func (r *Redactor) AddEncoded(forms ...string) {
	r.encoded = append(r.encoded, forms...)
	r.built = false
}

// build computes every form of the secrets, longest first.
func (r *Redactor) build() {
	if r.built {
		return
	}
	r.forms = nil // a fresh array: a copied Redactor must not re-sort ours
	add := func(forms ...string) {
		for _, f := range forms {
			if len(f) >= minSecret && !slices.Contains(r.forms, f) {
				r.forms = append(r.forms, f)
			}
		}
	}
	for _, s := range r.secrets {
		add(s, url.QueryEscape(s), url.PathEscape(s), lowerHex(url.QueryEscape(s)), lowerHex(url.PathEscape(s)),
			jsonEscape(s, true), jsonEscape(s, false), quoteEscape(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
			base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	add(r.encoded...)
	slices.SortStableFunc(r.forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	r.built = true
}

// BasicAuth is the base64 text of an HTTP Basic Authorization header.
func BasicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// SASLPlain is the base64 text of a SASL PLAIN initial response
// (identity, then user and password, separated by NUL bytes).
func SASLPlain(identity, user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + user + "\x00" + password))
}

// String returns s without the secrets.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.build()
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, f, Redacted)
	}
	if strings.Contains(s, Ellipsis) {
		s = r.cutPrefixes(s)
	}
	return s
}

// cutPrefixes redacts what is left of a secret that a shortened text cut
// off: a beginning of a secret form (at least minSecret bytes) right
// before an Ellipsis (looking at all the text before it, so that a secret
// holding an Ellipsis itself is found too).
func (r *Redactor) cutPrefixes(s string) string {
	type cut struct{ from, to int }
	var cuts []cut
	for off := 0; ; {
		i := strings.Index(s[off:], Ellipsis)
		if i < 0 {
			break
		}
		end := off + i
		if n := r.secretTail(s[:end]); n > 0 {
			cuts = append(cuts, cut{end - n, end})
		}
		off = end + len(Ellipsis)
	}
	if len(cuts) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, c := range cuts {
		if c.from >= last {
			b.WriteString(s[last:c.from])
			b.WriteString(Redacted)
		} // else it continues the previous cut's secret, already redacted
		last = c.to
	}
	b.WriteString(s[last:])
	return b.String()
}

// secretTail returns the length of the longest end of head that is a
// beginning of a secret form (0 when none is at least minSecret long).
func (r *Redactor) secretTail(head string) int {
	best := 0
	for _, f := range r.forms {
		// Candidates start where f's first bytes occur in the last
		// len(f)-1 bytes of head.
		start := max(0, len(head)-(len(f)-1))
		for j := start; j <= len(head)-minSecret; {
			k := strings.Index(head[j:], f[:minSecret])
			if k < 0 {
				break
			}
			j += k
			if n := len(head) - j; n > best && strings.HasPrefix(f, head[j:]) {
				best = n
				break // the earliest match is the longest
			}
			j++
		}
	}
	return best
}

// Error returns err without the secrets: for an *Error, a copy with its
// Message, ProviderError values and cause cleaned; any other error is
// replaced when its text held a secret. A cause whose text had to be
// changed is no longer unwrapped, so that the secret cannot be reached
// through errors.Unwrap either.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) && pe == err {
		return r.ProviderError(pe)
	}
	return r.cause(err)
}

// ProviderError is Error for an *Error: pe itself when it holds no
// secret, else a cleaned copy.
func (r *Redactor) ProviderError(pe *Error) *Error {
	if pe == nil {
		return nil
	}
	out := *pe
	changed := false
	out.Message = r.String(pe.Message)
	changed = out.Message != pe.Message
	if pe.ProviderError != nil {
		out.ProviderError = r.value(pe.ProviderError, &changed).(map[string]any)
	}
	if pe.Err != nil {
		out.Err = r.cause(pe.Err)
		changed = changed || out.Err != pe.Err
	}
	if !changed {
		return pe
	}
	return &out
}

func (r *Redactor) cause(err error) error {
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	return redactedError(clean)
}

type redactedError string

func (e redactedError) Error() string { return string(e) }

func (r *Redactor) value(v any, changed *bool) any {
	switch t := v.(type) {
	case string:
		c := r.String(t)
		*changed = *changed || c != t
		return c
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = r.value(e, changed)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = r.value(e, changed)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, e := range t {
			out[i] = r.value(e, changed).(string)
		}
		return out
	}
	return v
}

// lowerHex lower-cases the hex digits of percent-escapes.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// quoteEscape is s inside a backslash-escaped quoted string (IMAP, SMTP
// and many servers' messages).
func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
