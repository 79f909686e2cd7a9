package provider

import (
	"crypto/rand"
	"strings"
)

// A grant made with the application's own credential (bulk
// authentication: a Google service account acting for a user of its
// domain, Microsoft app permissions) has no refresh token: a new access
// token is minted with the credential whenever one is needed. Such a
// grant stores, in place of the refresh token, an app-grant handle: an
// opaque string that names the user the provider mints for (the subject)
// and changes with every authentication. The refresher treats it as it
// treats any refresh token (it redeems it with the provider's Refresher,
// compares it to see whether the grant was re-authenticated meanwhile)
// and needs no case of its own; the provider's Refresh recognises it with
// AppGrantSubject when the client carries an AppCredential. A handle is
// no secret (it holds the user's address and a random nonce) but is kept
// with the grant's sealed secrets like the refresh token it stands for.

const appGrantPrefix = "grantd-app."

// AppGrantHandle returns a new app-grant handle for subject.
func AppGrantHandle(subject string) string {
	return appGrantPrefix + rand.Text()[:16] + "." + subject
}

// AppGrantSubject returns the subject of an app-grant handle; ok is false
// when h is not one (a real refresh token).
func AppGrantSubject(h string) (subject string, ok bool) {
	rest, ok := strings.CutPrefix(h, appGrantPrefix)
	if !ok {
		return "", false
	}
	_, subject, ok = strings.Cut(rest, ".")
	return subject, ok && subject != ""
}
