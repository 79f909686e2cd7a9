package yahoo

// Config is the configuration of the Yahoo provider (the
// providers.yahoo.* keys).
type Config struct {
	// TokenURL is Yahoo's OAuth token endpoint.
	TokenURL string `yaml:"token_url"`
	// UserinfoURL is Yahoo's OpenID Connect userinfo endpoint.
	UserinfoURL string `yaml:"userinfo_url"`
}

// DefaultConfig is Yahoo's production endpoints.
func DefaultConfig() Config {
	return Config{
		TokenURL:    "https://api.login.yahoo.com/oauth2/get_token",
		UserinfoURL: "https://api.login.yahoo.com/openid/v1/userinfo",
	}
}
