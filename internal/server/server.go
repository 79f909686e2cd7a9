// Package server assembles grantd from its configuration: store, vault,
// services, providers and the HTTP API. `grantd serve`, `grantd dev` and
// the admin commands all start here.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/api"
	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/detect"
	"github.com/grantd/grantd/internal/domain"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/hosted"
	"github.com/grantd/grantd/internal/idtoken"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/importjob"
	"github.com/grantd/grantd/internal/native"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/agent"
	"github.com/grantd/grantd/internal/providers"
	"github.com/grantd/grantd/internal/ratelimit"
	"github.com/grantd/grantd/internal/redirecturi"
	"github.com/grantd/grantd/internal/refresh"
	"github.com/grantd/grantd/internal/spool"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/token"
	"github.com/grantd/grantd/internal/vault"
	"github.com/grantd/grantd/internal/webhook"
)

// Version is set at build time with -ldflags "-X …/server.Version=…".
var Version = "dev"

// NewLogger returns the slog logger described by cfg, writing to w.
func NewLogger(cfg config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Format) { // as config.Validate accepts it
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: %q is not text or json", cfg.Format)
}

// SQLitePath is where the embedded database lives in the data directory.
func SQLitePath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "grantd.db") }

// OpenStore opens PostgreSQL when database_url is set, else the SQLite file
// in the data directory; migrations are applied either way. Every call of
// the store it returns has the deadline store.timeout.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if u := cfg.DatabaseURL; u != "" {
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			return nil, errors.New("database_url must be a postgres:// URL (leave it empty for the embedded SQLite store)")
		}
		st, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return store.WithTimeout(st, cfg.Store.Timeout), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	st, err := sqlite.Open(ctx, SQLitePath(cfg))
	if err != nil {
		return nil, err
	}
	return store.WithTimeout(st, cfg.Store.Timeout), nil
}

// KeyringPath is the keyring file used when vault.keyring is not set.
func KeyringPath(cfg config.Config) string {
	if cfg.Vault.KeyringFile != "" {
		return cfg.Vault.KeyringFile
	}
	return filepath.Join(cfg.DataDir, "keyring.json")
}

// OpenVault loads the master keyring: inline from vault.keyring, else from
// the keyring file, generated on first start. Prefer OpenCheckedVault when
// a store is open: it refuses a keyring that cannot open the store's
// secrets and generates none for a store that holds secrets.
func OpenVault(cfg config.Config, log *slog.Logger) (*vault.Vault, error) {
	if cfg.Vault.Keyring != "" {
		return vault.NewFromInline(cfg.Vault.Keyring, vault.WithLogger(log))
	}
	path := KeyringPath(cfg)
	v, created, err := vault.NewFromFile(path, vault.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a new master keyring; back it up: without it the stored secrets cannot be decrypted", slog.String("path", path), slog.String("key_id", v.PrimaryKeyID()))
	}
	return v, nil
}

// OpenCheckedVault is OpenVault for st. A node started without the
// keyring its database was used with (a copied database, a wrong
// vault.keyring_file, a PostgreSQL node without the shared keyring) would
// otherwise run and fail every grant, so, from one look at st's first
// sealed secret (the keyring check, when there is one: it is the first
// blob RewrapSecrets walks):
//   - when the keyring file does not exist and st already holds sealed
//     secrets, it refuses, naming their master key, and generates nothing
//     (a keyring generated then would only hide the missing one);
//   - the keyring must hold that secret's master key;
//   - the first node to use the database records the keyring check, a
//     value sealed with its keyring, which every node must then open: a
//     node with another keyring is refused even before any other secret
//     exists (nodes started at once, each with its own).
//
// A keyring file is never removed: another process sharing the data
// directory may be using it.
func OpenCheckedVault(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) (*vault.Vault, error) {
	first, err := firstSealedKeyID(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("check the keyring against the store: %w", err)
	}
	source := "inline vault.keyring"
	if cfg.Vault.Keyring == "" {
		source = KeyringPath(cfg)
		if _, err := os.Stat(source); errors.Is(err, fs.ErrNotExist) && first != "" {
			return nil, fmt.Errorf("the database holds secrets sealed with master key %q, but the keyring file %s does not exist: "+
				"start grantd with the keyring this database was used with (vault.keyring_file or GRANTD_VAULT_KEYRING); "+
				"a new keyring is generated only for a database without secrets", first, source)
		}
	}
	v, err := OpenVault(cfg, log)
	if err != nil {
		return nil, err
	}
	if first != "" && !v.Keyring().Has(first) {
		return nil, fmt.Errorf("the database holds secrets sealed with master key %q, which the keyring (%s) does not have: "+
			"start grantd with the keyring this database was used with (vault.keyring_file or GRANTD_VAULT_KEYRING)", first, source)
	}
	probe := make([]byte, 16)
	_, _ = rand.Read(probe)
	sealed, err := v.Seal(probe, keyringCheckAAD)
	if err != nil {
		return nil, err
	}
	stored, err := st.KeyringCheck(ctx, sealed)
	if err != nil {
		return nil, fmt.Errorf("record the keyring check: %w", err)
	}
	if _, err := v.Open(stored, keyringCheckAAD); err != nil {
		id, _ := vault.KeyIDOf(stored)
		return nil, fmt.Errorf("the database is used with master key %q, which the keyring (%s) cannot open: "+
			"every node must start with the same keyring (vault.keyring_file or GRANTD_VAULT_KEYRING)", id, source)
	}
	return v, nil
}

var keyringCheckAAD = []byte("grantd keyring check")

var errStopWalk = errors.New("server: enough")

// firstSealedKeyID returns the master key ID of the first sealed secret
// st holds ("" when it holds none).
func firstSealedKeyID(ctx context.Context, st store.Store) (string, error) {
	var id string
	_, err := st.RewrapSecrets(ctx, 1, func(blob []byte) ([]byte, bool, error) {
		var err error
		if id, err = vault.KeyIDOf(blob); err != nil {
			return nil, false, err
		}
		return nil, false, errStopWalk
	})
	if err != nil && !errors.Is(err, errStopWalk) {
		return "", err
	}
	return id, nil
}

// Providers returns the providers configured by cfg (see package
// providers). finder (provider detection) fills in the IMAP/SMTP hosts and
// the EWS URL the caller left out; it may be nil. domains are the
// applications' domains the agent provider needs (nil: no agent grants).
func Providers(cfg config.Config, hc *http.Client, finder *detect.Detector, domains *domain.Service) *provider.Registry {
	env := providers.Env{Network: cfg.Network, HTTP: hc}
	if domains != nil {
		env.Domains = agentDomains{domains}
	}
	if finder != nil {
		env.MailFinder, env.EWSFinder = finder, finder
	}
	return providers.New(cfg.Providers, env)
}

// DomainResolver is the resolver domain verification asks: the DNS
// server network.dns_server, else the system's resolver (as detection).
func DomainResolver(cfg config.Config) domain.Resolver {
	if cfg.Network.DNSServer != "" {
		return &detect.DNSResolver{Server: cfg.Network.DNSServer, Timeout: cfg.Network.Timeout}
	}
	return &detect.SystemResolver{}
}

// agentDomains gives the agent provider the state of an application's
// domains.
type agentDomains struct{ s *domain.Service }

func (a agentDomains) DomainState(ctx context.Context, appID, address string) (agent.DomainState, error) {
	st, err := a.s.Status(ctx, appID, address)
	return agent.DomainState{Registered: st.Registered, ID: st.ID, Ownership: st.Ownership, MX: st.MX}, err
}

// Server is an assembled grantd.
type Server struct {
	Config     config.Config
	Log        *slog.Logger
	Store      store.Store
	Vault      *vault.Vault
	Tenants    *tenant.Service
	Connectors *connector.Service
	Grants     *grant.Service
	Refresher  *refresh.Refresher
	// Spool is the refresh spool (nil without refresh.spool_dir and
	// data_dir).
	Spool    *spool.Spool
	Webhooks *webhook.Service
	// RedirectURIs are the applications' redirect URIs (hosted OAuth).
	RedirectURIs *redirecturi.Service
	// Native is the v2 native authentication flow (/connect/authorize).
	Native *native.Service
	// Hosted is hosted OAuth and the token endpoints; Tokens the tokens
	// they issue.
	Hosted *hosted.Service
	Tokens *token.Service
	// Deliverer delivers queued webhook events (run by Serve when
	// webhooks.enabled).
	Deliverer *webhook.Worker
	// Domains are the applications' domains of agent accounts.
	Domains *domain.Service
	// Imports runs bulk import jobs (run by Serve when imports.enabled).
	Imports *importjob.Service
	API     *api.Server
}

// New assembles grantd from cfg. Close releases what it opened.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := netx.NewHTTPClient(cfg.Network)
	if err != nil {
		return nil, err
	}
	det := detect.New(detect.Options{
		DNSServer: cfg.Network.DNSServer, Timeout: cfg.Network.Timeout, HTTPClient: hc,
		AutodiscoverURL:      cfg.Providers.EWS.AutodiscoverURL,
		AllowPrivateNetworks: cfg.Network.AllowPrivateHosts, AllowedNetworks: cfg.Network.Guard().Allowed,
	})
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	v, err := OpenCheckedVault(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{Config: cfg, Log: log, Store: st, Vault: v}
	s.Tenants = tenant.New(st)
	s.Domains = &domain.Service{Store: st, Resolver: DomainResolver(cfg), Now: time.Now, NewID: tenant.NewID, Timeout: cfg.Network.Timeout}
	provs := Providers(cfg, hc, det, s.Domains)
	s.Connectors = &connector.Service{Store: st, Vault: v, Providers: provs, Now: time.Now, NewID: tenant.NewID}
	s.Grants = &grant.Service{
		Store: st, Vault: v, Clients: s.Connectors, Providers: provs,
		Log: log, Now: time.Now, NewID: tenant.NewID, Schedule: grantSchedule(cfg.Refresh),
		RecoveredAfter: cfg.Webhooks.RecoveredAfter,
	}
	s.RedirectURIs = &redirecturi.Service{Store: st, NewID: tenant.NewID, Now: time.Now}
	s.Tokens = &token.Service{Store: st, Now: time.Now}
	s.Hosted = &hosted.Service{Store: st, Vault: v, Grants: s.Grants, Tokens: s.Tokens, RedirectURIs: s.RedirectURIs,
		IDTokens: &idtoken.Keys{Store: st, Vault: v, Now: time.Now, Rotation: cfg.Hosted.SigningKeyRotation},
		Keys:     s.Tenants, Log: log, Now: time.Now, Issuer: strings.TrimRight(cfg.PublicURL, "/"),
		TokenRetention: cfg.Hosted.TokenRetention}
	if s.Spool, err = OpenSpool(cfg, v, log); err != nil {
		st.Close()
		return nil, err
	}
	s.Refresher = NewRefresher(cfg, s.Store, s.Grants, s.Connectors, log, s.Spool)
	if s.Webhooks, err = newWebhooks(cfg, st, v); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Imports.Enabled {
		rates, err := importer.ParseRates(cfg.Imports.Rates)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("imports.rates: %w", err)
		}
		s.Imports = &importjob.Service{
			Store: st, Vault: v, Grants: s.Grants, Describe: api.ImportErrorInfo, Log: log, Now: time.Now, NewID: tenant.NewID,
			Owner: s.Refresher.Owner(),
			Config: importjob.Config{
				Workers: cfg.Imports.Workers, Jobs: cfg.Imports.Jobs, Rates: rates, Retries: cfg.Imports.Retries,
				Lease: cfg.Imports.Lease, PollInterval: cfg.Imports.PollInterval,
			},
		}
	}
	apiLimit := ratelimit.New(float64(cfg.RateLimit.RequestsPerSecond), cfg.RateLimit.Burst)
	s.Native = &native.Service{
		Store: st, Vault: v, Grants: s.Grants, Connectors: s.Connectors, Auth: s.Tenants, Servers: det.Table(), Now: time.Now,
		RateLimit: apiLimit,
		// /connect/token's access token: the hosted-OAuth family, without a
		// refresh token (v2 had none).
		IssueToken: func(ctx context.Context, appID, grantID string, scope []string) (string, error) {
			iss, err := s.Tokens.Issue(ctx, appID, grantID, scope, false)
			return iss.AccessToken, err
		},
	}
	s.API = api.New(api.Config{
		Imports: s.Imports, ImportMaxBodyBytes: cfg.Imports.MaxBodyBytes, ImportUploadTimeout: cfg.Imports.UploadTimeout,
		Native:   &native.Handlers{Service: s.Native, Log: log, RequestID: func(r *http.Request) string { return api.RequestID(r.Context()) }},
		Webhooks: s.Webhooks, WebhookIPAddresses: cfg.Webhooks.IPAddresses,
		Domains:      s.Domains,
		RedirectURIs: s.RedirectURIs, Hosted: s.Hosted, PublicURL: cfg.PublicURL,
		Auth: s.Tenants, Connectors: s.Connectors, Grants: s.Grants, Detector: det, Ready: st, Logger: log,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Version: Version, AccessTokens: s.Refresher,
		RateLimit:              apiLimit,
		DetectRateLimit:        ratelimit.New(float64(cfg.RateLimit.DetectRequestsPerSecond), cfg.RateLimit.DetectBurst),
		ConnectIPRateLimit:     ratelimit.New(float64(cfg.RateLimit.ConnectRequestsPerSecond), cfg.RateLimit.ConnectBurst),
		TrustedProxies:         trustedProxies(cfg.HTTP.TrustedProxies),
		ConnectClientRateLimit: ratelimit.New(float64(cfg.RateLimit.ConnectRequestsPerSecond), cfg.RateLimit.ConnectBurst),
		PasswordCheckRateLimit: ratelimit.New(float64(cfg.RateLimit.PasswordChecksPerMinute)/60, cfg.RateLimit.PasswordCheckBurst),
	})
	if err := s.Refresher.Register(s.API.Registry()); err != nil {
		s.Close()
		return nil, err
	}
	s.Deliverer = webhook.NewWorker(webhookConfig(cfg.Webhooks), st, s.Webhooks, s.Webhooks.HTTP, log, time.Now, s.Refresher.Owner())
	if err := s.Deliverer.Register(s.API.Registry()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// webhookClient is the HTTP client of challenges and deliveries: guarded
// by webhooks.allow_private_urls, trusting network.ca_file.
func webhookClient(cfg config.Config) (*http.Client, netx.Guard, error) {
	tc, err := netx.TLSConfig(cfg.Network)
	if err != nil {
		return nil, netx.Guard{}, err
	}
	guard := netx.Guard{AllowPrivate: cfg.Webhooks.AllowPrivateURLs}
	return webhook.NewHTTPClient(guard, tc, cfg.Webhooks.Workers), guard, nil
}

// webhookConfig maps the webhooks.* keys onto the delivery worker's
// settings.
func webhookConfig(c config.Webhooks) webhook.Config {
	return webhook.Config{
		Workers: c.Workers, Timeout: c.Timeout, MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff,
		Lease: c.Lease, PollInterval: c.PollInterval,
	}
}

func newWebhooks(cfg config.Config, st store.Store, v *vault.Vault) (*webhook.Service, error) {
	hc, guard, err := webhookClient(cfg)
	if err != nil {
		return nil, err
	}
	return &webhook.Service{
		Store: st, Vault: v, HTTP: hc, Guard: guard, Now: time.Now, NewID: tenant.NewID,
		MaxPerApplication: cfg.Webhooks.MaxPerApplication,
	}, nil
}

// NewRefresher returns the grant refresher configured by cfg.refresh, for
// the providers that can also refresh (the OAuth ones) or
// re-check stored credentials (the password ones).
func NewRefresher(cfg config.Config, st store.Store, grants *grant.Service, clients grant.ClientResolver, log *slog.Logger, sp *spool.Spool) *refresh.Refresher {
	o := refresh.Options{
		Config: refreshConfig(cfg.Refresh),
		Store:  st, Grants: grants, Clients: clients, Log: log, Now: time.Now,
		Providers: provider.Capable[provider.Refresher](grants.Providers),
		Checkers:  provider.Capable[provider.Rechecker](grants.Providers),
	}
	if sp != nil {
		o.Spool = sp
		for _, rec := range sp.Pending() {
			o.Replay = append(o.Replay, refresh.SpoolRecord{ID: rec.ID, Data: rec.Data})
		}
	}
	return refresh.New(o)
}

// SpoolDir is the refresh spool's directory: refresh.spool_dir, else
// data_dir/refresh-spool; "" when neither is set.
func SpoolDir(cfg config.Config) string {
	if cfg.Refresh.SpoolDir != "" {
		return cfg.Refresh.SpoolDir
	}
	if cfg.DataDir != "" {
		return filepath.Join(cfg.DataDir, "refresh-spool")
	}
	return ""
}

// OpenSpool opens the refresh spool (nil, with a warning, when there is no
// directory for it: rotated tokens are then held in memory only).
func OpenSpool(cfg config.Config, v *vault.Vault, log *slog.Logger) (*spool.Spool, error) {
	dir := SpoolDir(cfg)
	if dir == "" {
		log.Warn("no refresh spool: set refresh.spool_dir (or data_dir); rotated refresh tokens the database has not taken are held in memory only, and lost if the process dies")
		return nil, nil
	}
	sp, err := spool.Open(dir, v)
	if err != nil {
		return nil, fmt.Errorf("refresh.spool_dir: %w", err)
	}
	if n := sp.Unreadable(); n > 0 {
		log.Error("refresh spool: records sealed with a key the keyring no longer has are kept but cannot be replayed; restore the key", slog.Int("records", n), slog.String("dir", sp.Dir()))
	}
	return sp, nil
}

// refreshConfig maps the refresh.* configuration keys onto the refresher's
// settings, and grantSchedule those that decide when a grant is next due
// onto the grant service's (TestRefreshConfig checks that every key is
// mapped once and that the packages have the same defaults).
func refreshConfig(rc config.Refresh) refresh.Config {
	return refresh.Config{
		Workers: rc.Workers, ProviderConcurrency: rc.ProviderConcurrency, ProviderConcurrencyMin: rc.ProviderConcurrencyMin,
		ProviderConcurrencyMax: rc.ProviderConcurrencyMax, Interval: rc.Interval, Lease: rc.Lease,
		AccessTokenMargin: rc.AccessTokenMargin,
	}
}

func grantSchedule(rc config.Refresh) grant.Schedule {
	return grant.Schedule{
		Mode: rc.Mode, Margin: rc.Margin, KeepAlive: rc.KeepAlive, MinBackoff: rc.MinBackoff, MaxBackoff: rc.MaxBackoff,
		PasswordRecheck: rc.PasswordRecheck,
	}
}

// Close stops the refresher's hold loop and closes the spool and the
// store. Answers still held stay in the spool for the next start.
func (s *Server) Close() error {
	if s.Refresher != nil {
		s.Refresher.Close()
	}
	if s.Spool != nil {
		if err := s.Spool.Close(); err != nil {
			s.Log.Warn("close the refresh spool", slog.Any("err", err))
		}
	}
	return s.Store.Close()
}

// Listen opens the configured listen address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.Config.Listen, err)
	}
	return ln, nil
}

// Serve answers API requests on ln until ctx is done, then shuts down
// gracefully. It also keeps the keyring fresh (key rotation by another
// process).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h := s.Config.HTTP
	srv := &http.Server{
		Handler:           s.API,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
		// "OPTIONS *" reaches the API (a 404 in the envelope) instead of
		// net/http's empty 200.
		DisableGeneralOptionsHandler: true,
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if s.Config.Vault.Keyring == "" && s.Config.Vault.ReloadInterval > 0 {
		go s.Vault.Watch(wctx, s.Config.Vault.ReloadInterval)
	}
	refreshDone := make(chan struct{})
	if s.Config.Refresh.Enabled {
		go func() {
			defer close(refreshDone)
			s.Refresher.Run(wctx)
		}()
	} else {
		close(refreshDone)
	}
	deliverDone := make(chan struct{})
	if s.Config.Webhooks.Enabled {
		go func() {
			defer close(deliverDone)
			s.Deliverer.Run(wctx)
		}()
	} else {
		close(deliverDone)
	}
	importsDone := make(chan struct{})
	if s.Imports != nil {
		go func() {
			defer close(importsDone)
			s.Imports.Run(wctx)
		}()
	} else {
		close(importsDone)
	}
	// Stop the refresher, the webhook worker and the import jobs (they finish the work in
	// flight, whose results must be stored) before returning, also on
	// errors.
	defer func() {
		stopWatch()
		<-refreshDone
		<-deliverDone
		<-importsDone
	}()
	if s.Config.HTTP.PprofListen != "" {
		stop, err := s.servePprof(s.Config.HTTP.PprofListen)
		if err != nil {
			return err
		}
		defer stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.Log.Info("grantd is serving", slog.String("url", "http://"+ln.Addr().String()), slog.String("version", Version), slog.String("store", s.storeKind()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), h.ShutdownTimeout)
	defer cancel()
	s.Log.Info("shutting down")
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown: requests still running after http.shutdown_timeout (%s) were cut off", h.ShutdownTimeout)
		}
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// servePprof answers Go's runtime profiles (/debug/pprof/) on addr, a
// loopback address (http.pprof_listen), until stop is called.
func (s *Server) servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.pprof_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.Log.Info("serving runtime profiles", slog.String("url", "http://"+ln.Addr().String()+"/debug/pprof/"))
	return func() { _ = srv.Close() }, nil
}

func (s *Server) storeKind() string {
	if s.Config.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite " + SQLitePath(s.Config)
}

// trustedProxies parses http.trusted_proxies (checked by config.Validate).
func trustedProxies(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if p, err := netx.ParseCIDR(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}
