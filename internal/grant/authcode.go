package grant

import (
	"context"
	"strings"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Hosted OAuth: the provider's authorization URL, and the authentication
// of the code the provider sends back (internal/hosted drives both).

// AuthorizeRequest asks for a provider's authorization URL.
type AuthorizeRequest struct {
	AppID    string
	Provider string
	// CredentialID names the connector credential whose client is used;
	// "": the connector's active credential, else its own client.
	CredentialID string
	Scope        []string // nil: the connector's default scopes
	// RedirectURI is where the provider sends the user back (grantd's
	// callback), State what it echoes there.
	RedirectURI   string
	State         string
	CodeChallenge string // PKCE S256 challenge between grantd and the provider
	LoginHint     string
	Prompt        string // in the provider's words; "" for its default
}

// Authorization is a provider authorization URL and what it was built
// with.
type Authorization struct {
	URL          string
	CredentialID string   // the credential resolved ("" for the connector's own client)
	Scope        []string // the scopes asked for
}

// codeProvider returns prov's AuthCodeExchanger, or a fault.Invalid error
// naming the providers that have one.
func (s *Service) codeProvider(prov string) (provider.AuthCodeExchanger, error) {
	return capability[provider.AuthCodeExchanger](s, prov, func(names string) error {
		if prov == "" {
			return invalid("provider is required; hosted OAuth serves: %s", names)
		}
		return invalid("provider %q cannot be authorized through hosted OAuth; use one of %s (password providers use POST /v3/connect/custom)", prov, names)
	})
}

// capability returns prov as its capability T, or the error missing
// makes of the names of the providers that have T.
func capability[T any](s *Service, prov string, missing func(names string) error) (T, error) {
	if c, ok := provider.As[T](s.Providers, prov); ok {
		return c, nil
	}
	var zero T
	return zero, missing(strings.Join(provider.NamesOf[T](s.Providers), ", "))
}

func (s *Service) resolveCode(ctx context.Context, appID, prov, credID string) (provider.AuthCodeExchanger, connector.Resolved, error) {
	x, err := s.codeProvider(prov)
	if err != nil {
		return nil, connector.Resolved{}, err
	}
	res, err := s.Clients.Resolve(ctx, appID, prov, credID)
	return x, res, err
}

// AuthorizeURL returns the provider's authorization URL for req, with the
// client of the application's connector (or credential).
func (s *Service) AuthorizeURL(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	if err := checkRequest("", req.Scope); err != nil {
		return Authorization{}, err
	}
	x, res, err := s.resolveCode(ctx, req.AppID, req.Provider, req.CredentialID)
	if err != nil {
		return Authorization{}, err
	}
	scope := req.Scope
	if scope == nil {
		scope = res.Scope
	}
	u, err := x.AuthorizeURL(provider.Authorization{
		Client: res.Client, RedirectURI: req.RedirectURI, Scope: scope, State: req.State,
		CodeChallenge: req.CodeChallenge, LoginHint: req.LoginHint, Prompt: req.Prompt,
	})
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{URL: u, CredentialID: res.CredentialID, Scope: scope}, nil
}

// CodeRequest is an authorization code the provider sent back to be
// authenticated.
type CodeRequest struct {
	AppID        string
	Provider     string
	CredentialID string // as resolved by AuthorizeURL
	Code         string
	RedirectURI  string // as in the AuthorizeRequest
	CodeVerifier string // the PKCE verifier of its CodeChallenge
	Scope        []string
	State        string
	IP           string
	UserAgent    string
}

// AuthenticateCode redeems the provider's code, learns the account and
// creates its grant, or re-authenticates the application's grant for the
// same email (same id, new tokens, valid again), exactly as Authenticate
// does for a refresh token. Nothing is stored unless the provider redeemed
// the code.
func (s *Service) AuthenticateCode(ctx context.Context, req CodeRequest) (store.Grant, bool, error) {
	if err := checkRequest(req.State, req.Scope); err != nil {
		return store.Grant{}, false, err
	}
	x, res, err := s.resolveCode(ctx, req.AppID, req.Provider, req.CredentialID)
	if err != nil {
		return store.Grant{}, false, err
	}
	scope := req.Scope
	if scope == nil {
		scope = res.Scope
	}
	r, err := x.Exchange(ctx, provider.CodeExchange{Client: res.Client, Code: req.Code, RedirectURI: req.RedirectURI,
		CodeVerifier: req.CodeVerifier, Scope: scope})
	if err != nil {
		return store.Grant{}, false, err
	}
	if r.Email == "" {
		return store.Grant{}, false, provider.Errorf(provider.ClassMissingScope, "the %s account's email address could not be learned from the provider", req.Provider)
	}
	if len(r.Scope) > 0 {
		scope = r.Scope
	}
	if scope == nil {
		scope = []string{}
	}
	return s.persist(ctx, AuthRequest{AppID: req.AppID, Provider: req.Provider, Scope: scope, State: req.State, IP: req.IP, UserAgent: req.UserAgent},
		r, res.CredentialID, scope)
}
