package provider

// ConnectorSetting is one setting of a provider's connector (the
// application's provider app, POST /v3/connectors {"settings": …}). Every
// connector setting is a string.
type ConnectorSetting struct {
	// Key is the setting's name ("client_id").
	Key string
	// Secret settings are sealed, never stored in clear and never
	// returned.
	Secret bool
	// Required settings must be set, not blank, on every connector of the
	// provider.
	Required bool
	// About says what the value is, for messages: "the OAuth client id"
	// (of your google app).
	About string
}

// OAuthClient is implemented by the providers whose grants belong to an
// OAuth client: the application's connector for the provider, or one of
// the connector's credentials (Google, Microsoft, Yahoo, Zoom).
// Authenticating and refreshing such a grant needs that client
// (Request.Client), a write of such a grant checks the client still exists,
// and its grants become invalid when the connector is deleted.
// ConnectorSettings lists what the provider's connector takes; the
// connectors of the other providers take no settings.
type OAuthClient interface {
	ConnectorSettings() []ConnectorSetting
}
