package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/sandbox"
	"github.com/grantd/grantd/internal/server"
)

// DevFile is the name of the file `grantd dev` writes in its data
// directory; its fields are documented in docs/dev.md.
const DevFile = "dev.json"

// devOutput is the content of dev.json (a public contract: docs/dev.md).
type devOutput struct {
	APIURL        string                 `json:"api_url"`
	APIKey        string                 `json:"api_key"`
	ApplicationID string                 `json:"application_id"`
	SandboxURL    string                 `json:"sandbox_url"`
	DataDir       string                 `json:"data_dir"`
	Identities    map[string]devIdentity `json:"identities"`
}

type devIdentity struct {
	Provider     string   `json:"provider"`
	Email        string   `json:"email"`
	RefreshToken string   `json:"refresh_token"`
	Scope        []string `json:"scope"`
	ClientID     string   `json:"client_id"`
}

// devScopes are the scopes of the sandbox identities' refresh tokens.
var devScopes = map[string][]string{
	provider.Google:    {"openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile", "https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/calendar"},
	provider.Microsoft: {"openid", "profile", "email", "offline_access", "User.Read", "Mail.Read", "Calendars.ReadWrite"},
	provider.Yahoo:     {"openid", "email", "profile", "mail-r"},
	provider.Zoom:      {"meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting", "user:read:user"},
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "grantd-dev", "data directory of the playground (SQLite store, keyring, dev.json)")
	listen := fs.String("listen", "127.0.0.1:8080", "API listen address (use 127.0.0.1:0 for any free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load("", os.Environ())
	if err != nil {
		return err
	}
	cfg.DataDir, cfg.Listen, cfg.DatabaseURL, cfg.Vault.Keyring = *dataDir, *listen, "", ""
	cfg.Network.AllowInsecure = true
	log, err := logger(cfg, stderr)
	if err != nil {
		return err
	}

	sb, err := sandbox.Start(sandbox.Options{Logger: log})
	if err != nil {
		return err
	}
	defer sb.Close()
	cfg.Providers = mergeProviders(cfg.Providers, sb.Providers())

	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	out, err := setUpDev(ctx, srv, sb)
	if err != nil {
		ln.Close()
		return err
	}
	out.APIURL = "http://" + ln.Addr().String()
	out.DataDir = cfg.DataDir
	path := filepath.Join(cfg.DataDir, DevFile)
	if err := writeDevFile(path, out); err != nil {
		ln.Close()
		return err
	}
	printDev(stdout, out, path)
	return srv.Serve(ctx, ln)
}

// mergeProviders points the OAuth providers at the sandbox and keeps the
// rest of the configuration.
func mergeProviders(cfg, sb config.Providers) config.Providers {
	cfg.Google, cfg.Microsoft, cfg.Yahoo, cfg.Zoom = sb.Google, sb.Microsoft, sb.Yahoo, sb.Zoom
	return cfg
}

// setUpDev finds or creates the development application, points its OAuth
// connectors at the sandbox and mints a refresh token per provider.
func setUpDev(ctx context.Context, srv *server.Server, sb *sandbox.Sandbox) (devOutput, error) {
	var out devOutput
	path := filepath.Join(srv.Config.DataDir, DevFile)
	if b, err := os.ReadFile(path); err == nil {
		var prev devOutput
		if json.Unmarshal(b, &prev) == nil && prev.APIKey != "" {
			if p, err := srv.Tenants.Authenticate(ctx, prev.APIKey); err == nil && p.App.ID == prev.ApplicationID {
				out.ApplicationID, out.APIKey = prev.ApplicationID, prev.APIKey
			}
		}
	}
	if out.APIKey == "" {
		app, key, err := srv.Tenants.CreateApplication(ctx, "grantd dev")
		if err != nil {
			return out, err
		}
		out.ApplicationID, out.APIKey = app.ID, key
		srv.Log.Info("created the development application", slog.String("application_id", app.ID))
	}
	out.SandboxURL = sb.URL()
	out.Identities = map[string]devIdentity{}
	for _, prov := range connector.OAuthProviders {
		clientID := "grantd-dev-" + prov
		secret, err := randomSecret()
		if err != nil {
			return out, err
		}
		sb.AddClient(prov, clientID, secret)
		name := "grantd dev " + prov
		in := connector.Input{Name: &name, Provider: prov, Settings: map[string]any{"client_id": clientID, "client_secret": secret}, Scope: devScopes[prov]}
		if _, err := srv.Connectors.Update(ctx, out.ApplicationID, prov, in); err != nil {
			var ce *connector.Error
			if !errors.As(err, &ce) || ce.Kind != connector.NotFound {
				return out, err
			}
			if _, err := srv.Connectors.Create(ctx, out.ApplicationID, in); err != nil {
				return out, err
			}
		}
		email := "dev." + prov + "@example.com"
		sb.AddUser(prov, sandbox.User{Email: email, Name: "Dev " + prov + " user"})
		rt, err := sb.MintRefreshToken(prov, clientID, email, devScopes[prov])
		if err != nil {
			return out, err
		}
		out.Identities[prov] = devIdentity{Provider: prov, Email: email, RefreshToken: rt, Scope: devScopes[prov], ClientID: clientID}
	}
	return out, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func writeDevFile(path string, out devOutput) error {
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printDev(w io.Writer, out devOutput, path string) {
	g := out.Identities[provider.Google]
	fmt.Fprintf(w, `
grantd dev is running.

  API URL:         %s
  API key:         %s
  Application ID:  %s
  Provider sandbox %s
  Details:         %s

Create a grant from the sandbox's Google identity (%s):

  curl -s -X POST %s/v3/connect/custom \
    -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"provider":"google","settings":{"refresh_token":"%s"}}'

Stop with Ctrl-C.
`, out.APIURL, out.APIKey, out.ApplicationID, out.SandboxURL, path, g.Email, out.APIURL, out.APIKey, g.RefreshToken)
}
