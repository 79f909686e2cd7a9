package zoom

// Config is the configuration of the Zoom provider (the providers.zoom.*
// keys).
type Config struct {
	// TokenURL is Zoom's OAuth token endpoint.
	TokenURL string `yaml:"token_url"`
	// APIURL is the base URL of the Zoom API (its /users/me says who the
	// token belongs to).
	APIURL string `yaml:"api_url"`
}

// DefaultConfig is Zoom's production endpoints.
func DefaultConfig() Config {
	return Config{
		TokenURL: "https://zoom.us/oauth/token",
		APIURL:   "https://api.zoom.us/v2",
	}
}
