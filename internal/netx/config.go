package netx

import "time"

// Config is how grantd reaches the outside world (the network.* keys of
// grantd's configuration). Every outbound connection to a provider uses it:
// the OAuth providers' HTTP client, IMAP, SMTP, EWS and discovery.
type Config struct {
	// DNSServer is the host:port of the DNS server used for discovery
	// lookups; empty means the system resolver.
	DNSServer string `yaml:"dns_server"`
	// CAFile is a PEM file of extra CA certificates trusted for every
	// outbound TLS connection (providers, IMAP, SMTP, EWS).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one outbound call to a provider.
	Timeout time.Duration `yaml:"timeout"`
	// AllowInsecure permits plaintext IMAP/SMTP/EWS connections (no TLS);
	// meant for loopback test servers only.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// DefaultConfig is the network configuration used when nothing is set.
func DefaultConfig() Config { return Config{Timeout: 15 * time.Second} }
