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
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/vault"
)

// A node must not start with a keyring that cannot open the secrets its
// database holds (a copied database without its keyring, a wrong
// vault.keyring_file): it says which key is missing, and generates no
// keyring for a database that holds secrets.
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

	// The keyring file is gone: no start, no new keyring generated.
	if err := os.Rename(server.KeyringPath(cfg), server.KeyringPath(cfg)+".saved"); err != nil {
		t.Fatal(err)
	}
	_, err = server.New(ctx, cfg, log)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "keyring") {
		t.Fatalf("started without its keyring: %v", err)
	}
	if _, err := os.Stat(server.KeyringPath(cfg)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a keyring was generated for a database with secrets: %v", err)
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

// checkFails is a real store whose KeyringCheck fails, as a dropped
// database connection or a cancelled start would, after the keyring file
// was generated.
type checkFails struct{ store.Store }

func (s checkFails) KeyringCheck(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("connection reset")
}

// A start that fails after generating the keyring file leaves it in place:
// another process sharing the data directory may already have loaded it
// and sealed secrets with it (found by a review: the file used to be
// removed whenever the check failed).
func TestFailedStartKeepsAGeneratedKeyring(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := server.OpenCheckedVault(ctx, cfg, checkFails{st}, log); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("OpenCheckedVault with a failing store: %v", err)
	}
	// Another process loaded the generated keyring meanwhile.
	other, err := server.OpenVault(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(server.KeyringPath(cfg)); err != nil {
		t.Fatalf("the generated keyring is gone: %v", err)
	}
	// A retry uses the same keyring.
	v, err := server.OpenCheckedVault(ctx, cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	if v.PrimaryKeyID() != other.PrimaryKeyID() {
		t.Errorf("the retry uses key %s, the other process %s", v.PrimaryKeyID(), other.PrimaryKeyID())
	}
}

// Nodes with different keyrings on a database without any secret yet (a
// first rollout where each node generated or was given its own): the
// first one records the keyring check, the others are refused (found by a
// multi-node review: each sealed with its own key, and the others failed
// on its secrets).
func TestSecondKeyringRefusedOnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inline := func() string {
		kr, err := vault.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		return kr.MarshalInline()
	}
	a := config.Default()
	a.DataDir = t.TempDir()
	a.Vault.Keyring = inline()
	srv, err := server.New(ctx, a, log)
	if err != nil {
		t.Fatal(err)
	}
	first := srv.Vault.PrimaryKeyID()
	srv.Close()
	b := a
	b.Vault.Keyring = inline()
	if _, err := server.New(ctx, b, log); err == nil || !strings.Contains(err.Error(), first) {
		t.Fatalf("a second keyring on the same (empty) database: %v", err)
	}
	// The first keyring, and one that holds it among others, still start.
	c := a
	c.Vault.Keyring = b.Vault.Keyring + "," + a.Vault.Keyring
	for _, cfg := range []config.Config{a, c} {
		srv, err := server.New(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
	}
}
