package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// Standard ports.
const (
	IMAPSPort      = 993
	IMAPPort       = 143
	SMTPSPort      = 465
	SubmissionPort = 587
	SMTPPort       = 25
)

// Options configure a Provider.
type Options struct {
	// Network supplies timeout (default 15s), allow_insecure and ca_file.
	Network netx.Config
	// TLS is the client TLS configuration; nil means
	// netx.TLSConfig(Network) (the system roots plus network.ca_file).
	TLS *tls.Config
	// Finder finds the mail servers of an address when hosts are missing;
	// nil means hosts are required.
	Finder provider.ServerFinder
	// Dial opens TCP connections; nil means a net.Dialer guarded by
	// Network.Guard (public addresses only unless
	// network.allow_private_hosts or network.allowed_cidrs permit others,
	// checked on the address dialled).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Provider is the IMAP provider: it checks and re-checks IMAP and SMTP
// credentials. It is safe for concurrent use.
type Provider struct {
	opts    Options
	tls     *tls.Config
	tlsErr  error
	timeout time.Duration
}

// New returns a Provider.
func New(o Options) *Provider {
	v := &Provider{opts: o, tls: o.TLS, timeout: o.Network.Timeout}
	if v.opts.Dial == nil {
		v.opts.Dial = o.Network.Guard().Dialer(net.Dialer{}).DialContext
	}
	if v.tls == nil {
		v.tls, v.tlsErr = netx.TLSConfig(o.Network)
	}
	if v.timeout <= 0 {
		v.timeout = 15 * time.Second
	}
	return v
}

// Account is one mailbox's IMAP and SMTP servers and credentials.
type Account struct {
	IMAPHost, IMAPUsername, IMAPPassword string
	IMAPPort                             int
	SMTPHost, SMTPUsername, SMTPPassword string
	SMTPPort                             int
	// Hint is appended to the message of a rejected login (for example
	// how to make an app-specific password); empty means the hint of a
	// known host, if any.
	Hint string
}

// settings are the settings of provider "imap" (see the package doc).
type settings struct {
	IMAPUsername string `setting:"imap_username,required"`
	IMAPPassword string `setting:"imap_password,required"`
	SMTPUsername string `setting:"smtp_username"`
	SMTPPassword string `setting:"smtp_password"`
	Email        string `setting:"email"`
	IMAPHost     string `setting:"imap_host,trim"`
	SMTPHost     string `setting:"smtp_host,trim"`
	IMAPPort     int    `setting:"imap_port,port"`
	SMTPPort     int    `setting:"smtp_port,port"`
}

// CheckSettings implements provider.SettingsChecker.
func (v *Provider) CheckSettings(m map[string]any) (string, error) {
	s, err := provider.DecodeSettings[settings](m)
	if err != nil {
		return "", err
	}
	return accountEmail(s.Email, s.IMAPUsername, false)
}

// Validate implements provider.Provider.
func (v *Provider) Validate(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := provider.DecodeSettings[settings](req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	a := Account{
		IMAPUsername: s.IMAPUsername, IMAPPassword: s.IMAPPassword, IMAPPort: s.IMAPPort,
		SMTPUsername: s.SMTPUsername, SMTPPassword: s.SMTPPassword, SMTPPort: s.SMTPPort,
	}
	if a.SMTPUsername == "" {
		a.SMTPUsername = a.IMAPUsername
	}
	if a.SMTPPassword == "" {
		a.SMTPPassword = a.IMAPPassword
	}
	explicitEmail := s.Email
	email, err := accountEmail(explicitEmail, s.IMAPUsername, req.Recheck)
	if err != nil {
		return provider.Result{}, err
	}
	if a.IMAPHost, err = host(s.IMAPHost, "imap_host"); err != nil {
		return provider.Result{}, err
	}
	if a.SMTPHost, err = host(s.SMTPHost, "smtp_host"); err != nil {
		return provider.Result{}, err
	}

	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	if err := v.fillServers(ctx, email, &a); err != nil {
		return provider.Result{}, a.redactor().Error(err)
	}
	if err := v.Check(ctx, a); err != nil {
		return provider.Result{}, err
	}
	res := provider.Result{
		Email: email,
		Settings: map[string]any{
			"imap_host": a.IMAPHost, "imap_port": a.IMAPPort, "imap_username": a.IMAPUsername,
			"smtp_host": a.SMTPHost, "smtp_port": a.SMTPPort, "smtp_username": a.SMTPUsername,
		},
		Secrets: map[string]string{"imap_password": a.IMAPPassword},
	}
	if explicitEmail != "" {
		res.Settings["email"] = email
	}
	if a.SMTPPassword != a.IMAPPassword {
		res.Secrets["smtp_password"] = a.SMTPPassword
	}
	return res, nil
}

// Recheck implements provider.Rechecker: the stored settings (hosts,
// ports, usernames) and passwords go through Validate again (IMAP LOGIN
// and LIST, SMTP AUTH); nothing is looked up.
func (v *Provider) Recheck(ctx context.Context, settings map[string]any, secrets map[string]string, scope []string) error {
	_, err := v.Validate(ctx, provider.Request{Settings: provider.MergeSettings(settings, secrets), Scope: scope, Recheck: true})
	return err
}

// accountEmail is the grant's email: settings.email when given, else the
// IMAP username when it is an address (by emailaddr's rules, as detection
// uses: the grant's email identifies it in its application).
// A re-check (recheck) applies the looser rule the grant was accepted
// with.
func accountEmail(explicit, username string, recheck bool) (string, error) {
	if explicit = strings.TrimSpace(explicit); explicit != "" {
		if err := provider.AccountAddress(explicit, recheck); err != nil {
			return "", provider.Errorf(provider.ClassBadRequest, "settings.%s", err.Error())
		}
		return strings.ToLower(explicit), nil
	}
	username = strings.TrimSpace(username)
	if err := provider.AccountAddress(username, recheck); err != nil {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.imap_username %q is not an email address; add settings.email with the account's address", username)
	}
	return strings.ToLower(username), nil
}

// fillServers completes missing hosts (from the finder) and ports.
func (v *Provider) fillServers(ctx context.Context, email string, a *Account) error {
	if a.IMAPHost == "" || a.SMTPHost == "" {
		var missing []string
		if a.IMAPHost == "" {
			missing = append(missing, "imap_host")
		}
		if a.SMTPHost == "" {
			missing = append(missing, "smtp_host")
		}
		domain := email[strings.LastIndexByte(email, '@')+1:]
		if v.opts.Finder == nil {
			return provider.Errorf(provider.ClassBadRequest, "settings.%s is required: grantd cannot detect the mail servers of %s here; give %s and the ports", strings.Join(missing, " and settings."), domain, strings.Join(missing, " and "))
		}
		ms, err := v.opts.Finder.FindMailServers(ctx, email)
		if err != nil {
			if c := provider.ClassOf(err); c != "" && c != provider.ClassBadRequest {
				return err
			}
			var reason string
			var pe *provider.Error
			if errors.As(err, &pe) {
				reason = ": " + pe.Message
			}
			return &provider.Error{Class: provider.ClassBadRequest, Err: err, Message: fmt.Sprintf(
				"settings.%s is missing and could not be found for %s%s; give %s and the ports", strings.Join(missing, " and settings."), domain, reason, strings.Join(missing, " and "))}
		}
		if a.IMAPHost == "" && ms.IMAPHost != "" {
			a.IMAPHost = ms.IMAPHost
			if a.IMAPPort == 0 {
				a.IMAPPort = ms.IMAPPort
			}
		}
		if a.SMTPHost == "" && ms.SMTPHost != "" {
			a.SMTPHost = ms.SMTPHost
			if a.SMTPPort == 0 {
				a.SMTPPort = ms.SMTPPort
			}
		}
		for _, f := range []struct{ name, val string }{{"imap_host", a.IMAPHost}, {"smtp_host", a.SMTPHost}} {
			if f.val == "" {
				return provider.Errorf(provider.ClassBadRequest, "settings.%s is missing and the %s server of %s could not be found; give settings.%s and its port", f.name, strings.ToUpper(f.name[:4]), domain, f.name)
			}
		}
	}
	if a.IMAPPort == 0 {
		a.IMAPPort = IMAPSPort
	}
	if a.SMTPPort == 0 {
		a.SMTPPort = SubmissionPort
	}
	return nil
}

// Check logs in to the account's IMAP server (and lists its folders) and
// SMTP server, concurrently, and returns a classified *provider.Error when
// either refuses. Secrets never appear in the error.
func (v *Provider) Check(ctx context.Context, a Account) error {
	if v.tlsErr != nil {
		return v.tlsErr
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	type outcome struct {
		err error
	}
	results := make(chan outcome, 2)
	go func() { results <- outcome{v.checkIMAP(cctx, a)} }()
	go func() { results <- outcome{v.checkSMTP(cctx, a)} }()
	var first error
	for range 2 {
		r := <-results
		if r.err != nil && first == nil {
			first = r.err
			stop() // the other check's answer no longer matters
		}
	}
	return a.redactor().Error(first)
}

// redactor removes a's passwords from errors, also in the forms they are
// sent in (an IMAP quoted string, base64 for AUTH LOGIN, the SASL PLAIN
// response), in case a server echoes them.
func (a Account) redactor() *provider.Redactor {
	r := provider.NewRedactor(a.IMAPPassword, a.SMTPPassword)
	r.AddEncoded(provider.SASLPlain("", a.IMAPUsername, a.IMAPPassword), provider.SASLPlain(a.IMAPUsername, a.IMAPUsername, a.IMAPPassword),
		provider.SASLPlain("", a.SMTPUsername, a.SMTPPassword), provider.SASLPlain(a.SMTPUsername, a.SMTPUsername, a.SMTPPassword))
	return r
}

// host checks h, the trimmed value of settings.key: a host name or an IP
// address ("" when not given).
func host(h, key string) (string, error) {
	if h == "" {
		return "", nil
	}
	if len(h) > 253 || strings.ContainsFunc(h, func(r rune) bool { return r < 0x20 || r == 0x7f }) ||
		strings.ContainsAny(h, "/ @") || strings.Contains(h, "://") {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.%s must be a host name or IP address, like imap.example.com (no scheme, path or port)", key)
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return "", provider.Errorf(provider.ClassBadRequest, "settings.%s must not contain a port; give the port in settings.%s_port", key, key[:4])
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), nil
}
