package google

// Config is the configuration of the Google provider (the
// providers.google.* keys): Google's endpoints, or a stand-in's.
type Config struct {
	// AuthURL is the authorization endpoint hosted OAuth sends users to.
	AuthURL string `yaml:"auth_url"`
	// TokenURL is Google's OAuth token endpoint.
	TokenURL string `yaml:"token_url"`
	// UserinfoURL is Google's OpenID Connect userinfo endpoint, asked when
	// the token response carries no usable id_token.
	UserinfoURL string `yaml:"userinfo_url"`
	// JWKSURL is Google's JSON Web Key Set, which verifies id_tokens.
	JWKSURL string `yaml:"jwks_url"`
	// Issuer is the expected iss of id_tokens (Google's also accepts its
	// bare host).
	Issuer string `yaml:"issuer"`
	// APIURL is the base URL of the Google APIs.
	APIURL string `yaml:"api_url"`
}

// DefaultConfig is Google's production endpoints.
func DefaultConfig() Config {
	return Config{
		AuthURL:     "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL:    "https://oauth2.googleapis.com/token",
		UserinfoURL: "https://openidconnect.googleapis.com/v1/userinfo",
		JWKSURL:     "https://www.googleapis.com/oauth2/v3/certs",
		Issuer:      googleIssuer,
		APIURL:      "https://www.googleapis.com",
	}
}
