package server_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/vault"
)

// A node must not start with a keyring that cannot open the secrets its
// database holds (a copied database without its keyring, a wrong
// vault.keyring_file): it says which key is missing, and a keyring it
// generated for the occasion is not left behind.
func TestStartRefusesAForeignKeyring(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.DataDir = t.TempDir()

	// A fresh store: any keyring will do, and one is generated.
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := srv.Tenants.CreateApplication(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	name := "secret"
	if _, err := srv.Connectors.Create(ctx, app.ID, connector.Input{Provider: "google", Name: &name,
		Settings: map[string]any{"client_id": "id", "client_secret": "s3cret"}}); err != nil {
		t.Fatal(err)
	}
	key := srv.Vault.PrimaryKeyID()
	srv.Close()

	// The keyring file is gone: no start, no new keyring left behind.
	if err := os.Rename(server.KeyringPath(cfg), server.KeyringPath(cfg)+".saved"); err != nil {
		t.Fatal(err)
	}
	_, err = server.New(ctx, cfg, log)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "keyring") {
		t.Fatalf("started without its keyring: %v", err)
	}
	if _, err := os.Stat(server.KeyringPath(cfg)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a generated keyring was left behind: %v", err)
	}
	// Another keyring, inline: no start either.
	other, err := vault.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	inline := cfg
	inline.Vault.Keyring = other.MarshalInline()
	if _, err := server.New(ctx, inline, log); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("started with a foreign keyring: %v", err)
	}
	// Its own keyring back: it starts.
	if err := os.Rename(server.KeyringPath(cfg)+".saved", server.KeyringPath(cfg)); err != nil {
		t.Fatal(err)
	}
	srv, err = server.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}
