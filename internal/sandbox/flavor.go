package sandbox

import (
	"net/http"
	"slices"

	"github.com/grantd/grantd/internal/providers"
)

// flavors are the fake providers, one file each (google.go, microsoft.go,
// yahoo.go, zoom.go): what makes the shared bookkeeping (clients, users,
// tokens, rotation, injected failures) stand for one provider.
var flavors = map[string]flavor{
	Google:    googleFlavor{},
	Microsoft: microsoftFlavor{},
	Yahoo:     yahooFlavor{},
	Zoom:      zoomFlavor{},
}

// flavor is one fake provider's own behaviour: its routes, how its
// identifiers look, how its token endpoint authenticates clients, narrows
// scopes and rotates tokens, and how it words every answer. Embedding
// oauthDefaults gives the common OAuth behaviour.
type flavor interface {
	// serve answers a request for path rest below the provider's prefix
	// ("/token" for /google/token); false when there is no such route.
	serve(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, rest string) bool
	// configure points the provider's part of grantd's configuration at
	// the sandbox: base is where it is reached, iss the base of its
	// issuers.
	configure(c *providers.Config, base, iss string)
	// defaultRotation is the provider's refresh token rotation.
	defaultRotation() Rotation
	// newUserID, newTenant, newRefreshToken and newAccessToken make
	// identifiers in the provider's format; newTenant returns "" when the
	// provider's users have none.
	newUserID() string
	newTenant() string
	newRefreshToken() string
	newAccessToken() string

	// clientInBody: the token endpoint accepts the client in the form
	// body, not only in HTTP Basic.
	clientInBody() bool
	// scopeParam: a refresh request's scope parameter narrows the new
	// access token's scopes.
	scopeParam() bool
	// echoesRefreshToken: without rotation, the token response sends the
	// redeemed refresh token back.
	echoesRefreshToken() bool
	// checkTenant refuses a refresh at tenant (the token URL's) for a
	// user of another one; kind -1 when it is fine. Callers hold p.mu.
	checkTenant(p *prov, tenant string, u *User) (kind tokErr, detail string)
	// narrow checks requested scopes against the granted ones and
	// returns the scopes of the new access token.
	narrow(granted, requested []string) (scopes, bad []string)
	// tokenBody is the body of a successful token response.
	tokenBody(s *Sandbox, r *http.Request, red redemption) any
	// writeTokenError words e the provider's way and writes it.
	writeTokenError(s *Sandbox, w http.ResponseWriter, r *http.Request, e tokenError)
	// writeIdentityError words e the provider's way and writes it.
	writeIdentityError(w http.ResponseWriter, e identityError)
}

// oauthDefaults is the common behaviour of the OAuth providers, which each
// flavor embeds and overrides where its provider differs.
type oauthDefaults struct{}

func (oauthDefaults) newTenant() string         { return "" }
func (oauthDefaults) defaultRotation() Rotation { return Rotation{Mode: RotateNone} }
func (oauthDefaults) clientInBody() bool        { return true }
func (oauthDefaults) scopeParam() bool          { return false }
func (oauthDefaults) echoesRefreshToken() bool  { return true }

func (oauthDefaults) checkTenant(*prov, string, *User) (tokErr, string) { return -1, "" }

// narrow keeps the requested scopes that were granted (once each) and
// reports the others.
func (oauthDefaults) narrow(granted, requested []string) (scopes, bad []string) {
	return narrowScopes(granted, requested, nil)
}

// scopeRule is how a provider treats one requested scope.
type scopeRule int

const (
	ruleGranted   scopeRule = iota // kept once when granted, else refused
	ruleAll                        // means every granted scope
	ruleIfGranted                  // kept when granted, else dropped silently
)

// narrowScopes narrows requested to the granted scopes by rule (nil:
// ruleGranted for every scope).
func narrowScopes(granted, requested []string, rule func(sc string) scopeRule) (scopes, bad []string) {
	for _, sc := range requested {
		r := ruleGranted
		if rule != nil {
			r = rule(sc)
		}
		switch {
		case r == ruleAll:
			return granted, nil
		case r == ruleIfGranted:
			if slices.Contains(granted, sc) {
				scopes = append(scopes, sc)
			}
		case slices.Contains(granted, sc):
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		default:
			bad = append(bad, sc)
		}
	}
	return scopes, bad
}
