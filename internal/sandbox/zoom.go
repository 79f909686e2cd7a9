package sandbox

import (
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/grantd/grantd/internal/provider/zoom"
	"github.com/grantd/grantd/internal/providers"
)

// zoomFlavor is the fake Zoom: /zoom/oauth/token and /zoom/v2/users/me.
// Zoom authenticates clients with HTTP Basic only, rotates refresh tokens
// on every use (the redeemed one dies at once), answers a dead token with
// 400 {"reason":"Invalid Token!","error":"invalid_request"}, and its users
// belong to an account.
type zoomFlavor struct{ oauthDefaults }

func (zoomFlavor) serve(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, rest string) bool {
	switch rest {
	case "/oauth/token":
		s.serveToken(w, r, p, "")
	case "/oauth/authorize":
		s.serveAuthorize(w, r, p)
	case "/v2/users/me":
		s.serveIdentity(w, r, p, nil, func(u User) any {
			given, family := splitName(u.Name)
			return zoomMe{
				ID: u.ID, FirstName: given, LastName: family, DisplayName: u.Name, Email: u.Email,
				Type: 1, RoleName: "Owner", Verified: 1, Status: "active", AccountID: u.Tenant,
			}
		})
	default:
		return false
	}
	return true
}

func (zoomFlavor) configure(c *providers.Config, base, _ string) {
	c.Zoom = zoom.Config{
		AuthURL:  base + "/zoom/oauth/authorize",
		TokenURL: base + "/zoom/oauth/token",
		APIURL:   base + "/zoom/v2",
	}
}

func (zoomFlavor) defaultRotation() Rotation { return Rotation{Mode: RotateStrict} }
func (zoomFlavor) newUserID() string         { return rand.Text()[:22] }
func (zoomFlavor) newTenant() string         { return strings.ToLower(rand.Text()[:22]) } // an account id
func (zoomFlavor) newRefreshToken() string   { return "sbx-zoom-rt-" + rand.Text() }
func (zoomFlavor) newAccessToken() string    { return "sbx-zoom-at-" + rand.Text() }
func (zoomFlavor) clientInBody() bool        { return false }

type zoomToken struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

func (zoomFlavor) tokenBody(_ *Sandbox, _ *http.Request, red redemption) any {
	return zoomToken{AccessToken: red.access, TokenType: "bearer", RefreshToken: red.refresh, ExpiresIn: red.expiresIn(), Scope: red.scope()}
}

type zoomError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func (zoomFlavor) writeTokenError(_ *Sandbox, w http.ResponseWriter, _ *http.Request, e tokenError) {
	switch e.kind {
	case errInvalidClient, errUnknownClient:
		e.desc = "Invalid client_id or client_secret"
	case errInvalidGrant:
		e.code, e.desc = "invalid_request", "Invalid Token!"
	}
	writeJSON(w, e.status, zoomError{Reason: e.desc, Error: e.code})
}

type zoomMe struct {
	ID          string `json:"id"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Type        int    `json:"type"`
	RoleName    string `json:"role_name"`
	Verified    int    `json:"verified"`
	Status      string `json:"status"`
	AccountID   string `json:"account_id"`
}

type zoomAPIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (zoomFlavor) writeIdentityError(w http.ResponseWriter, e identityError) {
	code := 124
	switch {
	case e.kind == idScope:
		code = 4711
	case e.kind == idInjected && e.status == http.StatusTooManyRequests:
		code = 429
	case e.kind == idInjected:
		code = e.status
	}
	writeJSON(w, e.status, zoomAPIError{code, e.msg})
}
