// Package domain manages the mail domains applications register for their
// agent accounts (provider "nylas", internal/provider/agent): POST
// /v3/admin/domains and the rest. A domain is proved two ways, each
// checked through DNS by Verify:
//
//   - ownership: a TXT record at the domain carrying the token grantd
//     issued for it ("grantd-domain-verification=<token>"), so that an
//     application can only claim a domain whose DNS it controls;
//   - mx: an MX record at the domain naming the host that receives its
//     mail (the domain's mx_host when set, else any host), so that the
//     addresses of agent grants really are mailboxes the application runs.
//
// grantd does not host mail: the MX host is the application's. A domain is
// verified while both records were found by their last check; only then
// may agent grants be created on it (Status). A check that got no answer
// (timeout, SERVFAIL) changes nothing and is a 503.
package domain

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
)

// Resolver answers the DNS questions of verification
// (detect.DNSResolver with network.dns_server, else
// detect.SystemResolver). An error wrapping detect.ErrNotFound is a
// definite "no such record"; any other is transient.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, uint32, error)
}

// Verification types (the "type" of /info and /verify).
const (
	TypeOwnership = "ownership"
	TypeMX        = "mx"
)

// TokenPrefix begins the value of the ownership TXT record.
const TokenPrefix = "grantd-domain-verification="

// Statuses of one verification type.
const (
	StatusPending = "pending" // never checked
	StatusDone    = "done"    // found by the last check
	StatusFailed  = "failed"  // not found by the last check
)

// Bounds.
const (
	MaxName    = 256
	DefaultTTL = 3600
)

// Service manages domains.
type Service struct {
	Store    store.Store
	Resolver Resolver
	Now      func() time.Time
	NewID    func() string
	// Timeout bounds the DNS questions of one check (default 5s).
	Timeout time.Duration
}

// Input is what create and update take; nil fields are not set.
type Input struct {
	Name    *string
	Address *string
	MXHost  *string
}

func notFound(id string) error { return fault.NotFoundf("domain %q not found", id) }

// NormalizeAddress checks a domain address and returns its lower-case ASCII
// form (IDNs as punycode, no trailing dot). what names the field in errors.
func NormalizeAddress(what, s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return "", fault.Invalidf("%s is required: the domain, like agents.example.com", what)
	}
	if strings.ContainsAny(s, "@/: \t") {
		return "", fault.Invalidf("%s %q is not a domain name: give only the domain, like agents.example.com", what, s)
	}
	ascii, err := emailaddr.DomainToASCII(s)
	if err != nil {
		return "", fault.Invalidf("%s %q is not a valid domain name (%v)", what, s, err)
	}
	if !strings.Contains(ascii, ".") {
		return "", fault.Invalidf("%s %q has no dot: expected a domain like agents.example.com", what, s)
	}
	if tld := ascii[strings.LastIndexByte(ascii, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return "", fault.Invalidf("%s %q is an IP address; expected a domain name", what, s)
	}
	return ascii, nil
}

func checkName(n string) error {
	if c := utf8.RuneCountInString(n); c > MaxName {
		return fault.Invalidf("name is %d characters long; at most %d are allowed", c, MaxName)
	}
	if !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return fault.Invalidf("name must be printable text (no control characters)")
	}
	return nil
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Create registers a domain for appID: not verified yet.
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.Domain, error) {
	var addr string
	if in.Address != nil {
		addr = *in.Address
	}
	addr, err := NormalizeAddress("domain_address", addr)
	if err != nil {
		return store.Domain{}, err
	}
	d := store.Domain{ID: s.NewID(), AppID: appID, Address: addr, Name: addr, Token: newToken()}
	if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
		d.Name = strings.TrimSpace(*in.Name)
	}
	if err := checkName(d.Name); err != nil {
		return store.Domain{}, err
	}
	if in.MXHost != nil && strings.TrimSpace(*in.MXHost) != "" {
		if d.MXHost, err = NormalizeAddress("mx_host", *in.MXHost); err != nil {
			return store.Domain{}, err
		}
	}
	now := s.Now().UTC()
	d.CreatedAt, d.UpdatedAt = now, now
	err = s.Store.CreateDomain(ctx, d)
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Domain{}, fault.Conflictf("the application already has the domain %s", addr)
	}
	if err != nil {
		return store.Domain{}, err
	}
	return s.Store.GetDomain(ctx, appID, d.ID)
}

// Get returns one domain of appID.
func (s *Service) Get(ctx context.Context, appID, id string) (store.Domain, error) {
	d, err := s.Store.GetDomain(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound(id)
	}
	return d, err
}

// List returns up to limit domains of appID after the id after, and the
// id to continue from ("" on the last page).
func (s *Service) List(ctx context.Context, appID, after string, limit int) ([]store.Domain, string, error) {
	list, err := s.Store.ListDomains(ctx, appID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return list, next, nil
}

// Update changes the name or the MX host of a domain; its address cannot
// change. A new MX host needs a new MX check.
func (s *Service) Update(ctx context.Context, appID, id string, in Input) (store.Domain, error) {
	var mx string
	if in.MXHost != nil && strings.TrimSpace(*in.MXHost) != "" {
		var err error
		if mx, err = NormalizeAddress("mx_host", *in.MXHost); err != nil {
			return store.Domain{}, err
		}
	}
	d, err := s.Store.UpdateDomain(ctx, appID, id, func(d store.Domain) (store.Domain, error) {
		if in.Address != nil {
			a, err := NormalizeAddress("domain_address", *in.Address)
			if err != nil {
				return d, err
			}
			if a != d.Address {
				return d, fault.Invalidf("domain_address cannot be changed (this domain is %s): register %s as a new domain", d.Address, a)
			}
		}
		if in.Name != nil {
			d.Name = strings.TrimSpace(*in.Name)
			if d.Name == "" {
				d.Name = d.Address
			}
			if err := checkName(d.Name); err != nil {
				return d, err
			}
		}
		if in.MXHost != nil && mx != d.MXHost {
			d.MXHost = mx
			d.MXVerifiedAt, d.MXCheckedAt = time.Time{}, time.Time{}
		}
		d.UpdatedAt = s.Now().UTC()
		return d, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound(id)
	}
	return d, err
}

// Delete removes a domain. Agent grants on it stay, but no new one can be
// created on it, and their passwords no longer verify.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	err := s.Store.DeleteDomain(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// Record is the DNS record one verification type needs, and where that
// verification stands.
type Record struct {
	DomainID string
	Type     string // ownership, mx
	Host     string // "@": the domain itself
	RRType   string // TXT, MX
	Value    string // "" for an MX record of any host
	Priority int    // MX only
	Status   string
	Message  string
	// CheckedAt is when the last check got an answer (zero: never).
	CheckedAt time.Time
}

func checkType(typ string) error {
	switch typ {
	case TypeOwnership, TypeMX:
		return nil
	case "":
		return fault.Invalidf("type is required: %s or %s", TypeOwnership, TypeMX)
	case "spf", "dkim", "feedback", "dmarc", "arc":
		return fault.Invalidf("type %q is not checked by grantd, which does not send or receive mail: use %s or %s", typ, TypeOwnership, TypeMX)
	}
	return fault.Invalidf("type %q is not one of %s, %s", typ, TypeOwnership, TypeMX)
}

func status(verified, checked time.Time) string {
	switch {
	case !verified.IsZero():
		return StatusDone
	case !checked.IsZero():
		return StatusFailed
	}
	return StatusPending
}

// record describes type typ of d.
func record(d store.Domain, typ string) Record {
	r := Record{DomainID: d.ID, Type: typ, Host: "@"}
	switch typ {
	case TypeOwnership:
		r.RRType, r.Value = "TXT", TokenPrefix+d.Token
		r.Status, r.CheckedAt = status(d.OwnershipVerifiedAt, d.OwnershipCheckedAt), d.OwnershipCheckedAt
		switch r.Status {
		case StatusDone:
			r.Message = fmt.Sprintf("the ownership of %s is verified", d.Address)
		default:
			r.Message = fmt.Sprintf("publish a TXT record at %s with the value %s, then verify", d.Address, r.Value)
		}
	case TypeMX:
		r.RRType, r.Value, r.Priority = "MX", d.MXHost, 10
		r.Status, r.CheckedAt = status(d.MXVerifiedAt, d.MXCheckedAt), d.MXCheckedAt
		switch {
		case r.Status == StatusDone:
			r.Message = fmt.Sprintf("the MX record of %s is verified", d.Address)
		case d.MXHost != "":
			r.Message = fmt.Sprintf("publish an MX record at %s naming %s (the host that receives your agent mailboxes' mail; grantd does not host mail), then verify", d.Address, d.MXHost)
		default:
			r.Message = fmt.Sprintf("publish an MX record at %s naming the host that receives your agent mailboxes' mail (grantd does not host mail; set mx_host on the domain to require one host), then verify", d.Address)
		}
	}
	return r
}

// Info returns the record verification type typ of a domain needs.
func (s *Service) Info(ctx context.Context, appID, id, typ string) (Record, error) {
	if err := checkType(typ); err != nil {
		return Record{}, err
	}
	d, err := s.Get(ctx, appID, id)
	if err != nil {
		return Record{}, err
	}
	return record(d, typ), nil
}

// Verify checks the record of type typ through DNS now, records the
// outcome on the domain, and returns the record with its new status and,
// when it failed, what was found instead. A check that got no answer
// changes nothing: a fault.Unavailable error.
func (s *Service) Verify(ctx context.Context, appID, id, typ string) (Record, store.Domain, error) {
	if err := checkType(typ); err != nil {
		return Record{}, store.Domain{}, err
	}
	d, err := s.Get(ctx, appID, id)
	if err != nil {
		return Record{}, store.Domain{}, err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	found, why, err := s.check(cctx, d, typ)
	cancel()
	if err != nil {
		return Record{}, store.Domain{}, fault.Unavailablef(err, "the DNS server did not answer about %s (%v); nothing was changed: try again", d.Address, err)
	}
	now := s.Now().UTC()
	d, err = s.Store.UpdateDomain(ctx, appID, id, func(d store.Domain) (store.Domain, error) {
		verified, checked := &d.OwnershipVerifiedAt, &d.OwnershipCheckedAt
		if typ == TypeMX {
			verified, checked = &d.MXVerifiedAt, &d.MXCheckedAt
		}
		*checked = now
		switch {
		case !found:
			*verified = time.Time{}
		case verified.IsZero():
			*verified = now
		}
		d.UpdatedAt = now
		return d, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, d, notFound(id)
	}
	if err != nil {
		return Record{}, d, err
	}
	r := record(d, typ)
	if !found {
		r.Message = why + "; " + r.Message
	}
	return r, d, nil
}

// check asks DNS whether d has the record of typ. why says what was found
// instead when it has not; err is a question that got no answer.
func (s *Service) check(ctx context.Context, d store.Domain, typ string) (found bool, why string, err error) {
	switch typ {
	case TypeOwnership:
		want := TokenPrefix + d.Token
		txt, err := s.Resolver.LookupTXT(ctx, d.Address)
		if errors.Is(err, detect.ErrNotFound) {
			return false, fmt.Sprintf("%s has no TXT record", d.Address), nil
		}
		if err != nil {
			return false, "", err
		}
		others := 0
		for _, t := range txt {
			t = strings.TrimSpace(t)
			if t == want {
				return true, "", nil
			}
			if strings.HasPrefix(t, TokenPrefix) {
				others++
			}
		}
		if others > 0 {
			return false, fmt.Sprintf("the %s TXT record of %s carries another token (of another domain registration)", strings.TrimSuffix(TokenPrefix, "="), d.Address), nil
		}
		return false, fmt.Sprintf("none of the %d TXT records of %s carries this domain's token", len(txt), d.Address), nil
	default:
		mx, _, err := s.Resolver.LookupMX(ctx, d.Address)
		if errors.Is(err, detect.ErrNotFound) {
			return false, fmt.Sprintf("%s has no MX record", d.Address), nil
		}
		if err != nil {
			return false, "", err
		}
		var hosts []string
		for _, m := range mx {
			h := strings.ToLower(strings.TrimSuffix(m.Host, "."))
			if h == "" {
				continue // a null MX (RFC 7505): the domain takes no mail
			}
			if d.MXHost == "" || h == d.MXHost {
				return true, "", nil
			}
			hosts = append(hosts, h)
		}
		if len(hosts) == 0 {
			return false, fmt.Sprintf("%s has a null MX record (it accepts no mail)", d.Address), nil
		}
		return false, fmt.Sprintf("the MX records of %s name %s, not %s", d.Address, strings.Join(hosts, ", "), d.MXHost), nil
	}
}

// State is what an application's domain allows agent grants.
type State struct {
	Registered bool
	ID         string
	Ownership  bool
	MX         bool
}

// Status reports whether appID registered the domain address and which
// of its records are verified (for the agent provider). It never says
// anything about another application's domains.
func (s *Service) Status(ctx context.Context, appID, address string) (State, error) {
	d, err := s.Store.GetDomainByAddress(ctx, appID, address)
	if errors.Is(err, store.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	return State{Registered: true, ID: d.ID, Ownership: !d.OwnershipVerifiedAt.IsZero(), MX: !d.MXVerifiedAt.IsZero()}, nil
}
