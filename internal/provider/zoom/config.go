package zoom

// Config is the configuration of the Zoom provider (the providers.zoom.*
// keys).
type Config struct {
	// AuthURL is the authorization endpoint hosted OAuth sends users to.
	AuthURL string `yaml:"auth_url"`
	// TokenURL is Zoom's OAuth token endpoint.
	TokenURL string `yaml:"token_url"`
	// APIURL is the base URL of the Zoom API (its /users/me says who the
	// token belongs to).
	APIURL string `yaml:"api_url"`
}

// DefaultConfig is Zoom's production endpoints.
func DefaultConfig() Config {
	return Config{
		AuthURL:  "https://zoom.us/oauth/authorize",
		TokenURL: "https://zoom.us/oauth/token",
		APIURL:   "https://api.zoom.us/v2",
	}
}
