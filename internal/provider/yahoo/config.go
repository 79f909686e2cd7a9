package yahoo

// Config is the configuration of the Yahoo provider (the
// providers.yahoo.* keys).
type Config struct {
	// AuthURL is the authorization endpoint hosted OAuth sends users to.
	AuthURL string `yaml:"auth_url"`
	// TokenURL is Yahoo's OAuth token endpoint.
	TokenURL string `yaml:"token_url"`
	// UserinfoURL is Yahoo's OpenID Connect userinfo endpoint.
	UserinfoURL string `yaml:"userinfo_url"`
}

// DefaultConfig is Yahoo's production endpoints.
func DefaultConfig() Config {
	return Config{
		AuthURL:     "https://api.login.yahoo.com/oauth2/request_auth",
		TokenURL:    "https://api.login.yahoo.com/oauth2/get_token",
		UserinfoURL: "https://api.login.yahoo.com/openid/v1/userinfo",
	}
}
