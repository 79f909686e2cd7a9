// Package icloud validates iCloud Mail credentials (provider "icloud"):
// settings.username (the iCloud address) and settings.password (an Apple
// app-specific password), checked by IMAP and SMTP login against the
// configured iCloud hosts (providers.icloud; Apple's by default) through
// package imap. A refused login says how to create an app-specific
// password.
package icloud

import (
	"context"
	"strings"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/imap"
)

// Provider is the iCloud provider: it checks and re-checks iCloud Mail
// app-specific passwords.
type Provider struct {
	hosts Config
	mail  *imap.Provider
}

// New returns a Provider against hosts, connecting as mail does.
func New(hosts Config, mail *imap.Provider) *Provider {
	return &Provider{hosts: hosts, mail: mail}
}

// settings are the settings of provider "icloud".
type settings struct {
	Username string `setting:"username,required"`
	Password string `setting:"password,required"`
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(m map[string]any) (string, error) {
	s, err := provider.DecodeSettings[settings](m)
	if err != nil {
		return "", err
	}
	return accountEmail(s.Username, false)
}

// accountEmail is the account's address: the username, an iCloud address.
func accountEmail(user string, recheck bool) (string, error) {
	email := strings.ToLower(strings.TrimSpace(user))
	if err := provider.AccountAddress(email, recheck); err != nil {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.username %q is not an email address; give the iCloud address (…@icloud.com, @me.com or @mac.com)", user)
	}
	return email, nil
}

// Validate implements provider.Provider.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := provider.DecodeSettings[settings](req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	user, pass := s.Username, s.Password
	email, err := accountEmail(user, req.Recheck)
	if err != nil {
		return provider.Result{}, err
	}
	a := imap.Account{
		IMAPHost: v.hosts.IMAPHost, IMAPPort: v.hosts.IMAPPort, IMAPUsername: user, IMAPPassword: pass,
		SMTPHost: v.hosts.SMTPHost, SMTPPort: v.hosts.SMTPPort, SMTPUsername: user, SMTPPassword: pass,
		Hint: imap.HintICloud,
	}
	if err := v.mail.Check(ctx, a); err != nil {
		return provider.Result{}, err
	}
	return provider.Result{
		Email: email,
		Settings: map[string]any{
			"username":  user,
			"imap_host": a.IMAPHost, "imap_port": a.IMAPPort,
			"smtp_host": a.SMTPHost, "smtp_port": a.SMTPPort,
		},
		Secrets: map[string]string{"password": pass},
	}, nil
}

// Recheck implements provider.Rechecker: the stored username and
// app-specific password log in again to the configured iCloud hosts.
func (v *Provider) Recheck(ctx context.Context, settings map[string]any, secrets map[string]string, scope []string) error {
	_, err := v.Validate(ctx, provider.Request{Settings: map[string]any{"username": settings["username"], "password": secrets["password"]}, Scope: scope, Recheck: true})
	return err
}
