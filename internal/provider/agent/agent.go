// Package agent is the "nylas" provider: agent accounts, mailboxes an
// application runs for its automated agents on domains it owns.
//
// grantd does not host mail. An agent grant is the identity and
// credential registry of a mailbox the application's own mail host
// serves: the grant (one per address and application, with its events,
// like every grant) and, optionally, the mailbox's app password, stored as
// a bcrypt hash (sealed with the grant's other secrets, never returned),
// which the mail host checks through grantd (VerifyPassword, behind POST
// /grantd/v1/agent-accounts/verify-password).
//
// Settings: email (required), app_password (optional), policy_id
// (optional, kept on the grant). The address must be on a domain the
// application registered (POST /v3/admin/domains) and verified: its
// ownership TXT record and its MX record found by their last checks. The
// domain must be the address's own: a subdomain of a registered domain is
// another domain. An address on another application's domain is refused
// in the same words as one on no registered domain, so that an
// application learns nothing of another's domains.
//
// An app password has 18 to 40 characters, all printable ASCII other than
// space (codes 33 to 126), with at least one upper-case letter, one
// lower-case letter and one digit (Nylas's policy). Settings sent again
// (re-authentication through POST /v3/connect/custom, or PATCH
// /v3/grants/{id}) replace the stored ones: a new password replaces the
// hash, and settings without one leave the mailbox without a password.
//
// There is nothing to refresh or re-check: the provider has neither
// capability, so the refresher never schedules these grants.
package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/provider"
)

// Password policy.
const (
	MinPassword = 18
	MaxPassword = 40
)

// SecretHash is the key, among an agent grant's sealed secrets, of the
// bcrypt hash of its app password.
const SecretHash = "app_password_hash"

// Scope is the scope list of every agent grant: the mailbox's mail and
// calendar are the application's, whatever a request asks for.
var Scope = []string{"email", "calendar"}

// DomainState is what an application's registration of a domain allows.
type DomainState struct {
	// Registered: the application registered the domain (ID).
	Registered bool
	ID         string
	// Ownership and MX: the last check of each record found it.
	Ownership bool
	MX        bool
}

// Domains tells the state of an application's domains (internal/domain
// through internal/server).
type Domains interface {
	DomainState(ctx context.Context, appID, address string) (DomainState, error)
}

// Provider is the agent accounts' provider.
type Provider struct {
	domains Domains
	cost    int
	dummy   []byte // a hash compared against when there is no grant
}

// New returns the provider; domains may be nil when the provider only
// checks settings (grantd import's dry run): Validate then refuses
// everything. cost is bcrypt's cost (0: bcrypt.DefaultCost).
func New(domains Domains, cost int) *Provider {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no grant has this password: Aa1"), cost)
	if err != nil {
		panic(err) // only a cost out of range gets here
	}
	return &Provider{domains: domains, cost: cost, dummy: dummy}
}

var (
	_ provider.Provider         = (*Provider)(nil)
	_ provider.SettingsChecker  = (*Provider)(nil)
	_ provider.PasswordVerifier = (*Provider)(nil)
)

type settings struct {
	Email    string `setting:"email,required,trim" about:"the agent mailbox's address, on a verified domain of this application"`
	PolicyID string `setting:"policy_id,trim"`
	Password string `setting:"app_password"`
}

// checked is a request's settings, checked.
type checked struct {
	email       emailaddr.Email
	policyID    string
	password    string
	hasPassword bool
}

func check(m map[string]any) (checked, error) {
	s, err := provider.DecodeSettings[settings](m)
	if err != nil {
		return checked{}, err
	}
	e, err := emailaddr.Parse(s.Email)
	if err != nil {
		return checked{}, provider.Errorf(provider.ClassBadRequest, "settings.%v", err)
	}
	c := checked{email: e, policyID: s.PolicyID, password: s.Password, hasPassword: m["app_password"] != nil}
	if c.hasPassword {
		if err := CheckPassword(s.Password); err != nil {
			return checked{}, err
		}
	}
	if len(c.policyID) > 256 {
		return checked{}, provider.Errorf(provider.ClassBadRequest, "settings.policy_id is %d bytes long; at most 256 are allowed", len(c.policyID))
	}
	return c, nil
}

// CheckPassword checks an app password against the policy; the error
// names the rule it breaks and never repeats the password.
func CheckPassword(pw string) error {
	if n := len(pw); n < MinPassword || n > MaxPassword {
		return provider.Errorf(provider.ClassBadRequest, "settings.app_password is %d characters long; an app password has %d to %d", n, MinPassword, MaxPassword)
	}
	var upper, lower, digit bool
	for i := 0; i < len(pw); i++ {
		c := pw[i]
		switch {
		case c < 33 || c > 126:
			return provider.Errorf(provider.ClassBadRequest, "settings.app_password has a character that is not printable ASCII or is a space (character %d): an app password uses only the printable ASCII characters 33 to 126", i+1)
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	var missing []string
	if !upper {
		missing = append(missing, "an upper-case letter")
	}
	if !lower {
		missing = append(missing, "a lower-case letter")
	}
	if !digit {
		missing = append(missing, "a digit")
	}
	if len(missing) > 0 {
		return provider.Errorf(provider.ClassBadRequest, "settings.app_password needs at least one upper-case letter, one lower-case letter and one digit; it lacks %s", strings.Join(missing, " and "))
	}
	return nil
}

// CheckSettings implements provider.SettingsChecker (grantd import): the
// settings alone; the domain is checked by Validate.
func (*Provider) CheckSettings(m map[string]any) (string, error) {
	c, err := check(m)
	if err != nil {
		return "", err
	}
	return c.email.String(), nil
}

// Validate implements provider.Provider: the settings, the domain, and
// the password's hash. Nobody is called.
func (p *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	c, err := check(req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	if err := p.usable(ctx, req.AppID, c.email); err != nil {
		return provider.Result{}, err
	}
	res := provider.Result{
		Email:    c.email.String(),
		Scope:    Scope,
		Settings: map[string]any{"email": c.email.String()},
	}
	if c.policyID != "" {
		res.Settings["policy_id"] = c.policyID
	}
	if c.hasPassword {
		h, err := bcrypt.GenerateFromPassword([]byte(c.password), p.cost)
		if err != nil {
			return provider.Result{}, fmt.Errorf("agent: hash the app password: %w", err)
		}
		res.Secrets = map[string]string{SecretHash: string(h)}
	}
	return res, nil
}

// usable checks that e is on a verified domain of appID.
func (p *Provider) usable(ctx context.Context, appID string, e emailaddr.Email) error {
	if p.domains == nil || appID == "" {
		return provider.Errorf(provider.ClassBadRequest, "agent accounts cannot be created here: no domain registry")
	}
	st, err := p.domains.DomainState(ctx, appID, e.Domain)
	if err != nil {
		return err
	}
	switch {
	case !st.Registered:
		// A registered parent: the address is on a subdomain of it.
		for d := e.Domain; strings.Count(d, ".") > 1; {
			d = d[strings.IndexByte(d, '.')+1:]
			if parent, err := p.domains.DomainState(ctx, appID, d); err != nil {
				return err
			} else if parent.Registered {
				return provider.Errorf(provider.ClassBadRequest, "settings.email %s is not on the domain %s but on its subdomain %s, which this application has not registered: an agent address must be on a registered domain itself (register %s with POST /v3/admin/domains)", e, d, e.Domain, e.Domain)
			}
		}
		return provider.Errorf(provider.ClassBadRequest, "settings.email %s is not on a domain of this application: register %s with POST /v3/admin/domains and verify it", e, e.Domain)
	case !st.Ownership && !st.MX:
		return provider.Errorf(provider.ClassBadRequest, "the domain %s of settings.email is not verified: publish its ownership TXT record and MX record (POST /v3/admin/domains/%s/info) and verify them (POST /v3/admin/domains/%s/verify)", e.Domain, st.ID, st.ID)
	case !st.Ownership:
		return provider.Errorf(provider.ClassBadRequest, "the ownership of the domain %s of settings.email is not verified: publish its TXT record (POST /v3/admin/domains/%s/info with type ownership) and verify it", e.Domain, st.ID)
	case !st.MX:
		return provider.Errorf(provider.ClassBadRequest, "the MX record of the domain %s of settings.email is not verified: publish it (POST /v3/admin/domains/%s/info with type mx) and verify it", e.Domain, st.ID)
	}
	return nil
}

// VerifyPassword implements provider.PasswordVerifier.
func (p *Provider) VerifyPassword(ctx context.Context, appID, email string, secrets map[string]string, password string) (bool, error) {
	hash := p.dummy
	h, ok := secrets[SecretHash]
	if len(password) > MaxPassword {
		// No stored password is this long (and bcrypt reads 72 bytes):
		// wrong, in the time a comparison takes.
		_ = bcrypt.CompareHashAndPassword(p.dummy, nil)
		return false, nil
	}
	if ok {
		hash = []byte(h)
	}
	// bcrypt compares in constant time once the hash is computed; the
	// dummy hash has the same cost, so a grant without a password (or no
	// grant) takes as long as a wrong password.
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if !ok || !match {
		return false, nil
	}
	e, err := emailaddr.Parse(email)
	if err != nil {
		return false, nil
	}
	if err := p.usable(ctx, appID, e); err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) {
			return false, nil // the domain is no longer verified
		}
		return false, err
	}
	return true, nil
}
