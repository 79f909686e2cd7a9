// Package native is the Nylas v2 native authentication flow, which
// applications written for Nylas v2 still call:
//
//	POST /connect/authorize  {client_id, name, email_address, provider, settings, scopes, reauth_account_id}
//	                         → {"code": "…"}
//	POST /connect/token      {client_id, client_secret, code}
//	                         → the v2 account object with an access_token
//
// The package only translates. A v2 request is mapped (mapping.go, the one
// place the v2 names live) onto a v3 provider, its settings and scopes,
// and handed to the grant service (internal/grant), which validates the
// credentials with the real provider, keeps one grant per email, seals
// the secrets and writes the events, exactly as for POST
// /v3/connect/custom. The password providers v2 names after a mail service
// (yahoo, aol, hotmail, outlook) become IMAP grants on that service's
// servers, taken from provider detection's table (internal/detect,
// providers.json), not from a copy.
//
// The code /connect/authorize answers is 32 random bytes, single use and
// valid for CodeTTL (15 minutes). The store keeps only its SHA-256 hash
// (store.Code, with the application and the grant it belongs to and, sealed
// by the vault, the v2 provider name the account is shown with), so a copy
// of the database yields no usable code. /connect/token consumes it in one
// statement (store.ConsumeCode): a code is redeemed at most once, also by
// concurrent requests. A code presented by another application is burnt.
//
// Errors on these paths have v2's shape, {"message", "type"} (see
// writeError), never the v3 envelope: 400 invalid_request_error for bad
// input, 401 auth_error for an unknown client or a wrong client_secret,
// 403 auth_error when the provider refused the credentials, 504 api_error
// when it could not be reached.
package native
