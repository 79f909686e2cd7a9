// Command grantd is a self-hosted authentication and grant service with a
// Nylas v3 compatible API. Run `grantd help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/tenant"
	"github.com/grantd/grantd/internal/vault"
)

const usage = `grantd: self-hosted authentication and grants, Nylas v3 compatible.

Usage:
  grantd serve   [--config FILE] [--data-dir DIR] [--listen ADDR] [--database-url URL]
  grantd dev     [--data-dir DIR] [--listen ADDR]
  grantd app create --name NAME [--json]
  grantd app list [--json]
  grantd apikey create --app ID [--name NAME] [--scope credentials:read] [--json]
  grantd apikey list --app ID [--json]
  grantd apikey revoke ID
  grantd keys rotate [--rewrap-only]
  grantd keys generate
  grantd import  [--url URL] [--api-key KEY] --report FILE [--dry-run] [--concurrency N] [--rate google=20/s,...] FILE|-
  grantd export  --app ID [--include-secrets] [--out FILE]
  grantd version

Every command that touches the store takes --config, --data-dir and
--database-url. Configuration keys and their GRANTD_* environment variables
are listed in docs/configuration.md. import talks to a running grantd over
HTTP ($GRANTD_URL, $GRANTD_API_KEY); see docs/cli.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful shutdown (bounded by
		// http.shutdown_timeout); a second one ends the process at once.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		<-again
		fmt.Fprintln(os.Stderr, "grantd: second signal: exiting without waiting for requests in flight")
		os.Exit(1)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // --help was asked for and printed
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "grantd:", ee.msg)
		os.Exit(ee.code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grantd:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "dev":
		return cmdDev(ctx, rest, stdout, stderr)
	case "app":
		return cmdApp(ctx, rest, stdout, stderr)
	case "apikey":
		return cmdAPIKey(ctx, rest, stdout, stderr)
	case "keys":
		return cmdKeys(ctx, rest, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "grantd", server.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// common holds the flags shared by the commands that load configuration.
type common struct {
	fs          *flag.FlagSet
	configFile  string
	dataDir     string
	databaseURL string
	listen      string
}

func newCommon(name string, stderr io.Writer, withListen bool) *common {
	c := &common{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.configFile, "config", "", "YAML configuration file (default $GRANTD_CONFIG)")
	// The flags' own defaults stay empty, so that only flags given on the
	// command line override the file and the environment; the help says
	// what applies when nothing sets them.
	def := config.Default()
	c.fs.StringVar(&c.dataDir, "data-dir", "", "data directory (config key data_dir, GRANTD_DATA_DIR; default "+def.DataDir+")")
	c.fs.StringVar(&c.databaseURL, "database-url", "", "postgres:// URL; empty means SQLite in the data directory (config key database_url, GRANTD_DATABASE_URL)")
	if withListen {
		c.fs.StringVar(&c.listen, "listen", "", "listen address (config key listen, GRANTD_LISTEN; default "+def.Listen+")")
	}
	return c
}

// parse parses flags anywhere among args (the flag package stops at the
// first positional argument) and returns the positional ones.
func (c *common) parse(args []string) ([]string, error) {
	return parseInterspersed(c.fs, args)
}

// parseNone parses flags and refuses positional arguments.
func (c *common) parseNone(args []string) error {
	pos, err := c.parse(args)
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("%s: unexpected argument %q", c.fs.Name(), pos[0])
	}
	return err
}

// load reads configuration: defaults < file < environment < flags.
func (c *common) load() (config.Config, error) {
	path := c.configFile
	if path == "" {
		path = os.Getenv("GRANTD_CONFIG")
	}
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return cfg, err
	}
	set := map[string]string{}
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data-dir":
			set["data_dir"] = c.dataDir
		case "database-url":
			set["database_url"] = c.databaseURL
		case "listen":
			set["listen"] = c.listen
		}
	})
	for k, v := range set {
		if err := cfg.Set(k, v); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

func logger(cfg config.Config, stderr io.Writer) (*slog.Logger, error) {
	return server.NewLogger(cfg.Log, stderr)
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	c := newCommon("serve", stderr, true)
	if err := c.parseNone(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	log, err := logger(cfg, stderr)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// What grantd serve keeps is small (tens of MiB); every request
		// makes garbage. Go's default (collect when the heap has doubled)
		// then collects many times a second under load, about a tenth of
		// the CPU of a create (docs/benchmarks.md); collecting when it
		// has grown fivefold costs a few tens of MiB more.
		debug.SetGCPercent(serveGCPercent)
	}
	for _, name := range config.UnknownEnv(os.Environ()) {
		log.Warn("ignoring an environment variable that names no configuration key (a typo?); see docs/configuration.md", slog.String("name", name))
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// serveGCPercent is grantd serve's GOGC unless the environment sets one.
const serveGCPercent = 400

// openAdmin opens the store and vault for an admin command, quietly.
// Only `app create` may create the store: the other commands refuse a data
// directory without one (a typo would otherwise list nothing, happily).
func openAdmin(ctx context.Context, c *common, stderr io.Writer) (*server.Server, error) {
	return openAdminStore(ctx, c, stderr, false)
}

func openAdminStore(ctx context.Context, c *common, stderr io.Writer, create bool) (*server.Server, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	if err := storeExists(cfg, create); err != nil {
		return nil, err
	}
	cfg.Log.Level = "warn"
	log, err := logger(cfg, stderr)
	if err != nil {
		return nil, err
	}
	return server.New(ctx, cfg, log)
}

// orEmpty is s, or an empty list rather than null in JSON.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// storeExists refuses an embedded store that is not there yet, unless
// create.
func storeExists(cfg config.Config, create bool) error {
	if create || cfg.DatabaseURL != "" {
		return nil
	}
	if _, err := os.Stat(server.SQLitePath(cfg)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no grantd database at %s: check --data-dir (or data_dir, GRANTD_DATA_DIR); grantd serve, grantd dev and grantd app create create one", server.SQLitePath(cfg))
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// groupHelp answers `grantd GROUP --help`: the group's usage on stdout.
func groupHelp(args []string, stdout io.Writer, usage string) bool {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, usage)
		return true
	}
	return false
}

const (
	appUsage    = "usage: grantd app create --name NAME [--json] | grantd app list [--json]"
	apikeyUsage = "usage: grantd apikey create --app ID [--name NAME] [--scope credentials:read] [--json] | grantd apikey list --app ID [--json] | grantd apikey revoke ID"
	keysUsage   = "usage: grantd keys rotate [--rewrap-only] | grantd keys generate"
)

func cmdApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if groupHelp(args, stdout, appUsage) {
		return nil
	}
	if len(args) == 0 {
		return errors.New(appUsage)
	}
	sub, args := args[0], args[1:]
	c := newCommon("app "+sub, stderr, false)
	asJSON := c.fs.Bool("json", false, "print JSON")
	switch sub {
	case "create":
		name := c.fs.String("name", "", "application name (required)")
		if err := c.parseNone(args); err != nil {
			return err
		}
		if strings.TrimSpace(*name) == "" {
			return errors.New("app create: --name is required")
		}
		srv, err := openAdminStore(ctx, c, stderr, true)
		if err != nil {
			return err
		}
		defer srv.Close()
		app, key, err := srv.Tenants.CreateApplication(ctx, *name)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]string{"application_id": app.ID, "name": app.Name, "api_key": key})
		}
		fmt.Fprintf(stdout, "application_id: %s\nname:           %s\napi_key:        %s\n\nThe API key is shown only now; grantd stores a hash of it.\n", app.ID, app.Name, key)
		return nil
	case "list":
		if err := c.parseNone(args); err != nil {
			return err
		}
		srv, err := openAdmin(ctx, c, stderr)
		if err != nil {
			return err
		}
		defer srv.Close()
		apps, err := srv.Store.ListApplications(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]map[string]any, 0, len(apps))
			for _, a := range apps {
				out = append(out, map[string]any{"application_id": a.ID, "name": a.Name, "created_at": a.CreatedAt.Unix()})
			}
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "APPLICATION ID\tNAME\tCREATED")
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, a.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown command app %s", sub)
}

type scopesFlag []string

func (s *scopesFlag) String() string { return strings.Join(*s, ",") }
func (s *scopesFlag) Set(v string) error {
	if !slices.Contains(*s, v) {
		*s = append(*s, v)
	}
	return nil
}

func cmdAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if groupHelp(args, stdout, apikeyUsage) {
		return nil
	}
	if len(args) == 0 {
		return errors.New(apikeyUsage)
	}
	sub, args := args[0], args[1:]
	c := newCommon("apikey "+sub, stderr, false)
	var asJSON *bool
	if sub != "revoke" {
		asJSON = c.fs.Bool("json", false, "print JSON")
	}
	// openForApp parses create's and list's flags, requires --app and
	// opens the store.
	var appID *string
	if sub != "revoke" {
		appID = c.fs.String("app", "", "application id (required)")
	}
	openForApp := func() (*server.Server, error) {
		if err := c.parseNone(args); err != nil {
			return nil, err
		}
		if *appID == "" {
			return nil, fmt.Errorf("apikey %s: --app is required", sub)
		}
		return openAdmin(ctx, c, stderr)
	}
	switch sub {
	case "create":
		name := c.fs.String("name", "", "a name for the key")
		var scopes scopesFlag
		c.fs.Var(&scopes, "scope", "extra permission, repeatable: "+strings.Join(tenant.KnownScopes, ", "))
		srv, err := openForApp()
		if err != nil {
			return err
		}
		defer srv.Close()
		k, plain, err := srv.Tenants.CreateAPIKey(ctx, *appID, *name, scopes)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"id": k.ID, "application_id": k.AppID, "api_key": plain, "scopes": orEmpty(k.Scopes)})
		}
		fmt.Fprintf(stdout, "id:      %s\napi_key: %s\n\nThe API key is shown only now; grantd stores a hash of it.\n", k.ID, plain)
		return nil
	case "list":
		srv, err := openForApp()
		if err != nil {
			return err
		}
		defer srv.Close()
		keys, err := srv.Tenants.ListAPIKeys(ctx, *appID)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]map[string]any, 0, len(keys))
			for _, k := range keys {
				m := map[string]any{"id": k.ID, "name": k.Name, "prefix": k.Prefix, "scopes": orEmpty(k.Scopes), "created_at": k.CreatedAt.Unix(), "revoked": !k.RevokedAt.IsZero()}
				out = append(out, m)
			}
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tSCOPES\tSTATUS")
		for _, k := range keys {
			status := "active"
			if !k.RevokedAt.IsZero() {
				status = "revoked " + k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\n", k.ID, k.Name, k.Prefix, strings.Join(k.Scopes, ","), status)
		}
		return tw.Flush()
	case "revoke":
		pos, err := c.parse(args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New("usage: grantd apikey revoke ID")
		}
		srv, err := openAdmin(ctx, c, stderr)
		if err != nil {
			return err
		}
		defer srv.Close()
		if err := srv.Tenants.RevokeAPIKey(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %s\n", pos[0])
		return nil
	}
	return fmt.Errorf("unknown command apikey %s", sub)
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if groupHelp(args, stdout, keysUsage) {
		return nil
	}
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	sub, args := args[0], args[1:]
	c := newCommon("keys "+sub, stderr, false)
	switch sub {
	case "generate":
		// Touches no store: no --config, --data-dir or --database-url.
		c.fs = flag.NewFlagSet("keys generate", flag.ContinueOnError)
		c.fs.SetOutput(stderr)
		if err := c.parseNone(args); err != nil {
			return err
		}
		kr, err := vault.NewKeyring()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, kr.MarshalInline())
		return nil
	case "rotate":
		rewrapOnly := c.fs.Bool("rewrap-only", false, "do not add a key; re-encrypt every secret under the current primary key")
		if err := c.parseNone(args); err != nil {
			return err
		}
		cfg, err := c.load()
		if err != nil {
			return err
		}
		log, err := logger(cfg, stderr)
		if err != nil {
			return err
		}
		if err := storeExists(cfg, false); err != nil {
			return err
		}
		settle := 2*cfg.Vault.ReloadInterval + time.Second
		if *rewrapOnly {
			settle = 0
		} else if cfg.Vault.Keyring != "" {
			return errors.New("keys rotate: the keyring is inline (vault.keyring / GRANTD_VAULT_KEYRING), so grantd cannot add a key to it: " +
				"run `grantd keys generate`, add its output last in GRANTD_VAULT_KEYRING on every node and restart them all, then move it first on every node and restart them all again, then run `grantd keys rotate --rewrap-only` (docs/cli.md)")
		}
		// Open (and so check the keyring against the store) before adding
		// a key: a keyring that cannot open the store gets no new key.
		srv, err := server.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		if !*rewrapOnly {
			id, err := vault.AddKeyToFile(server.KeyringPath(cfg))
			if err != nil {
				return err
			}
			if err := srv.Vault.Reload(); err != nil {
				return err
			}
			log.Info("added a new primary master key", slog.String("key_id", id), slog.String("keyring", server.KeyringPath(cfg)))
		}
		n, err := server.Rewrap(ctx, srv.Store, srv.Vault, settle, log)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w; the new key is primary: run `grantd keys rotate --rewrap-only` to finish re-encrypting the secrets", err)
			}
			return err
		}
		fmt.Fprintf(stdout, "primary key %s; re-encrypted %d secrets\n", srv.Vault.PrimaryKeyID(), n)
		return nil
	}
	return fmt.Errorf("unknown command keys %s", sub)
}
