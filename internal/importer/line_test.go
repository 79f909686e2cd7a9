package importer

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

const canary = "CANARY-s3cr3t-7f3a"

func TestParse(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		line  string
		typ   string // "" for a good line
		email string
	}{
		{`{"provider":"google","settings":{"refresh_token":"` + canary + `"},"external_id":"u1"}`, "", ""},
		{`{"provider":"microsoft","settings":{"refresh_token":"` + canary + `","credential_id":null},"scope":"openid,Mail.Read","state":"s"}`, "", ""},
		{`{"provider":"imap","settings":{"imap_username":"Ada@Example.com","imap_password":"` + canary + `","imap_port":993,"smtp_port":"587"}}`, "", "ada@example.com"},
		{`{"provider":"imap","settings":{"imap_username":"ada","email":"ada@example.com","imap_password":"` + canary + `"}}`, "", "ada@example.com"},
		{`{"provider":"icloud","settings":{"username":"a@icloud.com","password":"` + canary + `"}}`, "", "a@icloud.com"},
		{`{"provider":"ews","settings":{"ews_username":"CONTOSO\\ada","email":"ada@contoso.com","ews_password":"` + canary + `","ews_port":""}, "scope":["ews.messages"]}`, "", "ada@contoso.com"},
		{`{"provider":"google","settings":{"refresh_token":"x"},"external_id":42}`, "", ""},
		{`{"provider":"google","settings":{"refresh_token":"` + canary, TypeInvalidJSON, ""},
		{`{"provider":"google","settings":{"refresh_token":"` + canary + `"}} trailing`, TypeInvalidJSON, ""},
		{`["google"]`, TypeInvalidJSON, ""},
		{`null`, TypeInvalidJSON, ""},
		{"{\"provider\":\"google\",\"settings\":{\"refresh_token\":\"\xff" + canary + "\"}}", TypeInvalidJSON, ""},
		{`{"settings":{"refresh_token":"` + canary + `"}}`, TypeMissingField, ""},
		{`{"provider":"gmail","settings":{"refresh_token":"` + canary + `"}}`, TypeUnknownProvider, ""},
		{`{"provider":"virtual-calendar","settings":{}}`, TypeInvalidSettings, ""},
		{`{"provider":"virtual-calendar","settings":{"email":" Room 42 "}}`, "", "room 42"},
		{`{"provider":"nylas","settings":{}}`, TypeInvalidSettings, ""},
		{`{"provider":"nylas","settings":{"email":"Bot@Agents.example.com","app_password":"weak"}}`, TypeInvalidSettings, ""},
		{`{"provider":"nylas","settings":{"email":"Bot@Agents.example.com"}}`, "", "bot@agents.example.com"},
		{`{"provider":7,"settings":{}}`, TypeInvalidField, ""},
		{`{"provider":"google"}`, TypeMissingField, ""},
		{`{"provider":"google","settings":"` + canary + `"}`, TypeInvalidField, ""},
		{`{"provider":"google","settings":{}}`, TypeInvalidSettings, ""},
		{`{"provider":"google","settings":{"refresh_token":"  "}}`, TypeInvalidSettings, ""},
		{`{"provider":"google","settings":{"refresh_token":123}}`, TypeInvalidSettings, ""},
		{`{"provider":"google","settings":{"email_address":"A@b.c","credential_id":"c1","scopes":["s"]}}`, "", "a@b.c"},
		{`{"provider":"microsoft","settings":{"email_address":"a@b.c","credential_id":"c1"}}`, "", "a@b.c"},
		{`{"provider":"google","settings":{"email_address":"a@b.c"}}`, TypeInvalidSettings, ""},
		{`{"provider":"google","settings":{"email_address":"ab","credential_id":"c1"}}`, TypeInvalidSettings, ""},
		{`{"provider":"yahoo","settings":{"email_address":"a@b.c","credential_id":"c1"}}`, TypeUnsupported, ""},
		{`{"provider":"imap","settings":{"imap_username":"ada@example.com"}}`, TypeInvalidSettings, ""},
		{`{"provider":"imap","settings":{"imap_username":"ada","imap_password":"` + canary + `"}}`, TypeInvalidSettings, ""},
		{`{"provider":"imap","settings":{"imap_username":"a@b.c","imap_password":"` + canary + `","imap_port":70000}}`, TypeInvalidSettings, ""},
		{`{"provider":"imap","settings":{"imap_username":"a@b.c","imap_password":"` + canary + `","imap_port":"99x"}}`, TypeInvalidSettings, ""},
		{`{"provider":"icloud","settings":{"username":"ada","password":"` + canary + `"}}`, TypeInvalidSettings, ""},
		{`{"provider":"ews","settings":{"ews_username":"DOM\\ada","ews_password":"` + canary + `"}}`, TypeInvalidSettings, ""},
		{`{"provider":"google","settings":{"refresh_token":"x"},"state":"` + strings.Repeat("é", 257) + `"}`, TypeInvalidField, ""},
		{`{"provider":"google","settings":{"refresh_token":"x"},"scope":[1]}`, TypeInvalidField, ""},
		{`{"provider":"google","settings":{"refresh_token":"x"},"scope":["a",""]}`, TypeInvalidField, ""},
		{`{"provider":"google","settings":{"refresh_token":"x"},"external_id":1.5}`, TypeInvalidField, ""},
		{`{"provider":"google","settings":{"refresh_token":"x"},"external_id":"` + long + long + `"}`, TypeInvalidField, ""},
	}
	for _, c := range cases {
		it, e := Parse(3, []byte(c.line))
		switch {
		case c.typ == "" && e != nil:
			t.Errorf("%s: %s %s", c.line, e.Type, e.Message)
		case c.typ != "" && e == nil:
			t.Errorf("%s: accepted", c.line)
		case e != nil && (e.Type != c.typ || e.Class != ClassInput || e.Message == ""):
			t.Errorf("%s: %+v, want type %s", c.line, e, c.typ)
		case e != nil && strings.Contains(e.Message, canary):
			t.Errorf("%s: the message repeats a secret: %s", c.line, e.Message)
		case e == nil && (it.Email != c.email || it.Line != 3 || !bytes.Equal(it.Body, []byte(c.line))):
			t.Errorf("%s: %+v", c.line, it)
		}
	}
	it, _ := Parse(1, []byte(`{"provider":"google","settings":{"refresh_token":"x"},"external_id":42,"scope":"a, b c"}`))
	if it.ExternalID != "42" || strings.Join(it.Scope, "|") != "a|b|c" {
		t.Errorf("external_id %q scope %q", it.ExternalID, it.Scope)
	}
	if _, e := Parse(1, bytes.Repeat([]byte("x"), MaxLineBytes+1)); e == nil || e.Type != TypeLineTooLong {
		t.Errorf("long line: %+v", e)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"provider":"imap","settings":{"imap_username":"a@b.c","imap_password":"p","imap_port":"993"},"scope":"x y","external_id":7}`))
	f.Add([]byte(`{"provider":"google","settings":{"refresh_token":"t"},"state":null,"scope":null}`))
	f.Add([]byte(`{"provider":"ews","settings":{"ews_username":"u","ews_password":"p","email":3}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		it, e := Parse(1, b)
		if e != nil {
			if e.Class != ClassInput || e.Type == "" || e.Message == "" {
				t.Fatalf("bad failure %+v", e)
			}
			return
		}
		if it.Provider == "" || it.Settings == nil || !bytes.Equal(it.Body, b) {
			t.Fatalf("bad item %+v", it)
		}
	})
}

func TestLineReader(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 3*MaxLineBytes)
	exact := append([]byte(`{"a":"`), bytes.Repeat([]byte("z"), MaxLineBytes-8)...)
	exact = append(exact, `"}`...)
	var in bytes.Buffer
	in.WriteString("\xef\xbb\xbf{\"first\":1}\r\n")
	in.WriteString("\n   \n")
	in.Write(big)
	in.WriteString("\n")
	in.Write(exact)
	in.WriteString("\n")
	in.Write(append(exact, 'x'))
	in.WriteString("\n{\"last\":true}")
	lr := newLineReader(&in)
	type got struct {
		n       int
		line    string
		tooLong bool
	}
	var all []got
	for {
		n, b, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if len(s) > 20 {
			s = "len" + string(rune('0'+len(b)/MaxLineBytes))
		}
		all = append(all, got{n, s, tooLong})
	}
	want := []got{{1, `{"first":1}`, false}, {4, "", true}, {5, "len1", false}, {6, "", true}, {7, `{"last":true}`, false}}
	if len(all) != len(want) {
		t.Fatalf("got %v, want %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Errorf("line %d: got %v, want %v", i, all[i], want[i])
		}
	}
}

func TestParseRates(t *testing.T) {
	r, err := ParseRates("google=50/s, microsoft=600/m,imap=off,zoom=3600/h")
	if err != nil {
		t.Fatal(err)
	}
	if r["google"] != 50 || r["microsoft"] != 10 || r["zoom"] != 1 || FormatRate(r["imap"]) != "off" || r["ews"] != DefaultRates()["ews"] {
		t.Errorf("rates: %v", r)
	}
	for _, bad := range []string{"google", "gmail=2/s", "google=0/s", "google=2/d", "google=x/s", "=2/s"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLineSet(t *testing.T) {
	s := newLineSet()
	const n = 200_000
	for i := 1; i <= n; i++ {
		if first, dup := s.add(fmt.Sprint("key", i), i); dup {
			t.Fatalf("key %d: a duplicate of line %d", i, first)
		}
	}
	for _, i := range []int{1, 2, 777, n} {
		if first, dup := s.add(fmt.Sprint("key", i), n+i); !dup || first != i {
			t.Errorf("key %d again: %d %v", i, first, dup)
		}
	}
	total := 0
	for _, tb := range s.tables {
		total += tb.n
		if 5*tb.n > 4*len(tb.keys) {
			t.Errorf("a table is fuller than 4/5: %d of %d", tb.n, len(tb.keys))
		}
	}
	if total != n {
		t.Errorf("%d keys, want %d", total, n)
	}
}
