package detect

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/grantd/grantd/internal/emailaddr"
	"slices"
	"strings"
)

//go:embed providers.json
var providersJSON []byte

// Server is a host and port.
type Server struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Entry is one provider family of the table (providers.json).
type Entry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Provider is the Nylas provider answered for this family; empty when
	// no provider can connect (Proton Mail).
	Provider string `json:"provider"`
	// Fallbacks are other providers that work too, used in order when the
	// application has no connector for Provider.
	Fallbacks []string `json:"fallbacks"`
	// Type is the IMAP family, answered when the provider chosen is imap
	// or icloud.
	Type    string   `json:"type"`
	Domains []string `json:"domains"`
	MX      []string `json:"mx"`
	IMAP    *Server  `json:"imap"`
	SMTP    *Server  `json:"smtp"`
	EWS     string   `json:"ews"`
	// BridgeOnly marks a family with no IMAP server reachable by grantd.
	BridgeOnly          bool   `json:"bridge_only"`
	AppPasswordRequired bool   `json:"app_password_required"`
	Note                string `json:"note"`
}

// Candidates are the providers that can serve the family, best first.
func (e *Entry) Candidates() []string {
	if e.Provider == "" {
		return nil
	}
	return append([]string{e.Provider}, e.Fallbacks...)
}

// Table is a parsed provider table with its lookup indexes. It is
// read-only once built and safe for concurrent use.
type Table struct {
	Entries []*Entry
	domains map[string]*Entry // ASCII domain → entry
	mx      map[string]*Entry // ASCII MX pattern → entry
}

// DefaultTable returns the embedded table. It panics if the embedded file
// is broken, which the tests catch.
func DefaultTable() *Table {
	t, err := ParseTable(providersJSON)
	if err != nil {
		panic("detect: embedded providers.json: " + err.Error())
	}
	return t
}

// Known IMAP-family type names are free-form; the providers an entry may
// name are the Nylas ones grantd knows.
var knownProviders = []string{"google", "microsoft", "yahoo", "icloud", "imap", "ews"}

// ParseTable parses and checks a provider table: unique ids, known
// providers, valid ASCII or IDN domains (stored as lower-case punycode),
// no domain or MX pattern claimed twice, valid hosts and ports.
func ParseTable(data []byte) (*Table, error) {
	var doc struct {
		Providers []*Entry `json:"providers"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if p, ok := raw["providers"]; ok {
		d := json.NewDecoder(strings.NewReader(string(p)))
		d.DisallowUnknownFields()
		if err := d.Decode(&doc.Providers); err != nil {
			return nil, fmt.Errorf("providers: %w", err)
		}
	}
	if len(doc.Providers) == 0 {
		return nil, errors.New("no providers")
	}
	t := &Table{Entries: doc.Providers, domains: map[string]*Entry{}, mx: map[string]*Entry{}}
	ids := map[string]bool{}
	for i, e := range t.Entries {
		where := fmt.Sprintf("providers[%d] (%s)", i, e.ID)
		if e.ID == "" || ids[e.ID] {
			return nil, fmt.Errorf("%s: missing or duplicate id", where)
		}
		ids[e.ID] = true
		for _, p := range e.Candidates() {
			if !slices.Contains(knownProviders, p) {
				return nil, fmt.Errorf("%s: unknown provider %q", where, p)
			}
		}
		if e.Provider == "" && !e.BridgeOnly {
			return nil, fmt.Errorf("%s: an entry without provider must be bridge_only", where)
		}
		if e.BridgeOnly && (e.IMAP != nil || e.SMTP != nil) {
			return nil, fmt.Errorf("%s: a bridge_only entry has no IMAP or SMTP server", where)
		}
		if slices.Contains(e.Candidates(), "imap") && (e.IMAP == nil || e.SMTP == nil) {
			return nil, fmt.Errorf("%s: an IMAP provider needs imap and smtp servers", where)
		}
		for _, s := range []*Server{e.IMAP, e.SMTP} {
			if s != nil && (!validHost(s.Host) || s.Port < 1 || s.Port > 65535) {
				return nil, fmt.Errorf("%s: bad server %s:%d", where, s.Host, s.Port)
			}
		}
		if e.EWS != "" && !strings.HasPrefix(e.EWS, "https://") {
			return nil, fmt.Errorf("%s: ews must be an https URL", where)
		}
		for j, d := range e.Domains {
			a, err := emailaddr.DomainToASCII(d)
			if err != nil {
				return nil, fmt.Errorf("%s: domain %q: %v", where, d, err)
			}
			if strings.Contains(d, "*") || !strings.Contains(a, ".") {
				return nil, fmt.Errorf("%s: domain %q: list real domains, no wildcards or bare TLDs", where, d)
			}
			if o := t.domains[a]; o != nil {
				return nil, fmt.Errorf("%s: domain %q is also claimed by %s", where, d, o.ID)
			}
			t.domains[a] = e
			e.Domains[j] = a
		}
		for j, m := range e.MX {
			a, err := emailaddr.DomainToASCII(m)
			if err != nil || !strings.Contains(a, ".") {
				return nil, fmt.Errorf("%s: mx pattern %q is not a domain name", where, m)
			}
			if o := t.mx[a]; o != nil {
				return nil, fmt.Errorf("%s: mx pattern %q is also claimed by %s", where, m, o.ID)
			}
			t.mx[a] = e
			e.MX[j] = a
		}
	}
	return t, nil
}

// lookupSuffix finds the entry of the longest key of m that is name
// itself or a parent domain of name (a dot boundary, never a bare suffix:
// "notgmail.com" does not match "gmail.com"). name is lower-case ASCII.
func lookupSuffix(m map[string]*Entry, name string) (*Entry, string) {
	for s := name; ; {
		if e := m[s]; e != nil {
			return e, s
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return nil, ""
		}
		s = s[i+1:]
	}
}

// ByID returns the entry with id (providers.json's "id"), nil when the
// table has none.
func (t *Table) ByID(id string) *Entry {
	for _, e := range t.Entries {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// ByDomain returns the entry for an ASCII mail domain, if the table has it.
func (t *Table) ByDomain(domain string) *Entry {
	e, _ := lookupSuffix(t.domains, domain)
	return e
}

// ByMX returns the entry whose MX pattern matches host (lower-case ASCII,
// no trailing dot) and the pattern; the most specific pattern wins.
func (t *Table) ByMX(host string) (*Entry, string) {
	return lookupSuffix(t.mx, strings.TrimSuffix(strings.ToLower(host), "."))
}

// validHost reports whether h is a DNS host name (LDH labels, at least
// one dot, no trailing dot) or an IP address literal without brackets.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// WithServers returns a copy of t in which every IMAP server of an entry
// is imap and every SMTP server smtp; t itself is unchanged. `grantd dev`
// gives such a copy to the v2 native flow, whose mail services (yahoo,
// aol, hotmail, outlook) take their servers from this table, so that its
// mail stand-in answers for them (docs/dev.md); provider detection keeps
// the real table.
func (t *Table) WithServers(imap, smtp Server) *Table {
	c := &Table{Entries: make([]*Entry, len(t.Entries)), domains: make(map[string]*Entry, len(t.domains)), mx: make(map[string]*Entry, len(t.mx))}
	copies := make(map[*Entry]*Entry, len(t.Entries))
	for i, e := range t.Entries {
		ce := *e
		if ce.IMAP != nil {
			s := imap
			ce.IMAP = &s
		}
		if ce.SMTP != nil {
			s := smtp
			ce.SMTP = &s
		}
		c.Entries[i], copies[e] = &ce, &ce
	}
	for k, e := range t.domains {
		c.domains[k] = copies[e]
	}
	for k, e := range t.mx {
		c.mx[k] = copies[e]
	}
	return c
}
