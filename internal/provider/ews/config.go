package ews

// Config is the configuration of the EWS provider (the providers.ews.*
// keys). Discovery (internal/detect) reads it: the EWS provider itself
// asks its provider.EWSFinder.
type Config struct {
	// AutodiscoverURL overrides Autodiscover lookups (for tests); empty
	// means the standard Autodiscover locations of the user's domain.
	AutodiscoverURL string `yaml:"autodiscover_url" grantd:"optional"`
}

// DefaultConfig is the EWS configuration used when nothing is set: the
// standard Autodiscover lookups.
func DefaultConfig() Config { return Config{} }
