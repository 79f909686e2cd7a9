package mail

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func same(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// echo is what a server that repeats the credentials it got says.
func echo(username, password string) string {
	quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(password)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + username + "\x00" + password))
	return "login " + username + " " + password + " refused (LOGIN \"" + quoted + "\"; AUTH PLAIN " + plain + ")"
}

func imapNo(code imap.ResponseCode, text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

var imapAuthFailed = imapNo(imap.ResponseCodeAuthenticationFailed, "Authentication failed.")

// imapLogin decides an IMAP login by the account's behaviour.
func (s *Server) imapLogin(username, password string) (User, error) {
	u, ok := s.user(username)
	if !ok {
		return u, imapAuthFailed
	}
	switch u.Behavior {
	case AppPasswordOnly:
		if same(password, u.AppPassword) {
			return u, nil
		}
		if same(password, u.Password) {
			return u, imapNo(imap.ResponseCodeAuthenticationFailed, "Authentication failed. "+AppPasswordHint)
		}
		return u, imapAuthFailed
	case AppPasswordRequired:
		return u, imapNo(imap.ResponseCodeAlert, GmailAppPasswordText)
	case BasicAuthDisabled:
		return u, imapNo("", BasicAuthIMAPText)
	case Unavailable:
		return u, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeUnavailable, Text: UnavailableText}
	case EchoesCredentials:
		return u, imapNo(imap.ResponseCodeAuthenticationFailed, echo(username, password))
	}
	if !same(password, u.Password) {
		return u, imapAuthFailed
	}
	switch u.Behavior {
	case IMAPDisabled:
		return u, imapNo(imap.ResponseCodeAlert, IMAPDisabledText)
	case WebLoginRequired:
		return u, imapNo(imap.ResponseCodeAlert, WebLoginText)
	}
	return u, nil
}

// imapSession decides logins itself, then serves the account's folders
// from the memory store.
type imapSession struct {
	srv   *Server
	inner imapserver.Session
	user  *User
}

var _ imapserver.Session = (*imapSession)(nil)

func (s *imapSession) Close() error { return s.inner.Close() }

func (s *imapSession) Login(username, password string) error {
	u, err := s.srv.imapLogin(username, password)
	if err != nil {
		return err
	}
	if err := s.inner.Login(strings.ToLower(u.Email), memPassword); err != nil {
		return err
	}
	s.user = &u
	s.srv.imapLogins.Add(1)
	return nil
}

func (s *imapSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if s.user != nil && s.user.Behavior == ListFails {
		return imapNo(imap.ResponseCodeNoPerm, ListDisabledText)
	}
	return s.inner.List(w, ref, patterns, options)
}

func (s *imapSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	return s.inner.Select(mailbox, options)
}
func (s *imapSession) Create(mailbox string, options *imap.CreateOptions) error {
	return s.inner.Create(mailbox, options)
}
func (s *imapSession) Delete(mailbox string) error { return s.inner.Delete(mailbox) }
func (s *imapSession) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	return s.inner.Rename(mailbox, newName, options)
}
func (s *imapSession) Subscribe(mailbox string) error   { return s.inner.Subscribe(mailbox) }
func (s *imapSession) Unsubscribe(mailbox string) error { return s.inner.Unsubscribe(mailbox) }
func (s *imapSession) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	return s.inner.Status(mailbox, options)
}
func (s *imapSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	return s.inner.Append(mailbox, r, options)
}
func (s *imapSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	return s.inner.Poll(w, allowExpunge)
}
func (s *imapSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	return s.inner.Idle(w, stop)
}
func (s *imapSession) Unselect() error { return s.inner.Unselect() }
func (s *imapSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	return s.inner.Expunge(w, uids)
}
func (s *imapSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	return s.inner.Search(kind, criteria, options)
}
func (s *imapSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	return s.inner.Fetch(w, numSet, options)
}
func (s *imapSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	return s.inner.Store(w, numSet, flags, options)
}
func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	return s.inner.Copy(numSet, dest)
}

// smtpAuth decides an SMTP AUTH by the account's behaviour.
func (s *Server) smtpAuth(username, password string) error {
	u, ok := s.user(username)
	if !ok {
		return smtp.ErrAuthFailed
	}
	switch u.Behavior {
	case AppPasswordOnly:
		if same(password, u.AppPassword) {
			return nil
		}
		if same(password, u.Password) {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed. " + AppPasswordHint}
		}
		return smtp.ErrAuthFailed
	case AppPasswordRequired:
		return &smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 9}, Message: GmailAppPasswordSMTPText}
	case BasicAuthDisabled:
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: BasicAuthSMTPText}
	case Unavailable:
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: UnavailableSMTPText}
	case EchoesCredentials:
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: echo(username, password)}
	}
	want := u.Password
	if u.SMTPPassword != "" {
		want = u.SMTPPassword
	}
	if !same(password, want) {
		return smtp.ErrAuthFailed
	}
	return nil
}

type smtpBackend struct{ srv *Server }

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: b.srv}, nil
}

// smtpSession accepts AUTH PLAIN and LOGIN and swallows any mail.
type smtpSession struct {
	srv    *Server
	authed bool
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if err := s.srv.smtpAuth(username, password); err != nil {
			return err
		}
		s.authed = true
		s.srv.smtpLogins.Add(1)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return smtp.ErrAuthFailed
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism (go-sasl has only
// the client).
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil { // initial response: the username
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN response")
}
