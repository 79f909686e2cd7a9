package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/netx"
)

// MinRefreshLease is the shortest refresh.lease accepted.
const MinRefreshLease = time.Second

// Validate checks that the configuration is usable: the listen address
// parses, data_dir is set when needed, database_url is a postgres:// URL,
// the log level and format are known, sizes, timeouts and intervals are
// positive, ports are in range, and every provider URL (every key under
// providers ending in _url, and the issuers) is an absolute http(s) URL.
// It reports every problem found, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}

	if err := checkHostPort(c.Listen, true); err != nil {
		bad("listen", "%v", err)
	}
	if c.DataDir == "" && (c.DatabaseURL == "" || (c.Vault.Keyring == "" && c.Vault.KeyringFile == "")) {
		bad("data_dir", "must be set (it holds the SQLite database or the keyring file)")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		// The URL may carry a password: never echo it.
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database_url", "expected a postgres:// or postgresql:// URL")
		}
	}

	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "expected debug, info, warn or error, got %q", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		bad("log.format", "expected text or json, got %q", c.Log.Format)
	}

	if c.HTTP.MaxBodyBytes <= 0 {
		bad("http.max_body_bytes", "must be positive")
	}
	if c.HTTP.PprofListen != "" {
		if err := checkLoopback(c.HTTP.PprofListen); err != nil {
			bad("http.pprof_listen", "%v", err)
		}
	}
	if c.Network.DNSServer != "" {
		if err := checkHostPort(c.Network.DNSServer, false); err != nil {
			bad("network.dns_server", "%v", err)
		}
	}

	for _, cidr := range c.HTTP.TrustedProxies {
		if _, err := netx.ParseCIDR(cidr); err != nil {
			bad("http.trusted_proxies", "%v", err)
		}
	}
	for _, cidr := range c.Network.AllowedCIDRs {
		if _, err := netx.ParseCIDR(cidr); err != nil {
			bad("network.allowed_cidrs", "%v", err)
		}
	}

	if c.Refresh.Workers < 1 {
		bad("refresh.workers", "must be at least 1, got %d", c.Refresh.Workers)
	}
	if c.Refresh.ProviderConcurrencyMin < 1 {
		bad("refresh.provider_concurrency_min", "must be at least 1, got %d", c.Refresh.ProviderConcurrencyMin)
	}
	if c.Refresh.ProviderConcurrency < c.Refresh.ProviderConcurrencyMin || c.Refresh.ProviderConcurrency > c.Refresh.ProviderConcurrencyMax {
		bad("refresh.provider_concurrency", "must be between refresh.provider_concurrency_min (%d) and refresh.provider_concurrency_max (%d), got %d",
			c.Refresh.ProviderConcurrencyMin, c.Refresh.ProviderConcurrencyMax, c.Refresh.ProviderConcurrency)
	}
	switch c.Refresh.Mode {
	case RefreshKeepFresh, RefreshOnDemand:
	default:
		bad("refresh.mode", "expected %s or %s, got %q", RefreshKeepFresh, RefreshOnDemand, c.Refresh.Mode)
	}
	if c.Refresh.Lease > 0 && c.Refresh.Lease < MinRefreshLease {
		bad("refresh.lease", "must be at least %v, got %v: a refresh's provider call gets at most half of the lease and ends when a quarter of it is left, for the outcome to be stored before the lease runs out",
			MinRefreshLease, c.Refresh.Lease)
	}
	if c.Refresh.MinBackoff > c.Refresh.MaxBackoff {
		bad("refresh.min_backoff", "must not exceed refresh.max_backoff (%v)", c.Refresh.MaxBackoff)
	}

	w := c.Webhooks
	if w.Workers < 1 {
		bad("webhooks.workers", "must be at least 1, got %d", w.Workers)
	}
	if w.MinBackoff > w.MaxBackoff {
		bad("webhooks.min_backoff", "must not exceed webhooks.max_backoff (%v)", w.MaxBackoff)
	}
	if w.Lease <= w.Timeout {
		bad("webhooks.lease", "must be longer than webhooks.timeout (%v): a delivery's lease must outlast its attempt", w.Timeout)
	}
	if w.MaxPerApplication < 1 {
		bad("webhooks.max_per_application", "must be at least 1, got %d", w.MaxPerApplication)
	}
	for _, ip := range w.IPAddresses {
		if net.ParseIP(ip) == nil {
			bad("webhooks.ip_addresses", "%q is not an IP address", ip)
		}
	}

	im := c.Imports
	if im.MaxBodyBytes < 1 {
		bad("imports.max_body_bytes", "must be at least 1, got %d", im.MaxBodyBytes)
	}
	if im.Workers < 1 {
		bad("imports.workers", "must be at least 1, got %d", im.Workers)
	}
	if im.Jobs < 1 {
		bad("imports.jobs", "must be at least 1, got %d", im.Jobs)
	}
	if im.Retries < 0 {
		bad("imports.retries", "must be 0 or more, got %d", im.Retries)
	}
	if im.Lease < 3*time.Second {
		bad("imports.lease", "must be at least 3s, got %v", im.Lease)
	}
	if im.PollInterval <= 0 || im.UploadTimeout <= 0 {
		bad("imports.poll_interval", "imports.poll_interval and imports.upload_timeout must be positive")
	}

	for _, l := range []struct {
		rate, burst       int
		rateKey, burstKey string
	}{
		{c.RateLimit.RequestsPerSecond, c.RateLimit.Burst, "ratelimit.requests_per_second", "ratelimit.burst"},
		{c.RateLimit.DetectRequestsPerSecond, c.RateLimit.DetectBurst, "ratelimit.detect_requests_per_second", "ratelimit.detect_burst"},
		{c.RateLimit.ConnectRequestsPerSecond, c.RateLimit.ConnectBurst, "ratelimit.connect_requests_per_second", "ratelimit.connect_burst"},
		{c.RateLimit.PasswordChecksPerMinute, c.RateLimit.PasswordCheckBurst, "ratelimit.password_checks_per_minute", "ratelimit.password_check_burst"},
	} {
		if l.rate < 0 {
			bad(l.rateKey, "must be 0 (no limit) or positive, got %d", l.rate)
		}
		if l.rate > 0 && l.burst < 1 {
			bad(l.burstKey, "must be at least 1 when %s is set, got %d", l.rateKey, l.burst)
		}
	}

	cv := reflect.ValueOf(c)
	for _, f := range getSchema().fields {
		v := cv.FieldByIndex(f.index)
		switch {
		case f.Type == "duration":
			if v.Int() <= 0 {
				bad(f.Path, "must be a positive duration, got %v", f.get(&c))
			}
		case !strings.HasPrefix(f.Path, "providers."):
		case f.Type == "string" && (strings.HasSuffix(f.Path, "_url") || strings.HasSuffix(f.Path, ".issuer")):
			if v.String() == "" && f.optional {
				continue
			}
			if err := checkHTTPURL(v.String()); err != nil {
				bad(f.Path, "%v", err)
			}
		case f.Type == "int" && strings.HasSuffix(f.Path, "_port"):
			if n := v.Int(); n < 1 || n > 65535 {
				bad(f.Path, "expected a port number 1-65535, got %d", n)
			}
		case f.Type == "string" && strings.HasSuffix(f.Path, "_host"):
			if v.String() == "" {
				bad(f.Path, "must be set")
			}
		}
	}
	return errors.Join(errs...)
}

// checkLoopback checks a listen address whose host is a loopback address
// or localhost: what it serves has no authentication.
func checkLoopback(s string) error {
	if err := checkHostPort(s, true); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(s)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("expected a loopback address such as 127.0.0.1:6060 (the profiles have no authentication), got %q", s)
	}
	return nil
}

// checkHostPort checks "host:port". For a listen address the host may be
// empty (all interfaces) and the port 0 (any free port).
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("expected host:port, got %q", s)
	}
	if host == "" && !listen {
		return fmt.Errorf("expected host:port with a host, got %q", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && !listen) {
		return fmt.Errorf("invalid port in %q", s)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("expected an absolute http:// or https:// URL, got %q", s)
	}
	return nil
}
