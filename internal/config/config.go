// Package config holds grantd's configuration: defaults, a YAML file, the
// environment (GRANTD_ + the upper-cased key path joined with _) and flags,
// in that order of precedence (flags win). Every key is documented in
// docs/configuration.md. The package a section configures owns its struct
// and defaults: netx.Config is network.*, providers.Config (made of each
// provider package's Config) is providers.*.
package config

import (
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/store"
)

// Config is the whole configuration. The yaml tag of each field is its key;
// the environment variable is derived from the key path. A `grantd:"secret"`
// tag marks a value that must never be printed (Key.Secret); a
// `grantd:"optional"` tag, a URL key under providers that may be empty.
type Config struct {
	// Listen is the address the API server listens on.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database and the generated keyring.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects PostgreSQL (postgres://…); empty means SQLite in
	// DataDir.
	DatabaseURL string `yaml:"database_url" grantd:"secret"`
	// PublicURL is grantd's external address (https://grantd.example),
	// where providers send users back during hosted OAuth
	// (<public_url>/v3/connect/callback) and the iss of tokeninfo. Empty:
	// http://<the request's Host>.
	PublicURL string `yaml:"public_url" grantd:"optional"`

	Log   Log   `yaml:"log"`
	Store Store `yaml:"store"`
	HTTP  HTTP  `yaml:"http"`
	Vault Vault `yaml:"vault"`
	// Network is how grantd reaches providers (netx owns its keys).
	Network netx.Config `yaml:"network"`
	// Providers is every provider's configuration (each provider package
	// owns its keys; internal/providers lists them).
	Providers providers.Config `yaml:"providers"`
	Refresh   Refresh          `yaml:"refresh"`
	RateLimit RateLimit        `yaml:"ratelimit"`
	Webhooks  Webhooks         `yaml:"webhooks"`
	Imports   Imports          `yaml:"imports"`
	Hosted    Hosted           `yaml:"hosted"`
}

// Hosted configures hosted OAuth (/v3/connect/*, internal/hosted).
type Hosted struct {
	// TokenRetention is how long the tokens grantd issued are kept after
	// they expired, were used (rotated away) or were revoked. A used
	// refresh token replayed within it revokes its family; after it, it
	// is only an unknown token.
	TokenRetention time.Duration `yaml:"token_retention"`
	// SigningKeyRotation is the age at which the key that signs
	// id_tokens is replaced; the replaced key stays published for 7 days.
	SigningKeyRotation time.Duration `yaml:"signing_key_rotation"`
}

// Imports configures bulk import jobs (POST /grantd/v1/imports,
// internal/importjob).
type Imports struct {
	// Enabled serves /grantd/v1/imports and runs the jobs in grantd serve.
	Enabled bool `yaml:"enabled"`
	// MaxBodyBytes bounds an import's NDJSON body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// UploadTimeout bounds the time to send an import's body (and to read
	// its results), instead of http.read_timeout.
	UploadTimeout time.Duration `yaml:"upload_timeout"`
	// Workers is the most lines of one job in flight at once.
	Workers int `yaml:"workers"`
	// Jobs is the most jobs one node runs at once.
	Jobs int `yaml:"jobs"`
	// Rates are the lines per second per provider in one job, over the
	// defaults of grantd import's --rate (same syntax).
	Rates string `yaml:"rates"`
	// Retries of a line after a transient failure.
	Retries int `yaml:"retries"`
	// Lease is how long a running job is reserved for its node without
	// a renewal.
	Lease time.Duration `yaml:"lease"`
	// PollInterval is how often a node looks for a queued job.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Webhooks configures webhook destinations and their delivery
// (internal/webhook).
type Webhooks struct {
	// Enabled runs the delivery worker in grantd serve.
	Enabled bool `yaml:"enabled"`
	// AllowPrivateURLs permits destinations on loopback, private and
	// link-local addresses.
	AllowPrivateURLs bool `yaml:"allow_private_urls"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MinBackoff and MaxBackoff bound the delay before a failed delivery
	// is attempted again.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Workers is the number of attempts this node makes at once.
	Workers int `yaml:"workers"`
	// Lease is how long a claimed delivery is reserved for one node.
	Lease time.Duration `yaml:"lease"`
	// PollInterval is how often the outbox and the queue are polled.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxPerApplication bounds an application's destinations.
	MaxPerApplication int `yaml:"max_per_application"`
	// IPAddresses is what GET /v3/webhooks/ip-addresses answers: the
	// addresses deliveries leave from, as the operator knows them.
	IPAddresses []string `yaml:"ip_addresses"`
	// RecoveredAfter: a grant whose refreshes failed transiently for
	// longer than this emits grant.recovered when it works again.
	RecoveredAfter time.Duration `yaml:"recovered_after"`
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
	// ConnectRequestsPerSecond and ConnectBurst bound the unauthenticated
	// hosted OAuth routes (/v3/connect/auth, callback, token, tokeninfo,
	// revoke): a bucket per client IP and one per client_id.
	ConnectRequestsPerSecond int `yaml:"connect_requests_per_second"`
	ConnectBurst             int `yaml:"connect_burst"`
	// PasswordChecksPerMinute and PasswordCheckBurst bound POST
	// /grantd/v1/agent-accounts/verify-password: a bucket per agent
	// mailbox (application and address).
	PasswordChecksPerMinute int `yaml:"password_checks_per_minute"`
	PasswordCheckBurst      int `yaml:"password_check_burst"`
}

// The values of refresh.mode (grant.Schedule.Mode).
const (
	RefreshKeepFresh = "keep_fresh"
	RefreshOnDemand  = "on_demand"
)

// Refresh configures the background refresh of OAuth grants and the
// access-token endpoint (internal/refresh).
type Refresh struct {
	// Enabled starts the scheduler with the server.
	Enabled bool `yaml:"enabled"`
	// Workers is the number of grants refreshed at once by this node.
	Workers int `yaml:"workers"`
	// ProviderConcurrency is where this node's limit on refreshes in
	// flight per provider starts; it adapts between ProviderConcurrencyMin
	// and ProviderConcurrencyMax.
	ProviderConcurrency    int `yaml:"provider_concurrency"`
	ProviderConcurrencyMin int `yaml:"provider_concurrency_min"`
	ProviderConcurrencyMax int `yaml:"provider_concurrency_max"`
	// Mode is keep_fresh (every access token refreshed before it expires)
	// or on_demand (refreshed when asked for, plus a keep-alive).
	Mode string `yaml:"mode"`
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
	// SpoolDir is the directory of the refresh spool, where this node
	// keeps every rotated refresh token until the database has stored it;
	// empty means DataDir/refresh-spool.
	SpoolDir string `yaml:"spool_dir"`
}

// Store configures the calls to the database (SQLite or PostgreSQL).
type Store struct {
	// Timeout is the deadline of one store call: a database that does not
	// answer within it makes the request fail with 503 (store.WithTimeout).
	Timeout time.Duration `yaml:"timeout"`
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
	// PprofListen, when set, is a loopback host:port where grantd serve
	// answers Go's runtime profiles (/debug/pprof/), for measuring it as
	// it runs; empty: nowhere.
	PprofListen string `yaml:"pprof_listen"`
	// TrustedProxies are the addresses (CIDR prefixes or single
	// addresses) of the reverse proxies in front of grantd: from a peer
	// among them, the client's address is the right-most address of
	// X-Forwarded-For that is not a trusted proxy. Empty: trust nobody,
	// the client is the peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
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

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:  "127.0.0.1:8080",
		DataDir: "grantd-data",
		Log:     Log{Level: "info", Format: "text"},
		Store:   Store{Timeout: store.DefaultTimeout},
		HTTP: HTTP{
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
		},
		Vault:     Vault{ReloadInterval: 10 * time.Second},
		Network:   netx.DefaultConfig(),
		Providers: providers.DefaultConfig(),
		Refresh: Refresh{
			Enabled:                true,
			Workers:                64,
			ProviderConcurrency:    4,
			ProviderConcurrencyMin: 1,
			ProviderConcurrencyMax: 32,
			Mode:                   RefreshKeepFresh,
			Interval:               5 * time.Second,
			Lease:                  2 * time.Minute,
			Margin:                 5 * time.Minute,
			KeepAlive:              24 * time.Hour,
			MinBackoff:             10 * time.Second,
			MaxBackoff:             15 * time.Minute,
			AccessTokenMargin:      2 * time.Minute,
			PasswordRecheck:        6 * time.Hour,
		},
		RateLimit: RateLimit{RequestsPerSecond: 50, Burst: 100, DetectRequestsPerSecond: 100, DetectBurst: 200,
			ConnectRequestsPerSecond: 50, ConnectBurst: 100,
			PasswordChecksPerMinute: 30, PasswordCheckBurst: 10},
		Imports: Imports{
			Enabled: true, MaxBodyBytes: 1 << 30, UploadTimeout: time.Hour, Workers: 8, Jobs: 2, Retries: 5,
			Lease: 30 * time.Second, PollInterval: time.Second,
		},
		Hosted: Hosted{TokenRetention: 30 * 24 * time.Hour, SigningKeyRotation: 30 * 24 * time.Hour},
		Webhooks: Webhooks{
			Enabled: true, Timeout: 10 * time.Second, MinBackoff: 10 * time.Second, MaxBackoff: time.Hour,
			Workers: 32, Lease: time.Minute, PollInterval: 200 * time.Millisecond, MaxPerApplication: 25,
			IPAddresses: []string{}, RecoveredAfter: 15 * time.Minute,
		},
	}
}
