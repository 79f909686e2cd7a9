package hosted

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/store"
)

// AuthorizeRequest is GET /v3/connect/auth (nylas-v3-api.md §6).
type AuthorizeRequest struct {
	ClientID     string
	RedirectURI  string
	ResponseType string
	Provider     string
	Scope        []string // nil: the connector's scopes
	Prompt       string
	State        string
	LoginHint    string
	AccessType   string // online (default) or offline: a grantd refresh token
	// CodeChallenge and its method, as sent (plain, S256, s256).
	CodeChallenge       string
	CodeChallengeMethod string
	CredentialID        string
}

// MaxState bounds the application's state (the reference allows 256).
const MaxState = grant.MaxStateLength

// ParseAuthorize reads the query of GET /v3/connect/auth. A parameter
// given twice is refused (RFC 6749 §3.1).
func ParseAuthorize(q url.Values) (AuthorizeRequest, *Error) {
	get := q.Get
	r := AuthorizeRequest{
		ClientID: get("client_id"), RedirectURI: get("redirect_uri"), ResponseType: get("response_type"),
		Provider: strings.ToLower(get("provider")), Prompt: get("prompt"), State: get("state"), LoginHint: get("login_hint"),
		AccessType: get("access_type"), CodeChallenge: get("code_challenge"), CodeChallengeMethod: get("code_challenge_method"),
		CredentialID: get("credential_id"),
	}
	if sc, ok := q["scope"]; ok && len(sc) == 1 {
		r.Scope = strings.Fields(strings.ReplaceAll(sc[0], ",", " "))
	}
	if dup := repeated(q); dup != "" {
		return r, invalidRequest("the parameter %s is given more than once", fault.Shorten(dup, 40))
	}
	return r, nil
}

// flowState is what the callback needs, sealed in the store under the
// state grantd sends the provider.
type flowState struct {
	AppID        string   `json:"app_id"`
	Provider     string   `json:"provider"`
	CredentialID string   `json:"credential_id,omitempty"`
	RedirectURI  string   `json:"redirect_uri"` // the application's
	State        string   `json:"state,omitempty"`
	Scope        []string `json:"scope"`
	AccessType   string   `json:"access_type,omitempty"`
	Challenge    string   `json:"challenge,omitempty"`
	Method       string   `json:"method,omitempty"`
	// Callback is grantd's callback URL as sent to the provider;
	// Verifier grantd's own PKCE verifier with the provider.
	Callback string `json:"callback"`
	Verifier string `json:"verifier"`
	// AdminConsent: the flow is response_type=adminconsent.
	AdminConsent bool `json:"admin_consent,omitempty"`
}

// Authorize checks r and returns the provider's authorization URL to
// redirect the user to. callback is grantd's callback URL
// (<public_url>/v3/connect/callback). Every error is answered, never
// redirected: the redirect URI is not trusted before it is checked, and
// a request that fails later is the application's mistake, which it
// should see. detect, when r has no provider, names the provider of
// r.LoginHint ("" when it cannot).
func (s *Service) Authorize(ctx context.Context, r AuthorizeRequest, callback string, detect func(email string) string) (string, error) {
	if r.ClientID == "" {
		return "", invalidRequest("client_id is required: the application id")
	}
	// The application's configuration version (ErrNotFound for no
	// application) is read once and pinned, so that the connector and
	// credential lookups below use the node's cache without reading it
	// again each (the API key's requests get theirs from the key).
	ver, err := s.Store.GetConfigVersion(ctx, r.ClientID)
	if err != nil {
		if isNotFound(err) {
			return "", invalidClient("client_id %q is not an application of this grantd", fault.Shorten(r.ClientID, 64))
		}
		return "", err
	}
	ctx = store.WithConfigVersion(ctx, r.ClientID, ver)
	if r.RedirectURI == "" {
		return "", invalidRequest("redirect_uri is required: one of the application's redirect URIs")
	}
	ok, err := s.RedirectURIs.Registered(ctx, r.ClientID, r.RedirectURI)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalidRequest("redirect_uri %q is not registered for the application: add it with POST /v3/applications/redirect-uris (it must match exactly)", fault.Shorten(r.RedirectURI, 200))
	}
	switch r.ResponseType {
	case "code":
	case "":
		return "", invalidRequest("response_type is required: code (or adminconsent)")
	case "adminconsent":
		return s.authorizeAdminConsent(ctx, r, callback)
	default:
		return "", oauthErr(http.StatusBadRequest, "unsupported_response_type", "response_type %q is not supported; use code or adminconsent", fault.Shorten(r.ResponseType, 40))
	}
	if n := utf8.RuneCountInString(r.State); n > MaxState {
		return "", invalidRequest("state is %d characters long; at most %d are allowed", n, MaxState)
	}
	switch r.AccessType {
	case "", "online", "offline":
	default:
		return "", invalidRequest("access_type must be online or offline")
	}
	method := ""
	if r.CodeChallenge != "" || r.CodeChallengeMethod != "" {
		if e := checkChallenge(r.CodeChallenge, r.CodeChallengeMethod); e != nil {
			return "", e
		}
		method = normMethod(r.CodeChallengeMethod)
	}
	if len(r.LoginHint) > 320 {
		return "", invalidRequest("login_hint is too long")
	}
	providerPrompt, e := splitPrompt(r.Prompt)
	if e != nil {
		return "", e
	}
	prov := r.Provider
	if i := strings.IndexByte(prov, ','); i >= 0 {
		prov = "" // a list: the first that detection confirms, else the picker
	}
	if prov == "" && r.LoginHint != "" && detect != nil {
		prov = detect(r.LoginHint)
	}
	if prov == "" {
		return "", ErrChooseProvider
	}
	fs := flowState{AppID: r.ClientID, Provider: prov, CredentialID: r.CredentialID, RedirectURI: r.RedirectURI, State: r.State,
		Scope: r.Scope, AccessType: r.AccessType, Challenge: r.CodeChallenge, Method: method, Callback: callback,
		Verifier: newVerifier()}
	az, err := s.Grants.AuthorizeURL(ctx, grant.AuthorizeRequest{AppID: r.ClientID, Provider: prov, CredentialID: r.CredentialID,
		Scope: r.Scope, RedirectURI: callback, State: "pending", CodeChallenge: s256(fs.Verifier), LoginHint: r.LoginHint,
		Prompt: providerPrompt})
	if err != nil {
		return "", asOAuth(err)
	}
	fs.CredentialID, fs.Scope = az.CredentialID, az.Scope
	state, err := s.putCode(ctx, kindState, statePrefix, r.ClientID, "", s.stateTTL(), fs)
	if err != nil {
		return "", err
	}
	// The URL was built with a placeholder state: the state is stored
	// only once the request is known to be good.
	u, err := url.Parse(az.URL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ErrChooseProvider: the request is good but names no provider, and none
// could be detected from login_hint: the user is to be asked (the hosted
// provider picker, prompt=select_provider / detect).
var ErrChooseProvider = invalidRequest("provider is required (google, microsoft, yahoo or zoom), or a login_hint whose provider can be detected")

// splitPrompt reads prompt: values separated by commas or spaces. Nylas's
// values, select_provider and detect, are grantd's own (the provider
// picker, detection from login_hint) and stay here; OpenID Connect's,
// login, consent, select_account and none, are returned (space-separated)
// for the provider, which passes on those it has and refuses the others.
// Any other value is refused.
func splitPrompt(prompt string) (string, *Error) {
	if len(prompt) > 200 {
		return "", invalidRequest("prompt is too long")
	}
	var out []string
	for _, v := range strings.FieldsFunc(prompt, func(r rune) bool { return r == ',' || r == ' ' }) {
		switch v {
		case "select_provider", "detect":
		case "login", "consent", "select_account", "none":
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		default:
			return "", invalidRequest("prompt %q is not known: select_provider and detect choose the provider (grantd's pages); login, consent, select_account and none are passed to the provider where it has them", fault.Shorten(v, 40))
		}
	}
	return strings.Join(out, " "), nil
}

// asOAuth turns a service error into an OAuth error when it is the
// caller's (invalid, not found); other errors pass unchanged.
func asOAuth(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch fault.KindOf(err) {
	case fault.Invalid, fault.NotFound:
		return invalidRequest("%s", err.Error())
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// repeated returns a parameter of q given more than once, or "".
func repeated(q url.Values) string {
	for k, vs := range q {
		if len(vs) > 1 {
			return k
		}
	}
	return ""
}

func newVerifier() string { return oauth2.GenerateVerifier() }

func s256(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }
