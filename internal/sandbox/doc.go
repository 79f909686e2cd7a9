// Package sandbox is a local, real-HTTP stand-in for the OAuth providers
// grantd validates refresh tokens against: Google, Microsoft (Entra ID and
// Graph), Yahoo and Zoom. It speaks each provider's wire format for the
// refresh_token grant, the authorization code grant (a consent page at each
// provider's authorization endpoint, see authorize.go) and the "who am I"
// endpoint, keeps a ledger of the
// refresh tokens it considers valid, and can rotate tokens, shorten access
// token lifetimes and inject failures. An admin surface under /admin/
// drives it over HTTP (for `grantd dev` and the conformance tests); the Go
// API below drives it in-process.
//
// Routes (relative to the sandbox's base URL):
//
//	POST /google/token                          GET /google/userinfo, /google/oauth2/v3/userinfo
//	GET  /google/certs                          GET /google/gmail/v1/users/me/profile
//	                                            GET /google/calendar/v3/calendars/primary
//	POST /microsoft/{tenant}/oauth2/v2.0/token  GET /microsoft/graph/v1.0/me
//	GET  /microsoft/{tenant}/discovery/v2.0/keys GET /microsoft/graph/v1.0/users/{id|upn}
//	GET  /microsoft/{tenant}/v2.0/adminconsent
//	POST /yahoo/oauth2/get_token                GET /yahoo/openid/v1/userinfo
//	GET  /yahoo/openid/v1/certs
//	POST /zoom/oauth/token                      GET /zoom/v2/users/me
//	GET|POST /google/o/oauth2/v2/auth, /microsoft/{tenant}/oauth2/v2.0/authorize,
//	         /yahoo/oauth2/request_auth, /zoom/oauth/authorize (consent pages)
//	/admin/…                                    see admin.go
//
// Besides refresh_token, /google/token takes service accounts' JWT-bearer
// grant (serviceaccount.go) and the Microsoft token endpoint the client
// credentials grant of tenants whose administrator consented
// (appconsent.go).
//
// The bookkeeping every provider shares (clients, users, refresh and
// access tokens, rotation, injected failures) is in sandbox.go, token.go
// and identity.go; each provider's own behaviour (routes, identifier
// formats, client authentication, scope rules, the wording of every
// answer) is a flavor in its own file: google.go, microsoft.go, yahoo.go,
// zoom.go (see flavor.go). The admin surface is admin.go.
//
// The sandbox never logs tokens or secrets; it logs admin actions at debug
// level only.
package sandbox
