package emailaddr

import (
	"strings"
	"testing"
	"unicode"
)

func TestParse(t *testing.T) {
	ok := map[string]Email{
		"alice@example.com":                     {"alice", "example.com"},
		"Alice.Smith+tag@Example.COM":           {"Alice.Smith+tag", "example.com"},
		"a@b.museum":                            {"a", "b.museum"}, // long TLDs (sync-engine allowed 2–4 letters)
		"a@b.photography":                       {"a", "b.photography"},
		"a@mail.co.uk":                          {"a", "mail.co.uk"},
		"o'brien@example.ie":                    {"o'brien", "example.ie"},
		`"john doe"@example.com`:                {"john doe", "example.com"},
		"ü@bücher.de":                           {"ü", "xn--bcher-kva.de"},
		"a@xn--bcher-kva.de":                    {"a", "xn--bcher-kva.de"},
		"a@BÜCHER.DE":                           {"a", "xn--bcher-kva.de"},
		"x@" + strings.Repeat("a", 63) + ".com": {"x", strings.Repeat("a", 63) + ".com"},
	}
	for in, want := range ok {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                          "empty",
		"alice":                     "not an email address",
		"alice@":                    "not an email address",
		"@example.com":              "not an email address",
		"alice@example":             "no dot",
		"Alice <alice@example.com>": "bare address",
		`"Alice" alice@example.com`: "not an email address",
		"<alice@example.com>":       "angle brackets",
		"alice@example.com\n":       "control character",
		"alice\x00@example.com":     "control character",
		"alice@exa\u0085mple.com":   "control character",
		"alice@[192.0.2.1]":         "address literal",
		"alice@127.0.0.1":           "is an IP address",
		"alice@169.254.169.254":     "is an IP address",
		"alice@ example.com":        "around its domain",
		"alice@exa_mple.com":        "not a valid domain",
		"alice@-example.com":        "not a valid domain",
		"alice@" + strings.Repeat("a", 64) + ".com": "not a valid domain",
		strings.Repeat("a", 65) + "@example.com":    "local part",
		strings.Repeat("a", 10<<10) + "@x.com":      "10246 bytes long",
		"a@b@c.com":                                 "not an email address",
		"alice@example.com.":                        "not an email address",
		"\xff@example.com":                          "UTF-8",
	}
	for in, want := range bad {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%.40q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.40q) = %v; want it to say %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", `"a b"@x.com`, `"a\"b"@x.com`, "ü@bücher.de", "a@xn--bcher-kva.de", "A <a@b.com>",
		"a@[1.2.3.4]", "a\n@b.com", "a@b", "a(c)@b.com", "a@b.c.d.e.f", "\"\"@b.com", "a@\u00df.de", "a@ß.de",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		for _, r := range s {
			if unicode.IsControl(r) {
				t.Fatalf("accepted %q with a control character", s)
			}
		}
		if len(s) > MaxEmailBytes {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if e.Local == "" || e.Domain == "" || !strings.Contains(e.Domain, ".") {
			t.Fatalf("%q: %+v", s, e)
		}
		for i := 0; i < len(e.Domain); i++ {
			if c := e.Domain[i]; c >= 0x80 || (c >= 'A' && c <= 'Z') {
				t.Fatalf("%q: domain %q is not lower-case ASCII", s, e.Domain)
			}
		}
		// Accepted emails round-trip through their canonical form.
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("%q → %q: %v", s, e.String(), err)
		}
		if again != e {
			t.Fatalf("%q → %q → %+v, want %+v", s, e.String(), again, e)
		}
	})
}
