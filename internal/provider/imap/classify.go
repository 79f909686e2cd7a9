package imap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// Hints for providers that want app-specific passwords.
const (
	HintICloud = "iCloud Mail needs an app-specific password, not the Apple Account password: create one at appleid.apple.com (Sign-In and Security, App-Specific Passwords)"
	HintGmail  = "Google accounts with 2-Step Verification need an app password for IMAP and SMTP: create one at myaccount.google.com/apppasswords"
	HintYahoo  = "Yahoo and AOL Mail need an app password for IMAP and SMTP: generate one in the account's security settings (Generate app password)"
)

// knownHint returns the app-password hint of a well-known host.
func knownHint(host string) string {
	h := strings.ToLower(host)
	switch {
	case hostIn(h, "gmail.com", "googlemail.com", "google.com"):
		return HintGmail
	case hostIn(h, "mail.me.com", "me.com", "icloud.com", "mac.com"):
		return HintICloud
	case hostIn(h, "yahoo.com", "aol.com", "ymail.com"):
		return HintYahoo
	}
	return ""
}

// microsoftHost reports whether host is Microsoft 365 or Outlook.com,
// which turned basic (password) authentication off.
func microsoftHost(host string) bool {
	return hostIn(strings.ToLower(host), "office365.com", "outlook.com", "office.com", "hotmail.com", "live.com")
}

func hostIn(h string, domains ...string) bool {
	h = strings.TrimSuffix(h, ".")
	for _, d := range domains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

func (t target) name() string { return strings.ToUpper(t.proto) }

func (t target) hintFor() string {
	if t.hint != "" {
		return t.hint
	}
	return knownHint(t.host)
}

func withHint(msg, hint string) string {
	if hint == "" {
		return msg
	}
	return msg + ". " + hint
}

func (t target) fail(c provider.Class, err error, pe map[string]any, format string, args ...any) *provider.Error {
	if pe == nil {
		pe = map[string]any{}
	}
	pe["protocol"] = t.proto
	pe["host"] = t.addr()
	return &provider.Error{Class: c, Message: fmt.Sprintf(format, args...), ProviderError: pe, Err: err}
}

// Texts servers send, lower-cased.
var (
	appPasswordTexts = []string{"application-specific password", "app-specific password", "app password", "application password", "invalidsecondfactor", "apppassword"}
	basicAuthTexts   = []string{"basic authentication is disabled", "basicauthblocked", "5.7.139", "smtpclientauthentication is disabled", "authentication unsuccessful, basic"}
	disabledTexts    = []string{"not enabled for imap", "imap access is disabled", "imap is disabled", "enable imap", "enable your account for imap", "log in via your web browser", "web login required", "imap access disabled"}
	transientTexts   = []string{"temporar", "try again", "too many simultaneous", "too many connections", "service unavailable", "server busy", "system busy",
		// Gmail: "[ALERT] Account exceeded command or bandwidth limits."
		// (clears by itself within a day)
		"exceeded command or bandwidth", "bandwidth limit", "overquota"}
)

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// classify turns a failure of stage into a *provider.Error.
func (v *Provider) classify(ctx context.Context, t target, stage string, err error) *provider.Error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		f := v.imapFailure(t, stage, ie)
		f.Answered = true
		return f
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		f := v.smtpFailure(t, stage, se)
		f.Answered = true
		return f
	}
	addr := t.addr()
	if errors.Is(err, netx.ErrNotPublic) {
		// Neither the address the name resolved to nor anything about
		// what listens there is said.
		return t.fail(provider.ClassAddressRefused, err, map[string]any{"error": "address refused"},
			"the %s server %s cannot be used: %s; grantd connects only to public addresses unless its operator permits others (network.allow_private_hosts, network.allowed_cidrs)", t.name(), addr, netx.ErrNotPublic)
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return t.fail(provider.ClassUnavailable, err, map[string]any{"error": "timeout"}, "the %s server %s did not answer within %s; nothing was stored, try again later", t.name(), addr, v.timeout)
		}
		return t.fail(provider.ClassUnavailable, err, map[string]any{"error": "canceled"}, "the %s check of %s was canceled", t.name(), addr)
	}
	if errors.Is(err, errNoStartTLS) {
		return t.fail(provider.ClassTLS, err, map[string]any{"error": err.Error()}, "the %s server %s does not offer TLS (no STARTTLS on port %d); grantd sends passwords only over TLS. Use the server's TLS port (%s)", t.name(), addr, t.port, tlsPorts(t.proto))
	}
	if m, ok := tlsProblem(err); ok {
		return t.fail(provider.ClassTLS, err, map[string]any{"error": err.Error()}, "TLS with the %s server %s failed: %s", t.name(), addr, m)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return t.fail(provider.ClassUnavailable, err, map[string]any{"error": "dns: " + dnsErr.Err}, "the %s server host %s could not be resolved (%s); check settings.%s_host", t.name(), t.host, dnsErr.Err, t.proto)
	}
	if stage == stageConnect {
		return t.fail(provider.ClassUnavailable, err, map[string]any{"error": errText(err)}, "could not connect to the %s server %s (%s); nothing was stored, try again later", t.name(), addr, errText(err))
	}
	if dropped(err) {
		return t.fail(provider.ClassUnavailable, err, map[string]any{"error": "connection closed"}, "the %s server %s closed the connection (during %s); nothing was stored, try again later", t.name(), addr, stage)
	}
	if stage == stageGreeting || stage == stageStartTLS || errors.Is(err, errNotProtocol) {
		// Not a response of the protocol (those were classified above):
		// another service, whose words are not repeated.
		return t.fail(provider.ClassUnavailable, err, map[string]any{"error": "not an " + t.name() + " server"},
			"the server at %s did not answer as an %s server (during %s); check settings.%s_host and settings.%s_port. Nothing was stored", addr, t.name(), stage, t.proto, t.proto)
	}
	return t.fail(provider.ClassUnavailable, err, map[string]any{"error": errText(err)}, "the %s server %s failed (during %s): %s; nothing was stored, try again later", t.name(), addr, stage, errText(err))
}

func tlsPorts(proto string) string {
	if proto == "smtp" {
		return "465 for TLS or 587 for STARTTLS"
	}
	return "993 for TLS or 143 for STARTTLS"
}

// errText is an error's text without the local address details of net
// errors.
func errText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func dropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection closed") || strings.Contains(err.Error(), "closed network connection")
}

// tlsProblem recognizes TLS and certificate failures and says what they
// mean.
func tlsProblem(err error) (string, bool) {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &unknown):
		return "its certificate is not signed by a trusted authority (" + err.Error() + "); if the server uses a private CA, add it to network.ca_file", true
	case errors.As(err, &hostname):
		return "its certificate is not valid for this host name (" + hostname.Error() + ")", true
	case errors.As(err, &invalid):
		return "its certificate is invalid (" + invalid.Error() + ")", true
	case errors.As(err, &verify):
		return "its certificate could not be verified (" + verify.Error() + ")", true
	case errors.As(err, &record):
		return "the server did not answer with TLS on this port; is the port right?", true
	case errors.As(err, &alert):
		return "the server refused the TLS handshake (" + alert.Error() + ")", true
	}
	if strings.HasPrefix(err.Error(), "tls: ") {
		return err.Error(), true
	}
	return "", false
}

// imapResponse renders an IMAP status response the way the server sent it.
func imapResponse(e *imap.Error) string {
	s := string(e.Type)
	if e.Code != "" {
		s += " [" + string(e.Code) + "]"
	}
	if e.Text != "" {
		s += " " + e.Text
	}
	return s
}

// credentialCode reports a response code that is a verdict on the
// credentials, whatever the text says.
func credentialCode(c imap.ResponseCode) bool {
	return c == imap.ResponseCodeAuthenticationFailed || c == imap.ResponseCodeAuthorizationFailed || c == imap.ResponseCodeExpired
}

func (v *Provider) imapFailure(t target, stage string, e *imap.Error) *provider.Error {
	resp := imapResponse(e)
	low := strings.ToLower(resp)
	pe := map[string]any{"response": resp}
	addr := t.addr()
	switch {
	case e.Code == imap.ResponseCodeUnavailable || e.Code == imap.ResponseCodeInUse || e.Code == imap.ResponseCodeServerBug ||
		e.Code == imap.ResponseCodeLimit || e.Code == imap.ResponseCodeOverQuota || containsAny(low, transientTexts) && !credentialCode(e.Code):
		return t.fail(provider.ClassUnavailable, e, pe, "the IMAP server %s is temporarily unavailable (%s); this says nothing about the credentials. Nothing was stored, try again later", addr, resp)
	case stage == stageGreeting || stage == stageStartTLS:
		return t.fail(provider.ClassUnavailable, e, pe, "the IMAP server %s refused the connection (%s); nothing was stored, try again later", addr, resp)
	case containsAny(low, basicAuthTexts) || (stage == stageLogin && microsoftHost(t.host)):
		return t.fail(provider.ClassBasicAuthDisabled, e, pe, "the IMAP server %s refused password login: basic authentication is disabled for this account (Microsoft 365 and Outlook.com no longer accept passwords for IMAP and SMTP); connect it with provider \"microsoft\" (OAuth) instead", addr)
	case containsAny(low, appPasswordTexts):
		hint := t.hintFor()
		if hint == "" {
			hint = "create an app-specific password in the account's security settings and use it as imap_password"
		}
		return t.fail(provider.ClassAppPasswordRequired, e, pe, "the IMAP server %s requires an app-specific password for %s. %s", addr, t.username, hint)
	case containsAny(low, disabledTexts) || e.Code == "WEBALERT":
		return t.fail(provider.ClassAccessDisabled, e, pe, "IMAP access is not enabled for %s on %s: turn IMAP on in the account's mail settings (or sign in once in a web browser if the provider asks), then try again", t.username, addr)
	case e.Code == imap.ResponseCodePrivacyRequired:
		return t.fail(provider.ClassTLS, e, pe, "the IMAP server %s requires TLS to log in; use port 993 (TLS) or 143 (STARTTLS)", addr)
	case e.Type == imap.StatusResponseTypeBad:
		// BAD is a protocol or server error, no verdict on the account
		// (Gmail: "BAD User is authenticated but not connected.").
		return t.fail(provider.ClassUnavailable, e, pe, "the IMAP server %s answered the %s with an error (%s); nothing was stored, try again later", addr, stage, resp)
	case stage == stageList:
		return t.fail(provider.ClassAccessDisabled, e, pe, "IMAP access to the folders of %s is not enabled on %s: the login worked but listing folders was refused (%s)", t.username, addr, resp)
	}
	return t.fail(provider.ClassInvalidCredentials, e, pe, "%s", withHint(fmt.Sprintf("the IMAP server %s rejected the username or password of %s", addr, t.username), t.hintFor()))
}

// smtpResponse renders an SMTP reply the way the server sent it.
func smtpResponse(e *smtp.SMTPError) string {
	s := fmt.Sprintf("%03d", e.Code)
	if e.EnhancedCode != (smtp.EnhancedCode{}) && e.EnhancedCode != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	if e.Message != "" {
		s += " " + strings.ReplaceAll(e.Message, "\n", " ")
	}
	return s
}

func (v *Provider) smtpFailure(t target, stage string, e *smtp.SMTPError) *provider.Error {
	resp := smtpResponse(e)
	low := strings.ToLower(resp)
	pe := map[string]any{"response": resp, "code": e.Code}
	addr := t.addr()
	switch {
	case e.Code/100 == 4:
		return t.fail(provider.ClassUnavailable, e, pe, "the SMTP server %s is temporarily unavailable (%s); this says nothing about the credentials. Nothing was stored, try again later", addr, resp)
	case stage == stageGreeting || stage == stageStartTLS:
		return t.fail(provider.ClassUnavailable, e, pe, "the SMTP server %s refused the connection (%s); nothing was stored, try again later", addr, resp)
	case containsAny(low, basicAuthTexts):
		return t.fail(provider.ClassBasicAuthDisabled, e, pe, "the SMTP server %s refused password login: basic authentication (SMTP AUTH) is disabled for this account; for Microsoft 365 connect it with provider \"microsoft\" (OAuth) instead", addr)
	case containsAny(low, disabledTexts) || e.EnhancedCode == smtp.EnhancedCode{5, 7, 14}:
		// Gmail: "534 5.7.14 <https://accounts.google.com/…> Please log in
		// via your web browser and then try again."
		return t.fail(provider.ClassAccessDisabled, e, pe, "the SMTP server %s wants %s to sign in once in a web browser before it accepts the password (%s); do that, then try again", addr, t.username, resp)
	case containsAny(low, appPasswordTexts) || (e.Code == 534 && e.EnhancedCode == smtp.EnhancedCode{5, 7, 9}):
		hint := t.hintFor()
		if hint == "" {
			hint = "create an app-specific password in the account's security settings and use it as smtp_password"
		}
		return t.fail(provider.ClassAppPasswordRequired, e, pe, "the SMTP server %s requires an app-specific password for %s. %s", addr, t.username, hint)
	case e.Code == 530 && strings.Contains(low, "tls") || e.Code == 523 || e.Code == 538:
		return t.fail(provider.ClassTLS, e, pe, "the SMTP server %s requires TLS to authenticate; use port 465 (TLS) or 587 (STARTTLS)", addr)
	case e.Code == 502 || e.Code == 504:
		return v.noSMTPAuth(t, resp)
	case e.Code == 535 || e.Code == 534 || e.Code == 530 || e.Code == 501 || e.Code == 550 || e.Code == 553 || e.Code == 554:
		hint := t.hintFor()
		if hint == "" && microsoftHost(t.host) {
			hint = "if the password is right, SMTP AUTH may be disabled for this Microsoft 365 mailbox"
		}
		return t.fail(provider.ClassInvalidCredentials, e, pe, "%s", withHint(fmt.Sprintf("the SMTP server %s rejected the username or password of %s", addr, t.username), hint))
	}
	return t.fail(provider.ClassUnavailable, e, pe, "the SMTP server %s answered the login with an error (%s); nothing was stored, try again later", addr, resp)
}

func (v *Provider) noSMTPAuth(t target, offered string) *provider.Error {
	pe := map[string]any{}
	if offered != "" {
		pe["response"] = offered
	}
	f := t.fail(provider.ClassBadRequest, nil, pe, "the SMTP server %s offers no password authentication (AUTH PLAIN or LOGIN); give the submission server and port (usually 587 or 465) in smtp_host and smtp_port", t.addr())
	f.Answered = true // what the server offered
	return f
}
