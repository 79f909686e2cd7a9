package provider

import "context"

// MailServers are the IMAP and SMTP endpoints of a mailbox.
type MailServers struct {
	IMAPHost string
	IMAPPort int
	SMTPHost string
	SMTPPort int
	// Source says how they were found: "known_domain", "mx", "srv",
	// "autoconfig", "config".
	Source string
}

// ServerFinder finds the mail servers of an email address when the caller
// did not give them (internal/detect implements it). It returns an
// *Error of ClassBadRequest when nothing is found, naming what is missing.
type ServerFinder interface {
	FindMailServers(ctx context.Context, email string) (MailServers, error)
}

// EWSFinder finds the Exchange Web Services URL of an email address
// through Autodiscover (internal/detect implements it).
type EWSFinder interface {
	FindEWS(ctx context.Context, email string) (ewsURL string, err error)
}
