package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
)

// Real servers' answers that the sandbox does not imitate.
func TestClassifyRealWorldAnswers(t *testing.T) {
	v := New(Options{})
	ctx := context.Background()
	no := func(code imap.ResponseCode, text string) *imap.Error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	cases := []struct {
		host, stage string
		err         error
		want        provider.Class
	}{
		{"outlook.office365.com", stageLogin, no("", "LOGIN failed."), provider.ClassBasicAuthDisabled},
		{"imap-mail.outlook.com", stageLogin, no("", "AUTHENTICATE failed."), provider.ClassBasicAuthDisabled},
		{"imap.example.com", stageLogin, no("", "Basic authentication is disabled"), provider.ClassBasicAuthDisabled},
		{"smtp.office365.com", stageLogin, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, the user credentials were incorrect."}, provider.ClassBasicAuthDisabled},
		{"imap.gmail.com", stageLogin, no(imap.ResponseCodeAlert, "Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)"), provider.ClassAppPasswordRequired},
		{"imap.gmail.com", stageLogin, no(imap.ResponseCodeAuthenticationFailed, "Invalid credentials (Failure)"), provider.ClassInvalidCredentials},
		{"imap.gmail.com", stageLogin, no("WEBALERT", "https://accounts.google.com/signin/continue?sarp=1"), provider.ClassAccessDisabled},
		{"imap.mail.me.com", stageLogin, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeUnavailable, Text: "Service temporarily unavailable"}, provider.ClassUnavailable},
		{"imap.mail.me.com", stageLogin, no(imap.ResponseCodeAuthenticationFailed, "Authentication failed."), provider.ClassInvalidCredentials},
		{"imap.example.com", stageLogin, no(imap.ResponseCodeInUse, "Mailbox in use"), provider.ClassUnavailable},
		{"imap.example.com", stageLogin, no("", "Too many simultaneous connections. (Failure)"), provider.ClassUnavailable},
		{"imap.example.com", stageLogin, no(imap.ResponseCodeAuthenticationFailed, "Authentication failed, please try again"), provider.ClassInvalidCredentials},
		{"imap.example.com", stageGreeting, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}, provider.ClassUnavailable},
		{"imap.example.com", stageLogin, no(imap.ResponseCodePrivacyRequired, "TLS required"), provider.ClassTLS},
		{"smtp.gmail.com", stageLogin, &smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required."}, provider.ClassAppPasswordRequired},
		{"smtp.example.com", stageGreeting, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Try again later, closing connection."}, provider.ClassUnavailable},
		{"smtp.example.com", stageLogin, &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first."}, provider.ClassTLS},
		{"smtp.example.com", stageLogin, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted."}, provider.ClassInvalidCredentials},
		// Gmail's bandwidth throttle clears by itself: not the password,
		// not IMAP being off.
		{"imap.gmail.com", stageLogin, no(imap.ResponseCodeAlert, "Account exceeded command or bandwidth limits. (Failure)"), provider.ClassUnavailable},
		{"imap.gmail.com", stageList, no(imap.ResponseCodeAlert, "Account exceeded command or bandwidth limits. (Failure)"), provider.ClassUnavailable},
		{"imap.example.com", stageLogin, no(imap.ResponseCodeOverQuota, "Quota exceeded"), provider.ClassUnavailable},
		{"imap.gmail.com", stageList, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "User is authenticated but not connected."}, provider.ClassUnavailable},
		{"imap.example.com", stageList, no("", "LIST not permitted"), provider.ClassAccessDisabled},
		{"smtp.gmail.com", stageLogin, &smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 14}, Message: "<https://accounts.google.com/signin/continue?sarp=1> Please log in via your web browser and then try again."}, provider.ClassAccessDisabled},
	}
	for _, c := range cases {
		proto := "imap"
		if _, ok := c.err.(*smtp.SMTPError); ok {
			proto = "smtp"
		}
		pe := v.classify(ctx, target{proto: proto, host: c.host, port: 993, username: "u@example.com"}, c.stage, c.err)
		if pe.Class != c.want {
			t.Errorf("%s %v: %s (%s), want %s", c.host, c.err, pe.Class, pe.Message, c.want)
		}
		if pe.ProviderError["response"] == "" || pe.ProviderError["protocol"] != proto {
			t.Errorf("%v: provider_error %v", c.err, pe.ProviderError)
		}
		if !pe.Answered {
			t.Errorf("%v: not marked Answered (the server's response)", c.err)
		}
	}
	// Failures without a response of the server are not answers.
	for _, err := range []error{netx.ErrNotPublic, errNoStartTLS} {
		if pe := v.classify(ctx, target{proto: "imap", host: "imap.example.com", port: 143}, stageConnect, err); pe.Answered {
			t.Errorf("%v (%s): marked Answered", err, pe.Class)
		}
	}
	// Known hosts get the app-password hint on a refused login.
	pe := v.classify(ctx, target{proto: "imap", host: "imap.mail.me.com", port: 993}, stageLogin, no(imap.ResponseCodeAuthenticationFailed, "Authentication failed."))
	if !strings.Contains(pe.Message, HintICloud) {
		t.Errorf("iCloud hint missing: %s", pe.Message)
	}
}
