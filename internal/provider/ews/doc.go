// Package ews validates Exchange Web Services (on-premises Exchange)
// credentials for `provider: "ews"`.
//
// Settings: `email`, `ews_username` (a UPN such as alice@contoso.com, or
// CONTOSO\alice), `ews_password`, `ews_host` (a host name, host:port or an
// https URL; when it is omitted the optional provider.EWSFinder is asked,
// through Autodiscover) and `ews_port` (a number or a numeric string,
// default 443). The endpoint is https://ews_host:ews_port/EWS/Exchange.asmx
// unless ews_host is a URL with a path.
//
// A check is two real SOAP calls (RequestServerVersion Exchange2013,
// Content-Type text/xml; charset=utf-8): ResolveNames on the email, which
// gives the mailbox's display name and primary SMTP address, then GetFolder
// on that mailbox's inbox, which proves the credentials open it.
//
// Authentication follows the server's 401: when its WWW-Authenticate
// offers NTLM or Negotiate, grantd does NTLMv2 (github.com/Azure/go-ntlmssp;
// a Negotiate offer is answered with raw NTLMSSP, which IIS accepts); when
// it offers only Basic, grantd sends Basic (over TLS only, unless
// network.allow_insecure allows http:// for loopback test servers); when it
// offers only Bearer (Exchange Online, where basic authentication is
// retired) the check fails as basic_auth_disabled. NTLM authenticates a TCP
// connection, not a request, so every check runs on its own transport with
// one connection, closed afterwards: a connection authenticated for one
// account is never reused for another check.
//
// Scope: the requested list (ews.messages, ews.calendars or its alias
// ews.calendar, ews.contacts); all three when none is requested.
//
// Failures: 401 after credentials were sent is invalid_credentials; a 401
// offering only Bearer is basic_auth_disabled; 403 or ErrorAccessDenied
// (and the other "not allowed" codes) is access_disabled; 5xx, 429,
// ErrorServerBusy and the other transient codes, timeouts, refused
// connections and DNS failures are provider_unavailable; certificate and
// handshake failures are tls_error; 404, a redirect or a non-SOAP answer is
// bad_request naming ews_host. provider_error carries the server's status,
// challenges, EWS response code and message text, never the password.
package ews
