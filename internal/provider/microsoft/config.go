package microsoft

// Config is the configuration of the Microsoft provider (the
// providers.microsoft.* keys).
type Config struct {
	// LoginURL is the Microsoft identity platform authority; the token
	// endpoint is LoginURL/{tenant}/oauth2/v2.0/token.
	LoginURL string `yaml:"login_url"`
	// GraphURL is the base URL of Microsoft Graph (its /me says who the
	// token belongs to).
	GraphURL string `yaml:"graph_url"`
}

// DefaultConfig is Microsoft's production endpoints.
func DefaultConfig() Config {
	return Config{
		LoginURL: "https://login.microsoftonline.com",
		GraphURL: "https://graph.microsoft.com/v1.0",
	}
}
