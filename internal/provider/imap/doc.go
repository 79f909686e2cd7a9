// Package imap validates IMAP and SMTP credentials (provider "imap") by
// logging in to the real servers: IMAP LOGIN (or AUTHENTICATE PLAIN when
// the server disables LOGIN) followed by a LIST that proves the folders
// are readable, and SMTP AUTH (PLAIN, else LOGIN). Both checks run
// concurrently under one deadline (network.timeout and the request's
// context). Package icloud reuses it through Check.
//
// Settings (POST /v3/connect/custom, provider "imap"):
//
//	imap_username, imap_password   required strings
//	imap_host, imap_port           IMAP server; port a number or numeric string
//	smtp_host, smtp_port           SMTP submission server
//	smtp_username, smtp_password   optional; default to the IMAP ones
//	email                          optional; the account's address when
//	                               imap_username is not one
//
// A missing host is asked of the ServerFinder (provider detection) with the
// account's address; a missing port next to a given host is the standard
// one (993 for IMAP, 587 for SMTP). What cannot be found is a bad request
// naming the setting.
//
// Connection security follows the port: IMAP 993 and SMTP 465 are
// implicit TLS; IMAP 143 and SMTP 587 and 25 use STARTTLS; on any other
// port grantd tries implicit TLS and, when the server answers in
// plaintext, STARTTLS. A server that offers no TLS at all is refused
// (ClassTLS) unless network.allow_insecure permits plaintext (loopback test
// servers).
//
// The grant's email is settings.email when given, else imap_username,
// which must then be an email address; it is lower-cased. The returned
// settings are the non-secret ones (hosts, ports, usernames); the secrets
// are imap_password and, only when it differs, smtp_password.
package imap
