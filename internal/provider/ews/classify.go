package ews

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// challenges lists the schemes of the WWW-Authenticate headers (without
// their tokens).
func challenges(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Www-Authenticate") {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			scheme, _, _ := strings.Cut(part, " ")
			if scheme == "" || strings.Contains(scheme, "=") {
				continue // a parameter of the previous challenge
			}
			out = append(out, scheme)
		}
	}
	return out
}

func hasScheme(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (c *session) unauthorized(resp *http.Response, sent []string, pe map[string]any) error {
	offered := challenges(resp.Header)
	pe["www_authenticate"] = strings.Join(offered, ", ")
	credentialsSent, negotiated := false, false
	for _, k := range sent {
		switch k {
		case "basic", "ntlm-authenticate":
			credentialsSent = true
		case "ntlm-negotiate":
			negotiated = true
		}
	}
	if c.method == "ntlm" && !credentialsSent {
		// A later call on an NTLM connection was refused without a new
		// challenge: the server did not keep the connection authenticated.
		credentialsSent = true
	}
	switch {
	case credentialsSent:
		how := "NTLM"
		if pe["auth_method"] == "basic" {
			how = "Basic"
		}
		return &provider.Error{Class: provider.ClassInvalidCredentials, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s rejected settings.ews_username and settings.ews_password (%s authentication); check the user name (user@domain or DOMAIN\\user) and the password", c.ep.host, how)}
	case negotiated:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the EWS server at %s did not complete the NTLM handshake (no usable challenge); grantd supports NTLMv2 and Basic authentication", c.ep.host)}
	case hasScheme(offered, "Bearer") && !hasScheme(offered, "Basic") && !hasScheme(offered, "NTLM") && !hasScheme(offered, "Negotiate"):
		return &provider.Error{Class: provider.ClassBasicAuthDisabled, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s accepts only OAuth (Bearer) tokens: password authentication is disabled there (as on Exchange Online), so EWS credentials cannot be used", c.ep.host)}
	default:
		what := "none"
		if len(offered) > 0 {
			what = strings.Join(offered, ", ")
		}
		return &provider.Error{Class: provider.ClassBasicAuthDisabled, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s offers no password authentication grantd supports (offered: %s; grantd supports NTLM, Negotiate with NTLM, and Basic)", c.ep.host, what)}
	}
}

func (c *session) notEWS(what string, pe map[string]any) error {
	return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
		Message: fmt.Sprintf("%s is not an EWS endpoint: %s %s; check %s (the Exchange server's host name, for example mail.contoso.com, or its https://…/EWS/Exchange.asmx URL)", c.ep.url, c.ep.host, what, c.ep.what)}
}

var (
	transientCodes = map[string]bool{
		"ErrorServerBusy": true, "ErrorMailboxStoreUnavailable": true, "ErrorInternalServerError": true,
		"ErrorInternalServerTransientError": true, "ErrorTimeoutExpired": true, "ErrorConnectionFailed": true,
		"ErrorMailboxMoveInProgress": true, "ErrorADUnavailable": true, "ErrorProxyRequestProcessingFailed": true,
		"ErrorBatchProcessingStopped": true,
	}
	deniedCodes = map[string]bool{
		"ErrorAccessDenied": true, "ErrorExchangeWebServicesNotEnabled": true, "ErrorImpersonateUserDenied": true,
		"ErrorImpersonationDenied": true, "ErrorAccountDisabled": true, "ErrorInvalidLicense": true,
		"ErrorMailboxDisabled": true,
	}
	requestCodes = map[string]bool{
		"ErrorInvalidServerVersion": true, "ErrorSchemaValidation": true, "ErrorInvalidRequest": true,
		"ErrorInvalidSchemaVersionForMailboxVersion": true,
	}
)

// codeError classifies an EWS response code (from a response message, or
// from a fault when fault is true); wait is the back-off Exchange asked
// for (BackOffMilliseconds), the RetryAfter of a transient code.
func (c *session) codeError(op, code, text string, fault bool, wait time.Duration, extra ...map[string]any) error {
	err := c.classifyCode(op, code, text, fault, extra...)
	if pe, ok := err.(*provider.Error); ok && pe.Class == provider.ClassUnavailable {
		pe.RetryAfter = wait
	}
	return err
}

func (c *session) classifyCode(op, code, text string, fault bool, extra ...map[string]any) error {
	pe := map[string]any{"operation": op, "response_code": code}
	if text != "" {
		pe["message_text"] = text
	}
	for _, m := range extra {
		for k, v := range m {
			pe[k] = v
		}
	}
	words := code
	if text != "" {
		words += ": " + text
	}
	switch {
	case transientCodes[code]:
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s is busy or temporarily unavailable (%s); nothing was stored, retry later", c.ep.host, words)}
	case deniedCodes[code]:
		return &provider.Error{Class: provider.ClassAccessDisabled, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s refused EWS access for this mailbox (%s): EWS may be disabled for the mailbox or the user, or ews_username may not open the mailbox of settings.email", c.ep.host, words)}
	case code == "ErrorNonExistentMailbox":
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the Exchange server at %s has no mailbox for settings.email (%s)", c.ep.host, words)}
	case requestCodes[code]:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the EWS server at %s refused grantd's %s request (%s); grantd needs Exchange 2013 or later", c.ep.host, op, words)}
	case fault:
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the EWS server at %s failed the %s request (%s); nothing was stored, retry later", c.ep.host, op, words)}
	default:
		return &provider.Error{Class: provider.ClassBadRequest, ProviderError: pe, Answered: true,
			Message: fmt.Sprintf("the EWS server at %s refused the %s request (%s)", c.ep.host, op, words)}
	}
}

func (c *session) faultError(op string, f *fault, pe map[string]any) error {
	text := strings.TrimSpace(f.String)
	if text == "" {
		text = strings.TrimSpace(f.Detail.Message)
	}
	extra := map[string]any{"status": pe["status"], "fault_code": strings.TrimSpace(f.Code)}
	if m, ok := pe["auth_method"]; ok {
		extra["auth_method"] = m
	}
	return c.codeError(op, f.code(), text, true, backOff(f.Detail.MessageXML), extra)
}

func (c *session) transportError(op string, err error) error {
	pe := map[string]any{"operation": op, "error": err.Error()}
	if errors.Is(err, netx.ErrNotPublic) {
		// Neither the address the name resolved to nor anything about
		// what listens there is said.
		pe["error"] = "address refused"
		return &provider.Error{Class: provider.ClassAddressRefused, ProviderError: pe, Err: err,
			Message: fmt.Sprintf("the EWS server %s (%s) cannot be used: %s; grantd connects only to public addresses unless its operator permits others (network.allow_private_hosts, network.allowed_cidrs)", c.ep.host, c.ep.what, netx.ErrNotPublic)}
	}
	if notHTTP(err) {
		// Another service on the port: what it sent is not repeated.
		pe["error"] = "not an HTTP server"
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Err: err,
			Message: fmt.Sprintf("the server at %s:%d did not answer as an HTTP server; check %s (the Exchange server's host name, for example mail.contoso.com, or its https://…/EWS/Exchange.asmx URL); nothing was stored", c.ep.host, c.ep.port, c.ep.what)}
	}
	unavailable := func(format string, args ...any) error {
		return &provider.Error{Class: provider.ClassUnavailable, ProviderError: pe, Err: err,
			Message: fmt.Sprintf(format, args...) + "; nothing was stored, retry later"}
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		alertErr   tls.AlertError
		dnsErr     *net.DNSError
		netErr     net.Error
		tlsMessage = func(why string) error {
			return &provider.Error{Class: provider.ClassTLS, ProviderError: pe, Err: err,
				Message: fmt.Sprintf("TLS with the EWS server %s (%s) failed: %s", c.ep.host, c.ep.what, why)}
		}
	)
	switch {
	case errors.As(err, &unknownCA):
		return tlsMessage("its certificate is not signed by a trusted CA (add the CA to network.ca_file)")
	case errors.As(err, &hostErr):
		return tlsMessage(fmt.Sprintf("its certificate is not valid for %s", c.ep.host))
	case errors.As(err, &invalid):
		return tlsMessage("its certificate is invalid or expired")
	case errors.As(err, &verifyErr):
		return tlsMessage("its certificate could not be verified")
	case errors.As(err, &recordErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return tlsMessage(fmt.Sprintf("port %d does not speak TLS", c.ep.port))
	case errors.As(err, &alertErr):
		return tlsMessage("the handshake was refused (" + alertErr.Error() + ")")
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return unavailable("the EWS server %s:%d did not answer within %s", c.ep.host, c.ep.port, c.timeout)
	case errors.Is(err, context.Canceled):
		return unavailable("the check of the EWS server %s was canceled", c.ep.host)
	case errors.As(err, &dnsErr):
		return unavailable("the EWS server %s (%s) could not be resolved (%s)", c.ep.host, c.ep.what, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return unavailable("the EWS server %s:%d refused the connection (%s)", c.ep.host, c.ep.port, c.ep.what)
	case strings.Contains(err.Error(), "tls: "):
		return tlsMessage(err.Error())
	}
	return unavailable("the EWS server %s:%d could not be reached (%v)", c.ep.host, c.ep.port, err)
}

// notHTTP reports an answer that is not HTTP: net/http quotes what it got
// ("malformed HTTP response \"SSH-2.0-…\""), or, when the peer spoke
// before the request was written (a banner, as SSH and SMTP servers send
// at once), its transport saw an unsolicited answer on an idle connection
// and closed it ("readLoopPeekFailLocked", or the request's own write
// failing on the connection the transport closed: net.ErrClosed).
func notHTTP(err error) bool {
	s := err.Error()
	return strings.Contains(s, "malformed HTTP") || strings.Contains(s, "malformed MIME header") ||
		strings.Contains(s, "readLoopPeekFailLocked") ||
		(errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded))
}
