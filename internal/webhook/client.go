package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/netx"
)

// MaxResponseBytes bounds how much of a receiver's answer is read (the
// challenge's value, or a body nobody needs): a huge or endless body
// costs nothing more.
const MaxResponseBytes = 4 << 10

// ChallengeTimeout is how long a receiver has to answer the challenge
// (Service.ChallengeTimeout when 0).
const ChallengeTimeout = 10 * time.Second

// NewHTTPClient returns the client deliveries and challenges are sent
// with: its connections go through guard (checked on the address actually
// dialled, so a name that resolves to a private address is refused even
// when it resolved to a public one before), no proxy (a proxy would be
// the one checked), redirects are never followed (the 3xx is the answer),
// and TLS trusts the system roots plus tlsConfig's.
func NewHTTPClient(guard netx.Guard, tlsConfig *tls.Config, maxConns int) *http.Client {
	d := guard.Dialer(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
	}
	if maxConns < 2 {
		maxConns = 2
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // the attempt's context bounds it
		// Answers are read only up to MaxResponseBytes; a gzip answer
		// would be read through the decompressor.
		DisableCompression: true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckURL checks a destination URL as given: an absolute http or https
// URL with a host, without credentials or a fragment, at most 2048 bytes;
// an IP literal must be one the guard permits (a name is checked when it
// is dialled). The error says what is wrong.
func CheckURL(raw string, guard netx.Guard) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("webhook_url is required: the https URL grantd sends notifications to")
	}
	if len(raw) > 2048 {
		return nil, fmt.Errorf("webhook_url is %d bytes long; at most 2048 are allowed", len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, fmt.Errorf("webhook_url %q is not an absolute URL such as https://example.com/webhooks", clip(raw, 100))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("webhook_url must be an http:// or https:// URL, not %s://", clip(u.Scheme, 20))
	}
	if u.Hostname() == "" {
		return nil, errors.New("webhook_url has no host")
	}
	if u.User != nil {
		return nil, errors.New("webhook_url must not carry a user name or password: verify the x-nylas-signature header instead")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("webhook_url must not have a #fragment (it is never sent to the server)")
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !guard.Permits(addr) {
		return nil, errNotPublicURL
	}
	return u, nil
}

var errNotPublicURL = errors.New("webhook_url points to a loopback, private, link-local or otherwise non-public address; " +
	"grantd refuses those unless the operator sets webhooks.allow_private_urls")

// Outcome is what one attempt came to.
type Outcome struct {
	// Code is the HTTP status (0 when there was no answer).
	Code int
	// Status is a short label for the destination's last_delivery_status
	// and the logs: the code, or "timeout", "connection_refused",
	// "tls_error", "dns_error", "not_public", "network_error".
	Status string
	// Err describes a failure for a person (never a secret).
	Err string
}

// Delivered reports whether the receiver took it (2xx).
func (o Outcome) Delivered() bool { return o.Code >= 200 && o.Code < 300 }

// Gone reports whether the receiver said the destination no longer
// exists (410): its deliveries stop.
func (o Outcome) Gone() bool { return o.Code == http.StatusGone }

// post sends one delivery: body (gzipped when compressed) signed with
// secret, within timeout.
func post(ctx context.Context, c *http.Client, target string, body []byte, compressed bool, signature string, timeout time.Duration) Outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Outcome{Status: "bad_url", Err: "the URL cannot be requested"}
	}
	req.Header.Set("Content-Type", "application/json")
	if compressed {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set(SignatureHeader, signature)
	req.Header.Set("User-Agent", "grantd-webhooks")
	resp, err := c.Do(req)
	if err != nil {
		return failure(ctx, err)
	}
	// Drain a little (so the connection can be reused), never more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	_ = resp.Body.Close()
	o := Outcome{Code: resp.StatusCode, Status: statusCode(resp.StatusCode)}
	switch {
	case o.Delivered():
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.Err = fmt.Sprintf("the receiver answered %d (a redirect, to %s); redirects are not followed: use the final URL", resp.StatusCode, clip(resp.Header.Get("Location"), 200))
	default:
		o.Err = fmt.Sprintf("the receiver answered %d", resp.StatusCode)
	}
	return o
}

// failure classifies an error of client.Do.
func failure(ctx context.Context, err error) Outcome {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		alert   tls.AlertError
	)
	switch {
	case errors.Is(err, netx.ErrNotPublic):
		return Outcome{Status: "not_public", Err: errNotPublicURL.Error()}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || isTimeout(err):
		return Outcome{Status: "timeout", Err: "the receiver did not answer in time"}
	case errors.As(err, &dnsErr):
		return Outcome{Status: "dns_error", Err: "the URL's host name could not be resolved"}
	case errors.As(err, &certErr), errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &invErr),
		errors.As(err, &recErr), errors.As(err, &alert):
		return Outcome{Status: "tls_error", Err: "TLS failed: " + clip(tlsReason(err), 200)}
	case isRefused(err):
		return Outcome{Status: "connection_refused", Err: "the receiver refused the connection"}
	}
	return Outcome{Status: "network_error", Err: "the request failed: " + clip(netReason(err), 200)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isRefused(err error) bool {
	return strings.Contains(err.Error(), "connection refused")
}

// tlsReason is the TLS part of err's message, without the URL.
func tlsReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// netReason is err's message without the URL (which may carry a token in
// its query).
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// challenge sends GET target?challenge=<value> and checks that the answer
// is 200 with exactly value (surrounding white space aside); the error
// says what the receiver did instead.
func challenge(ctx context.Context, c *http.Client, u *url.URL, timeout time.Duration) error {
	value := newSecret()[:32]
	cu := *u
	q := cu.Query()
	q.Set("challenge", value)
	cu.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cu.String(), nil)
	if err != nil {
		return errors.New("webhook_url cannot be requested")
	}
	req.Header.Set("User-Agent", "grantd-webhooks")
	resp, err := c.Do(req)
	if err != nil {
		o := failure(ctx, err)
		if o.Status == "timeout" {
			return fmt.Errorf("the webhook URL did not answer the challenge within %s (GET %s?challenge=…); it must answer 200 with the challenge value as the body", timeout, redact(u))
		}
		if o.Status == "not_public" {
			return errNotPublicURL
		}
		return fmt.Errorf("the challenge (GET %s?challenge=…) failed: %s", redact(u), o.Err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("the webhook URL did not finish its answer to the challenge within %s", timeout)
		}
		return fmt.Errorf("the answer to the challenge could not be read: %s", clip(netReason(err), 200))
	}
	if resp.StatusCode != http.StatusOK {
		where := ""
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			where = fmt.Sprintf(" (a redirect to %s; redirects are not followed: use the final URL)", clip(loc, 200))
		}
		return fmt.Errorf("the webhook URL answered the challenge with status %d%s and body %q; it must answer 200 with the value of the challenge query parameter as the body",
			resp.StatusCode, where, clip(string(got), 100))
	}
	if strings.TrimSpace(string(got)) != value {
		return fmt.Errorf("the webhook URL answered the challenge with 200 but the body %q is not the challenge value; it must answer with exactly the value of the challenge query parameter (plain text, not JSON)",
			clip(string(got), 100))
	}
	return nil
}

// redact is u without its query (which may carry a token).
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	return c.String()
}

// clip cuts s to n bytes, between characters.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
