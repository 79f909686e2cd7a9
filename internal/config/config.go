// Package config holds grantd's configuration: defaults, a YAML file, the
// environment (GRANTD_ + the upper-cased key path joined with _) and flags,
// in that order of precedence (flags win). Every key is documented in
// docs/configuration.md.
package config

import "time"

// Config is the whole configuration. The yaml tag of each field is its key;
// the environment variable is derived from the key path. A `grantd:"secret"`
// tag marks a value that must never be printed (Key.Secret).
type Config struct {
	// Listen is the address the API server listens on.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and the generated keyring.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects PostgreSQL (postgres://…); empty means SQLite in
	// DataDir.
	DatabaseURL string `yaml:"database_url" grantd:"secret"`

	Log       Log       `yaml:"log"`
	HTTP      HTTP      `yaml:"http"`
	Vault     Vault     `yaml:"vault"`
	Network   Network   `yaml:"network"`
	Providers Providers `yaml:"providers"`
	Refresh   Refresh   `yaml:"refresh"`
	RateLimit RateLimit `yaml:"ratelimit"`
}

// RateLimit configures the per-application request limits: a token bucket
// per application and per node (each node counts on its own), on every
// authenticated route. A rate of 0 disables a limit.
type RateLimit struct {
	// RequestsPerSecond and Burst bound every authenticated route but
	// provider detection.
	RequestsPerSecond int `yaml:"requests_per_second"`
	Burst             int `yaml:"burst"`
	// DetectRequestsPerSecond and DetectBurst bound POST
	// /v3/providers/detect, with a bucket of its own.
	DetectRequestsPerSecond int `yaml:"detect_requests_per_second"`
	DetectBurst             int `yaml:"detect_burst"`
}

// Refresh configures the background refresh of OAuth grants and the
// access-token endpoint (internal/refresh).
type Refresh struct {
	// Enabled starts the scheduler with the server.
	Enabled bool `yaml:"enabled"`
	// Workers is the number of grants refreshed at once by this node.
	Workers int `yaml:"workers"`
	// ProviderConcurrency caps this node's refreshes in flight per provider.
	ProviderConcurrency int `yaml:"provider_concurrency"`
	// Interval is how often the store is polled for due grants.
	Interval time.Duration `yaml:"interval"`
	// Lease is how long a claimed grant is reserved for one node.
	Lease time.Duration `yaml:"lease"`
	// Margin is how long before its access token expires a grant is refreshed.
	Margin time.Duration `yaml:"margin"`
	// KeepAlive is the longest time between two refreshes of a grant.
	KeepAlive time.Duration `yaml:"keepalive"`
	// MinBackoff and MaxBackoff bound the retry delay after transient failures.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// AccessTokenMargin: the access-token endpoint refreshes first when the
	// stored token expires within this.
	AccessTokenMargin time.Duration `yaml:"access_token_margin"`
	// PasswordRecheck is how often the credentials of a password grant
	// (IMAP, iCloud, EWS) are checked again with the provider.
	PasswordRecheck time.Duration `yaml:"password_recheck"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP configures the API server.
type HTTP struct {
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
}

// Vault configures the master keyring.
type Vault struct {
	// KeyringFile is the keyring's path; empty means DataDir/keyring.json,
	// generated on first start.
	KeyringFile string `yaml:"keyring_file"`
	// Keyring is an inline keyring "id:base64key[,id:base64key…]"; the first
	// key encrypts. When set, KeyringFile is not used.
	Keyring string `yaml:"keyring" grantd:"secret"`
	// ReloadInterval is how often a running server re-reads the keyring
	// file, so that a rotation by another process is picked up.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Network configures how grantd reaches the outside world.
type Network struct {
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

// Providers holds every provider endpoint grantd talks to.
type Providers struct {
	Google    Google    `yaml:"google"`
	Microsoft Microsoft `yaml:"microsoft"`
	Yahoo     Yahoo     `yaml:"yahoo"`
	Zoom      Zoom      `yaml:"zoom"`
	ICloud    MailHosts `yaml:"icloud"`
	EWS       EWS       `yaml:"ews"`
}

// Google endpoints.
type Google struct {
	TokenURL    string `yaml:"token_url"`
	UserinfoURL string `yaml:"userinfo_url"`
	JWKSURL     string `yaml:"jwks_url"`
	Issuer      string `yaml:"issuer"`
	APIURL      string `yaml:"api_url"`
}

// Microsoft endpoints. LoginURL is the authority base; the token endpoint
// is LoginURL/{tenant}/oauth2/v2.0/token.
type Microsoft struct {
	LoginURL string `yaml:"login_url"`
	GraphURL string `yaml:"graph_url"`
}

// Yahoo endpoints.
type Yahoo struct {
	TokenURL    string `yaml:"token_url"`
	UserinfoURL string `yaml:"userinfo_url"`
}

// Zoom endpoints.
type Zoom struct {
	TokenURL string `yaml:"token_url"`
	APIURL   string `yaml:"api_url"`
}

// MailHosts are the IMAP and SMTP servers of a mail provider.
type MailHosts struct {
	IMAPHost string `yaml:"imap_host"`
	IMAPPort int    `yaml:"imap_port"`
	SMTPHost string `yaml:"smtp_host"`
	SMTPPort int    `yaml:"smtp_port"`
}

// EWS endpoints.
type EWS struct {
	// AutodiscoverURL overrides Autodiscover lookups (for tests); empty
	// means the standard Autodiscover locations of the user's domain.
	AutodiscoverURL string `yaml:"autodiscover_url"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:  "127.0.0.1:8080",
		DataDir: "grantd-data",
		Log:     Log{Level: "info", Format: "text"},
		HTTP: HTTP{
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
		},
		Vault:   Vault{ReloadInterval: 10 * time.Second},
		Network: Network{Timeout: 15 * time.Second},
		Providers: Providers{
			Google: Google{
				TokenURL:    "https://oauth2.googleapis.com/token",
				UserinfoURL: "https://openidconnect.googleapis.com/v1/userinfo",
				JWKSURL:     "https://www.googleapis.com/oauth2/v3/certs",
				Issuer:      "https://accounts.google.com",
				APIURL:      "https://www.googleapis.com",
			},
			Microsoft: Microsoft{
				LoginURL: "https://login.microsoftonline.com",
				GraphURL: "https://graph.microsoft.com/v1.0",
			},
			Yahoo: Yahoo{
				TokenURL:    "https://api.login.yahoo.com/oauth2/get_token",
				UserinfoURL: "https://api.login.yahoo.com/openid/v1/userinfo",
			},
			Zoom: Zoom{
				TokenURL: "https://zoom.us/oauth/token",
				APIURL:   "https://api.zoom.us/v2",
			},
			ICloud: MailHosts{IMAPHost: "imap.mail.me.com", IMAPPort: 993, SMTPHost: "smtp.mail.me.com", SMTPPort: 587},
		},
		Refresh: Refresh{
			Enabled:             true,
			Workers:             8,
			ProviderConcurrency: 4,
			Interval:            5 * time.Second,
			Lease:               2 * time.Minute,
			Margin:              5 * time.Minute,
			KeepAlive:           24 * time.Hour,
			MinBackoff:          10 * time.Second,
			MaxBackoff:          15 * time.Minute,
			AccessTokenMargin:   2 * time.Minute,
			PasswordRecheck:     6 * time.Hour,
		},
		RateLimit: RateLimit{RequestsPerSecond: 50, Burst: 100, DetectRequestsPerSecond: 100, DetectBurst: 200},
	}
}
