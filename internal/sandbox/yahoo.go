package sandbox

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/grantd/grantd/internal/provider/yahoo"
	"github.com/grantd/grantd/internal/providers"
)

// yahooFlavor is the fake Yahoo: /yahoo/oauth2/get_token,
// /yahoo/openid/v1/userinfo and /yahoo/openid/v1/certs. Yahoo keeps
// refresh tokens (and sends the redeemed one back), ignores a scope
// parameter and reports no scope in its token response.
type yahooFlavor struct{ oauthDefaults }

func (yahooFlavor) serve(s *Sandbox, p *prov, w http.ResponseWriter, r *http.Request, rest string) bool {
	switch rest {
	case "/oauth2/get_token":
		s.serveToken(w, r, p, "")
	case "/oauth2/request_auth":
		s.serveAuthorize(w, r, p)
	case "/openid/v1/userinfo":
		s.serveIdentity(w, r, p, nil, func(u User) any { return userinfo(u) })
	case "/openid/v1/certs":
		s.serveJWKS(w, r)
	default:
		return false
	}
	return true
}

func (yahooFlavor) configure(c *providers.Config, base, _ string) {
	c.Yahoo = yahoo.Config{
		AuthURL:     base + "/yahoo/oauth2/request_auth",
		TokenURL:    base + "/yahoo/oauth2/get_token",
		UserinfoURL: base + "/yahoo/openid/v1/userinfo",
	}
}

func (yahooFlavor) newUserID() string       { return rand.Text() } // a 26-character GUID
func (yahooFlavor) newRefreshToken() string { return "sbx-yahoo-rt-" + rand.Text() }
func (yahooFlavor) newAccessToken() string  { return "sbx-yahoo-at-" + rand.Text() }

type yahooToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
	GUID         string `json:"xoauth_yahoo_guid"`
	IDToken      string `json:"id_token,omitempty"`
}

type yahooIDClaims struct {
	Iss           string `json:"iss"`
	Sub           string `json:"sub"`
	Aud           string `json:"aud"`
	Exp           int64  `json:"exp"`
	Iat           int64  `json:"iat"`
	AuthTime      int64  `json:"auth_time"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
}

func (yahooFlavor) tokenBody(s *Sandbox, r *http.Request, red redemption) any {
	u := red.user
	body := yahooToken{AccessToken: red.access, RefreshToken: red.refresh, ExpiresIn: red.expiresIn(), TokenType: "bearer", GUID: u.ID}
	if red.openid() {
		iat := red.now.Unix()
		body.IDToken = s.keys.sign(yahooIDClaims{
			Iss: s.issuerBase(r) + "/yahoo", Sub: u.ID, Aud: red.clientID,
			Exp: iat + int64(idTokenTTL/time.Second), Iat: iat, AuthTime: iat,
			Email: u.Email, EmailVerified: true, Name: u.Name,
		})
	}
	return body
}

func (yahooFlavor) writeTokenError(_ *Sandbox, w http.ResponseWriter, _ *http.Request, e tokenError) {
	if e.kind == errInvalidGrant {
		e.desc = "invalid refresh token"
	}
	writeOAuthError(w, e)
}

func (yahooFlavor) writeIdentityError(w http.ResponseWriter, e identityError) {
	code := "invalid_token"
	switch {
	case e.kind == idScope:
		code = "insufficient_scope"
	case e.kind == idInjected:
		code = "server_error"
	}
	writeJSON(w, e.status, errorBody{code, e.msg})
}
