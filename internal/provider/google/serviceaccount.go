package google

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/grantd/grantd/internal/emailaddr"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// Google bulk authentication: a service account with domain-wide
// delegation acts for the users of its Workspace domain. Its JSON key is
// a "serviceaccount" credential of the google connector; a grant
// {provider:"google", settings:{email_address, credential_id, scopes[]}}
// mints an access token for the user with the JWT-bearer grant (RFC 7523:
// an RS256 assertion {iss: client_email, sub: the user, scope, aud: the
// token URL, one hour}, signed by golang.org/x/oauth2/jwt) and proves it
// with one cheap read the scopes permit: the Gmail profile, else the
// primary calendar, whose address must be the user's. There is no refresh
// token: the grant keeps an app-grant handle (provider.AppGrantHandle) and
// Refresh mints a new access token with the credential.

// CredentialServiceAccount is the credential type of service account keys.
const CredentialServiceAccount = "serviceaccount"

// saOptions describe the JWT-bearer exchange to oauthx.
var saOptions = oauthx.Options{Provider: "Google", ScopeHint: "a Gmail or Calendar scope delegated to the service account"}

// ServiceAccountKey is a checked Google service account key.
type ServiceAccountKey struct {
	ClientEmail  string
	PrivateKeyID string
	// PrivateKey is the PEM of the RSA private key (secret).
	PrivateKey []byte
}

// ParseServiceAccountJSON parses a service account's JSON key file, as
// Google's console downloads it.
func ParseServiceAccountJSON(b []byte) (ServiceAccountKey, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return ServiceAccountKey{}, provider.Errorf(provider.ClassBadRequest,
			"the service account key is not JSON: use the JSON key file Google Cloud's console downloads (IAM → Service accounts → Keys → Add key → JSON)")
	}
	return ParseServiceAccountKey(m)
}

// ParseServiceAccountKey checks the credential_data of a serviceaccount
// credential: the fields of the JSON key file. type, when present, must
// be "service_account"; client_email an address; private_key_id
// non-empty; private_key the PEM of an unencrypted RSA private key (PKCS
// #8, as Google issues them, or PKCS #1). The error is a ClassBadRequest
// *provider.Error naming the field and the problem; it never repeats the
// key.
func ParseServiceAccountKey(data map[string]any) (ServiceAccountKey, error) {
	bad := func(format string, args ...any) (ServiceAccountKey, error) {
		return ServiceAccountKey{}, provider.Errorf(provider.ClassBadRequest, format, args...)
	}
	str := func(k string) (string, bool, error) {
		v, ok := data[k]
		if !ok || v == nil {
			return "", false, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", true, provider.Errorf(provider.ClassBadRequest, "credential_data.%s must be a string", k)
		}
		return s, true, nil
	}
	typ, hasType, err := str("type")
	if err != nil {
		return ServiceAccountKey{}, err
	}
	if hasType && typ != "service_account" {
		hint := ""
		switch typ {
		case "authorized_user":
			hint = " (this is a user's credentials file, not a service account key)"
		case "external_account":
			hint = " (this is a workload identity federation file, which holds no key)"
		}
		if len(typ) > 40 {
			typ = typ[:40] + "…"
		}
		return bad("credential_data.type is %q; a Google service account key has \"service_account\"%s", typ, hint)
	}
	var k ServiceAccountKey
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_email", &k.ClientEmail}, {"private_key_id", &k.PrivateKeyID}} {
		v, _, err := str(f.key)
		if err != nil {
			return ServiceAccountKey{}, err
		}
		if strings.TrimSpace(v) == "" {
			return bad("credential_data.%s is required: copy it from the service account's JSON key file", f.key)
		}
		*f.dst = strings.TrimSpace(v)
	}
	if _, err := emailaddr.Parse(k.ClientEmail); err != nil {
		return bad("credential_data.client_email is not an address (the service account's, like name@project.iam.gserviceaccount.com)")
	}
	pk, _, err := str("private_key")
	if err != nil {
		return ServiceAccountKey{}, err
	}
	if strings.TrimSpace(pk) == "" {
		return bad("credential_data.private_key is required: the PEM private key of the service account's JSON key file")
	}
	if _, err := ParsePrivateKey([]byte(pk)); err != nil {
		return ServiceAccountKey{}, err
	}
	k.PrivateKey = []byte(pk)
	return k, nil
}

// ParsePrivateKey parses the PEM private key of a service account key.
// The error is a ClassBadRequest *provider.Error that never repeats the
// key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, provider.Errorf(provider.ClassBadRequest,
			"credential_data.private_key is not a PEM private key: send the private_key field of the JSON key file as it is, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY----- with its line breaks")
	}
	switch block.Type {
	case "PRIVATE KEY", "RSA PRIVATE KEY":
	case "ENCRYPTED PRIVATE KEY":
		return nil, provider.Errorf(provider.ClassBadRequest,
			"credential_data.private_key is encrypted with a passphrase; Google's JSON keys are not: use the JSON key file's private_key")
	default:
		t := block.Type
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return nil, provider.Errorf(provider.ClassBadRequest, "credential_data.private_key is a PEM %q block, not a private key", t)
	}
	var key any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, provider.Errorf(provider.ClassBadRequest,
			"credential_data.private_key does not parse as a private key (the PEM's content is damaged or truncated): send the JSON key file's private_key unchanged")
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, provider.Errorf(provider.ClassBadRequest,
			"credential_data.private_key is not an RSA key; Google service account keys are RSA (RS256)")
	}
	return rk, nil
}

var _ provider.CredentialChecker = (*Provider)(nil)

// CheckCredential implements provider.CredentialChecker: a serviceaccount
// credential must hold a service account key that parses.
func (v *Provider) CheckCredential(typ string, data map[string]any) error {
	if typ != CredentialServiceAccount {
		return nil
	}
	_, err := ParseServiceAccountKey(data)
	return err
}

// bulkSettings are the settings of a Google bulk authentication (scopes,
// a list, is read separately).
type bulkSettings struct {
	EmailAddress string `setting:"email_address,required,trim" about:"the address of the Workspace user the service account acts for"`
}

// bulkScopes reads settings.scopes: a non-empty list of scope strings.
func bulkScopes(settings map[string]any) ([]string, error) {
	raw, ok := settings["scopes"]
	if !ok || raw == nil {
		return nil, provider.Errorf(provider.ClassBadRequest,
			"settings.scopes is required for a service account grant: the list of scopes the service account is delegated and should use for this user, e.g. [\"https://www.googleapis.com/auth/gmail.readonly\"]")
	}
	list, ok := raw.([]any)
	if !ok {
		if ss, isSS := raw.([]string); isSS {
			for _, s := range ss {
				list = append(list, s)
			}
		} else {
			return nil, provider.Errorf(provider.ClassBadRequest, "settings.scopes must be a list of scope strings, not a single value")
		}
	}
	var out []string
	for i, v := range list {
		s, isStr := v.(string)
		if !isStr || strings.TrimSpace(s) == "" {
			return nil, provider.Errorf(provider.ClassBadRequest, "settings.scopes[%d] must be a non-empty string", i)
		}
		if s = strings.TrimSpace(s); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, provider.Errorf(provider.ClassBadRequest, "settings.scopes is empty: list at least one scope delegated to the service account")
	}
	return out, nil
}

// probe is the cheap read that proves a service account token works for
// the user: the Gmail profile when a Gmail scope was asked for, else the
// primary calendar; "" when the scopes permit neither.
func (v *Provider) probe(scopes []string) (what, rawURL string) {
	base := strings.TrimSuffix(v.cfg.APIURL, "/")
	for _, sc := range scopes {
		if sc == "https://mail.google.com/" || strings.HasPrefix(sc, "https://www.googleapis.com/auth/gmail.") {
			return "Gmail profile", base + "/gmail/v1/users/me/profile"
		}
	}
	for _, sc := range scopes {
		if strings.HasPrefix(sc, "https://www.googleapis.com/auth/calendar") {
			return "Calendar API", base + "/calendar/v3/calendars/primary"
		}
	}
	return "", ""
}

// validateServiceAccount is Validate for bulk authentication (req.Client
// carries a serviceaccount credential).
func (v *Provider) validateServiceAccount(ctx context.Context, req provider.Request) (provider.Result, error) {
	in, err := provider.DecodeSettings[bulkSettings](req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	email, err := emailaddr.Parse(in.EmailAddress)
	if err != nil {
		return provider.Result{}, provider.Errorf(provider.ClassBadRequest, "settings.email_address: %v", err)
	}
	scopes, err := bulkScopes(req.Settings)
	if err != nil {
		return provider.Result{}, err
	}
	what, probeURL := v.probe(scopes)
	if probeURL == "" {
		return provider.Result{}, provider.Errorf(provider.ClassBadRequest,
			"settings.scopes must include a Gmail scope (https://www.googleapis.com/auth/gmail.readonly, …) or a Calendar scope (https://www.googleapis.com/auth/calendar…): grantd proves the service account's access for the user by reading their Gmail profile or primary calendar")
	}
	s, tok, err := v.mint(ctx, *req.Client.App, req.Client, in.EmailAddress, scopes)
	if err != nil {
		return provider.Result{}, err
	}
	var read struct {
		EmailAddress string `json:"emailAddress"` // Gmail profile
		ID           string `json:"id"`           // calendar
	}
	if err := s.GetJSON(ctx, what, probeURL, tok.AccessToken, &read); err != nil {
		return provider.Result{}, err
	}
	got := read.EmailAddress
	if got == "" {
		got = read.ID
	}
	if !strings.EqualFold(got, in.EmailAddress) && !strings.EqualFold(got, email.String()) {
		return provider.Result{}, provider.Errorf(provider.ClassInvalidCredentials,
			"the service account's token for %s reads the mailbox of another address (%s): settings.email_address must be the user's primary address, not an alias", in.EmailAddress, got)
	}
	return provider.Result{
		Email:                strings.ToLower(got),
		Scope:                scopes,
		Secrets:              map[string]string{"refresh_token": provider.AppGrantHandle(strings.ToLower(got)), "access_token": tok.AccessToken},
		Settings:             map[string]any{},
		AccessTokenExpiresAt: tok.Expiry,
	}, nil
}

var _ provider.AppTokenMinter = (*Provider)(nil)

// MintAppToken implements provider.AppTokenMinter: an access token for
// subject (a user of the service account's domain) with the JWT-bearer
// grant.
func (v *Provider) MintAppToken(ctx context.Context, cred provider.AppCredential, subject string, scope []string) (provider.Token, error) {
	_, tok, err := v.mint(ctx, cred, provider.Client{}, subject, scope)
	if err != nil {
		return provider.Token{}, err
	}
	return provider.Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry, Scope: scope}, nil
}

// mint signs the assertion for subject and redeems it at the token
// endpoint. The session it returns knows every secret seen (for the
// probe's errors).
func (v *Provider) mint(ctx context.Context, cred provider.AppCredential, client provider.Client, subject string, scope []string) (*oauthx.Session, *oauth2.Token, error) {
	if cred.Type != CredentialServiceAccount {
		return nil, nil, provider.Errorf(provider.ClassBadRequest, "a Google bulk grant takes a serviceaccount credential, not %q", cred.Type)
	}
	key, err := ParseServiceAccountKey(cred.Data)
	if err != nil {
		// A stored key that no longer parses (changed since): fixed by
		// updating the credential, like a refused client.
		var pe *provider.Error
		if errors.As(err, &pe) {
			pe.Class = provider.ClassInvalidClient
		}
		return nil, nil, err
	}
	s := oauthx.NewSession(saOptions, v.hc, client, string(key.PrivateKey))
	conf := &jwt.Config{
		Email:        key.ClientEmail,
		PrivateKey:   key.PrivateKey,
		PrivateKeyID: key.PrivateKeyID,
		Subject:      subject,
		Scopes:       scope,
		TokenURL:     v.cfg.TokenURL,
		// Expires unset: x/oauth2's jws makes the assertion last exactly
		// one hour from its iat, the most Google accepts.
	}
	tok, err := s.Fetch(ctx, func(ctx context.Context) (*oauth2.Token, error) { return conf.TokenSource(ctx).Token() })
	if err != nil {
		return nil, nil, assertionError(err, key.ClientEmail, subject)
	}
	return s, tok, nil
}

// assertionError words a refused assertion: oauthx reads the answer as a
// refresh token's; for a service account, unauthorized_client means the
// delegation (not the client) is missing, and invalid_grant that the user
// or the key is unknown.
func assertionError(err error, sa, subject string) error {
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class == provider.ClassUnavailable || pe.Class == provider.ClassTLS {
		return err
	}
	code, _ := pe.ProviderError["error"].(string)
	desc, _ := pe.ProviderError["error_description"].(string)
	words := oauthx.Words(pe.ProviderError)
	lower := strings.ToLower(desc)
	switch {
	case code == "unauthorized_client" || code == "access_denied":
		pe.Class = provider.ClassInvalidCredentials
		pe.Message = fmt.Sprintf("Google refused the service account %s for %s (%s): the service account is not (or no longer) authorized for domain-wide delegation of these scopes; a Workspace administrator grants it in the Admin console (Security → API controls → Domain-wide delegation) with the service account's client id and every scope in settings.scopes", sa, subject, words)
	case strings.Contains(lower, "iat and exp") || strings.Contains(lower, "timeframe"):
		// The assertion's times are ours: this host's clock is wrong.
		pe.Class = provider.ClassUnavailable
		pe.Message = fmt.Sprintf("Google refused the service account's assertion as outside its time window (%s): check this host's clock (NTP)", words)
	case strings.Contains(lower, "signature") || strings.Contains(lower, "account not found") || code == "invalid_client":
		pe.Class = provider.ClassInvalidClient
		pe.Message = fmt.Sprintf("Google refused the service account key of %s (%s): the key was deleted or disabled, or the service account was; create a new JSON key and update the credential with PATCH /v3/connectors/google/creds/{id}", sa, words)
	case code == "invalid_grant":
		pe.Class = provider.ClassInvalidCredentials
		pe.Message = fmt.Sprintf("Google refused to let the service account %s act for %s (%s): the user does not exist in the service account's Workspace domain, or is suspended or deleted", sa, subject, words)
	case code == "invalid_scope":
		pe.Message = fmt.Sprintf("Google refused the scopes requested for %s (%s): list in settings.scopes only valid scope URLs delegated to the service account", subject, words)
	}
	return err
}

// refreshApp is Refresh for a grant made with an application credential.
func (v *Provider) refreshApp(ctx context.Context, client provider.Client, handle string, scope []string) (provider.Token, error) {
	subject, ok := provider.AppGrantSubject(handle)
	if !ok {
		return provider.Token{}, provider.Errorf(provider.ClassBadRequest, "the grant was made with a service account but holds a refresh token: authenticate it again")
	}
	return v.MintAppToken(ctx, *client.App, subject, scope)
}
