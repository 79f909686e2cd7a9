package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// security is how a connection is protected.
type security int

const (
	implicitTLS security = iota
	startTLS
	autoTLS // implicit TLS, else STARTTLS when the server answers in plaintext
)

func imapSecurity(port int) security {
	switch port {
	case IMAPSPort:
		return implicitTLS
	case IMAPPort:
		return startTLS
	}
	return autoTLS
}

func smtpSecurity(port int) security {
	switch port {
	case SMTPSPort:
		return implicitTLS
	case SubmissionPort, SMTPPort:
		return startTLS
	}
	return autoTLS
}

// Stages of a check, for classification.
const (
	stageConnect  = "connect"
	stageTLS      = "tls"
	stageGreeting = "greeting"
	stageStartTLS = "starttls"
	stageLogin    = "login"
	stageList     = "list"
)

// errNoStartTLS is a server that does not offer STARTTLS.
var errNoStartTLS = errors.New("the server does not offer STARTTLS")

// errNotProtocol is a peer whose greeting is not one of the protocol's
// (another service on the port). What it sent is never repeated: a caller
// must not learn the banners of the services grantd can reach.
var errNotProtocol = errors.New("the server did not answer in the protocol")

// imapGreeting reports whether line is an IMAP greeting (OK, PREAUTH or
// BYE, RFC 9051 section 7.1.5; some servers send NO or BAD).
func imapGreeting(line string) bool {
	rest, ok := strings.CutPrefix(line, "* ")
	if !ok {
		return false
	}
	typ, _, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(typ) {
	case "OK", "PREAUTH", "BYE", "NO", "BAD":
		return true
	}
	return false
}

// target is one server being checked.
type target struct {
	proto    string // "imap" or "smtp"
	host     string
	port     int
	username string
	hint     string
}

func (t target) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

func (v *Provider) dial(ctx context.Context, t target) (net.Conn, error) {
	return v.opts.Dial(ctx, "tcp", t.addr())
}

func (v *Provider) tlsConfig(host string, alpn string) *tls.Config {
	c := v.tls.Clone()
	c.ServerName = host
	if alpn != "" && c.NextProtos == nil {
		c.NextProtos = []string{alpn}
	}
	return c
}

// conn is a dialled connection closed when ctx ends.
type conn struct {
	net.Conn
	stop func() bool
}

func (v *Provider) connect(ctx context.Context, t target) (*conn, error) {
	c, err := v.dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, stop: context.AfterFunc(ctx, func() { c.Close() })}, nil
}

func (c *conn) release() {
	c.stop()
	c.Close()
}

// handshake runs the client side of TLS on c.
func (v *Provider) handshake(ctx context.Context, c net.Conn, t target, alpn string) (*tls.Conn, error) {
	tc := tls.Client(c, v.tlsConfig(t.host, alpn))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

func isRecordHeader(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

// ---- IMAP ----

func (v *Provider) checkIMAP(ctx context.Context, a Account) error {
	t := target{proto: "imap", host: a.IMAPHost, port: a.IMAPPort, username: a.IMAPUsername, hint: a.Hint}
	c, raw, stage, err := v.imapConnect(ctx, t)
	if err != nil {
		return v.classify(ctx, t, stage, err)
	}
	defer raw.release()
	defer c.Close()
	if err := imapLogin(c, a.IMAPUsername, a.IMAPPassword); err != nil {
		return v.classify(ctx, t, stageLogin, err)
	}
	if _, err := c.List("", "%", nil).Collect(); err != nil {
		return v.classify(ctx, t, stageList, err)
	}
	_ = c.Logout().Wait()
	return nil
}

// imapLogin sends LOGIN straight away (asking for capabilities first costs
// a round trip after STARTTLS); only when the server refuses LOGIN itself
// (not the credentials) and advertises LOGINDISABLED with AUTH=PLAIN does
// it retry with AUTHENTICATE PLAIN.
func imapLogin(c *imapclient.Client, username, password string) error {
	err := c.Login(username, password).Wait()
	var ie *imap.Error
	if err == nil || !errors.As(err, &ie) || credentialCode(ie.Code) || ie.Code == imap.ResponseCodeUnavailable {
		return err
	}
	if caps := c.Caps(); caps.Has(imap.CapLoginDisabled) && caps.Has(imap.AuthCap(sasl.Plain)) {
		return c.Authenticate(sasl.NewPlainClient("", username, password))
	}
	return err
}

// imapConnect opens an IMAP session that has received its greeting, over
// TLS unless plaintext is allowed and the server offers nothing else.
func (v *Provider) imapConnect(ctx context.Context, t target) (*imapclient.Client, *conn, string, error) {
	switch imapSecurity(t.port) {
	case implicitTLS:
		return v.imapImplicit(ctx, t)
	case startTLS:
		return v.imapStartTLS(ctx, t)
	}
	c, raw, stage, err := v.imapImplicit(ctx, t)
	if err != nil && stage == stageTLS && isRecordHeader(err) {
		// The server speaks plaintext first: try STARTTLS.
		return v.imapStartTLS(ctx, t)
	}
	return c, raw, stage, err
}

func (v *Provider) imapImplicit(ctx context.Context, t target) (*imapclient.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	tc, err := v.handshake(ctx, raw, t, "imap")
	if err != nil {
		raw.release()
		return nil, nil, stageTLS, err
	}
	return v.imapGreet(raw, tc)
}

func (v *Provider) imapPlain(ctx context.Context, t target) (*imapclient.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	return v.imapGreet(raw, raw.Conn)
}

func (v *Provider) imapGreet(raw *conn, nc net.Conn) (*imapclient.Client, *conn, string, error) {
	c := imapclient.New(nc, nil)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		raw.release()
		return nil, nil, stageGreeting, err
	}
	return c, raw, "", nil
}

// imapStartTLS reads the greeting and runs STARTTLS itself (so that a
// refusing greeting keeps its words), then hands the TLS connection to the
// client. A server without STARTTLS is used in plaintext only when
// allow_insecure permits it.
func (v *Provider) imapStartTLS(ctx context.Context, t target) (*imapclient.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	br := bufio.NewReaderSize(raw, 4096)
	line, err := readLine(br)
	if err != nil {
		raw.release()
		return nil, nil, stageGreeting, err
	}
	if !imapGreeting(line) {
		raw.release()
		return nil, nil, stageGreeting, errNotProtocol
	}
	if typ, e := parseStatus(strings.TrimPrefix(line, "* ")); typ != "OK" && typ != "PREAUTH" {
		raw.release()
		return nil, nil, stageGreeting, e
	}
	if _, err := io.WriteString(raw, "G0 STARTTLS\r\n"); err != nil {
		raw.release()
		return nil, nil, stageStartTLS, err
	}
	for {
		line, err = readLine(br)
		if err != nil {
			raw.release()
			return nil, nil, stageStartTLS, err
		}
		if strings.HasPrefix(line, "* BYE") {
			raw.release()
			_, e := parseStatus(strings.TrimPrefix(line, "* "))
			return nil, nil, stageGreeting, e
		}
		if strings.HasPrefix(line, "G0 ") {
			break
		}
	}
	if typ, _ := parseStatus(strings.TrimPrefix(line, "G0 ")); typ != "OK" {
		raw.release()
		if v.opts.Network.AllowInsecure {
			return v.imapPlain(ctx, t)
		}
		return nil, nil, stageStartTLS, errNoStartTLS
	}
	if br.Buffered() > 0 {
		raw.release()
		return nil, nil, stageStartTLS, errors.New("the server sent data before the TLS handshake")
	}
	tc, err := v.handshake(ctx, raw, t, "")
	if err != nil {
		raw.release()
		return nil, nil, stageTLS, err
	}
	// The client expects a greeting; the real one came before STARTTLS.
	return v.imapGreet(raw, &prefixConn{Conn: tc, r: io.MultiReader(strings.NewReader("* OK TLS established\r\n"), tc)})
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		frag, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		if sb.Len()+len(frag) > 8192 {
			return "", errors.New("response line too long")
		}
		sb.Write(frag)
		if !isPrefix {
			return sb.String(), nil
		}
	}
}

var respCode = regexp.MustCompile(`^\[([^\]\s]+)[^\]]*\]\s*`)

// parseStatus parses "OK|NO|BAD|BYE|PREAUTH [CODE …] text".
func parseStatus(s string) (string, *imap.Error) {
	typ, rest, _ := strings.Cut(s, " ")
	typ = strings.ToUpper(typ)
	e := &imap.Error{Type: imap.StatusResponseType(typ), Text: rest}
	if m := respCode.FindStringSubmatch(rest); m != nil {
		e.Code = imap.ResponseCode(strings.ToUpper(m[1]))
		e.Text = rest[len(m[0]):]
	}
	return typ, e
}

// ---- SMTP ----

func (v *Provider) checkSMTP(ctx context.Context, a Account) error {
	t := target{proto: "smtp", host: a.SMTPHost, port: a.SMTPPort, username: a.SMTPUsername, hint: a.Hint}
	c, raw, stage, err := v.smtpConnect(ctx, t)
	if err != nil {
		return v.classify(ctx, t, stage, err)
	}
	defer raw.release()
	defer c.Close()
	if ok, _ := c.Extension("AUTH"); !ok {
		return v.noSMTPAuth(t, "")
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", a.SMTPUsername, a.SMTPPassword)
	case c.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(a.SMTPUsername, a.SMTPPassword)
	default:
		_, offered := c.Extension("AUTH")
		return v.noSMTPAuth(t, offered)
	}
	if err := c.Auth(mech); err != nil {
		return v.classify(ctx, t, stageLogin, err)
	}
	_ = c.Quit()
	return nil
}

// smtpGreetConn checks that what a server sends first is an SMTP reply
// (three digits, then a space or a hyphen) before go-smtp reads it: its
// reader takes "SSH-2.0-…" for the first line of a multi-line reply and
// waits for more until the deadline. Anything else is errNotProtocol.
type smtpGreetConn struct {
	net.Conn
	r io.Reader
}

func (c *smtpGreetConn) Read(p []byte) (int, error) {
	if c.r == nil {
		br := bufio.NewReaderSize(c.Conn, 512)
		head, err := br.Peek(4)
		if err != nil {
			if len(head) > 0 && !smtpReplyPrefix(head) {
				return 0, errNotProtocol
			}
			return 0, err
		}
		if !smtpReplyPrefix(head) {
			return 0, errNotProtocol
		}
		c.r = br
	}
	return c.r.Read(p)
}

// smtpReplyPrefix reports whether b can begin an SMTP reply.
func smtpReplyPrefix(b []byte) bool {
	for i, ch := range b {
		switch {
		case i < 3 && (ch < '0' || ch > '9'):
			return false
		case i == 3 && ch != ' ' && ch != '-' && ch != '\r':
			return false
		}
	}
	return true
}

func (v *Provider) smtpClient(ctx context.Context, nc net.Conn) *smtp.Client {
	c := smtp.NewClient(&smtpGreetConn{Conn: nc})
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout = max(time.Until(dl), time.Millisecond)
	}
	return c
}

// smtpConnect opens an SMTP session that has said EHLO, over TLS unless
// plaintext is allowed and the server offers nothing else.
func (v *Provider) smtpConnect(ctx context.Context, t target) (*smtp.Client, *conn, string, error) {
	switch smtpSecurity(t.port) {
	case implicitTLS:
		return v.smtpImplicit(ctx, t)
	case startTLS:
		return v.smtpStartTLS(ctx, t)
	}
	c, raw, stage, err := v.smtpImplicit(ctx, t)
	if err != nil && stage == stageTLS && isRecordHeader(err) {
		return v.smtpStartTLS(ctx, t)
	}
	return c, raw, stage, err
}

func (v *Provider) smtpImplicit(ctx context.Context, t target) (*smtp.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	tc, err := v.handshake(ctx, raw, t, "")
	if err != nil {
		raw.release()
		return nil, nil, stageTLS, err
	}
	return v.smtpHello(ctx, raw, tc)
}

func (v *Provider) smtpPlain(ctx context.Context, t target) (*smtp.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	return v.smtpHello(ctx, raw, raw.Conn)
}

func (v *Provider) smtpHello(ctx context.Context, raw *conn, nc net.Conn) (*smtp.Client, *conn, string, error) {
	c := v.smtpClient(ctx, nc)
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		raw.release()
		return nil, nil, stageGreeting, err
	}
	return c, raw, "", nil
}

func (v *Provider) smtpStartTLS(ctx context.Context, t target) (*smtp.Client, *conn, string, error) {
	raw, err := v.connect(ctx, t)
	if err != nil {
		return nil, nil, stageConnect, err
	}
	c, err := smtp.NewClientStartTLS(&smtpGreetConn{Conn: raw}, v.tlsConfig(t.host, ""))
	if err != nil {
		raw.release()
		if err.Error() == "smtp: server doesn't support STARTTLS" {
			if v.opts.Network.AllowInsecure {
				return v.smtpPlain(ctx, t)
			}
			return nil, nil, stageStartTLS, errNoStartTLS
		}
		return nil, nil, stageGreeting, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout = max(time.Until(dl), time.Millisecond)
	}
	// The handshake runs with the EHLO that follows STARTTLS.
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		raw.release()
		return nil, nil, stageTLS, err
	}
	return c, raw, "", nil
}
