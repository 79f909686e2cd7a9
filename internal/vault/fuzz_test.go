package vault

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzOpen(f *testing.F) {
	kr, err := ParseInline(testInline())
	if err != nil {
		f.Fatal(err)
	}
	v := NewFromKeyring(kr)
	old := NewFromKeyring(mustParse(f, "k1:"+b64(1)))
	for _, pt := range []string{"", "x", "a refresh token"} {
		b, _ := v.Seal([]byte(pt), []byte("aad"))
		f.Add(b, []byte("aad"))
		b, _ = old.Seal([]byte(pt), nil)
		f.Add(b, []byte(nil))
	}
	f.Add([]byte{}, []byte(nil))
	f.Add([]byte{1, 64}, []byte(nil))
	f.Add(bytes.Repeat([]byte{1}, 200), []byte("aad"))

	f.Fuzz(func(t *testing.T, blob, aad []byte) {
		orig := bytes.Clone(blob)
		id, idErr := KeyIDOf(blob)
		pt, openErr := v.Open(blob, aad)
		moved, changed, rwErr := v.Rewrap(blob)
		if !bytes.Equal(blob, orig) {
			t.Fatal("input modified")
		}
		for _, err := range []error{openErr, rwErr} {
			if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("error %v is not one of the sentinels", err)
			}
		}
		if idErr != nil {
			if !errors.Is(idErr, ErrFormat) {
				t.Fatalf("KeyIDOf: %v", idErr)
			}
			if openErr == nil || rwErr == nil {
				t.Fatal("Open/Rewrap accepted a blob KeyIDOf rejects")
			}
			return
		}
		if openErr == nil {
			if rwErr != nil {
				t.Fatalf("Open succeeded but Rewrap failed: %v", rwErr)
			}
			if !kr.Has(id) {
				t.Fatalf("opened a blob under unknown key %q", id)
			}
		}
		if rwErr == nil {
			if changed != (id != "k2") {
				t.Fatalf("changed=%v for key %q", changed, id)
			}
			if nid, err := KeyIDOf(moved); err != nil || nid != "k2" {
				t.Fatalf("rewrapped blob under %q, %v", nid, err)
			}
			pt2, err := v.Open(moved, aad)
			if (err == nil) != (openErr == nil) || !bytes.Equal(pt, pt2) {
				t.Fatalf("Open after Rewrap differs: %v vs %v", err, openErr)
			}
		}
	})
}

func mustParse(f *testing.F, s string) *Keyring {
	kr, err := ParseInline(s)
	if err != nil {
		f.Fatal(err)
	}
	return kr
}

func FuzzParseInline(f *testing.F) {
	f.Add(testInline())
	f.Add("k1:" + b64(1))
	f.Add(" a.b-c_d : " + b64(3) + " ,x:" + strings.TrimRight(b64(4), "="))
	f.Add("k1:" + b64(1) + ",k1:" + b64(2))
	f.Add("")
	f.Add(",,:")
	f.Fuzz(func(t *testing.T, s string) {
		kr, err := ParseInline(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyring) {
				t.Fatalf("error %v is not ErrInvalidKeyring", err)
			}
			// No key material in errors: no long value after a ':' is
			// echoed (unless it is also a key ID, which may be named).
			var ids, vals []string
			for _, e := range strings.Split(s, ",") {
				if id, val, ok := strings.Cut(e, ":"); ok {
					ids = append(ids, id)
					vals = append(vals, strings.TrimSpace(val))
				}
			}
			for _, val := range vals {
				if len(val) < 16 || !strings.Contains(err.Error(), val) {
					continue
				}
				if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(id, val) }) {
					t.Fatalf("error %q echoes key material", err)
				}
			}
			return
		}
		again, err := ParseInline(kr.MarshalInline())
		if err != nil {
			t.Fatalf("re-parse of MarshalInline: %v", err)
		}
		if again.MarshalInline() != kr.MarshalInline() || again.PrimaryID() != kr.PrimaryID() {
			t.Fatal("MarshalInline round trip differs")
		}
		v := NewFromKeyring(kr)
		b, err := v.Seal([]byte("p"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := v.Open(b, nil); err != nil || string(p) != "p" {
			t.Fatalf("round trip: %v", err)
		}
	})
}
