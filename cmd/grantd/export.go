package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/store"
)

const exportUsage = "usage: grantd export --app ID [--include-secrets] [--out FILE]"

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if groupHelp(args, stdout, exportUsage) {
		return nil
	}
	c := newCommon("export", stderr, false)
	appID := c.fs.String("app", "", "application id (required)")
	withSecrets := c.fs.Bool("include-secrets", false, "write each grant's refresh token or passwords, so that the file can be imported elsewhere")
	out := c.fs.String("out", "", "file to write (created with mode 0600); default standard output")
	if err := c.parseNone(args); err != nil {
		return err
	}
	if *appID == "" {
		return errors.New("export: --app is required")
	}
	if *withSecrets && *out == "" {
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return errors.New("export: --include-secrets would print every refresh token and password on the terminal: give --out FILE (or redirect standard output)")
		}
	}
	srv, err := openAdmin(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := srv.Store.GetApplication(ctx, *appID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("export: no application with id %q", *appID)
	} else if err != nil {
		return err
	}
	if *withSecrets {
		fmt.Fprintln(stderr, "grantd export: WARNING: the output holds every grant's refresh token or password in clear text: keep it like a password file (it is created 0600) and delete it once imported")
	}
	opts := importer.ExportOptions{AppID: *appID, Secrets: srv.Grants.Secrets, IncludeSecrets: *withSecrets}
	var n importer.ExportCounts
	if *out == "" {
		n, err = importer.Export(ctx, stdout, srv.Store, opts)
	} else {
		n, err = exportToFile(ctx, *out, srv.Store, opts)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	dest := *out
	if dest == "" {
		dest = "standard output"
	}
	fmt.Fprintf(stderr, "grantd export: wrote %d grants of application %s to %s", n.Grants, *appID, dest)
	if n.Invalid > 0 {
		fmt.Fprintf(stderr, " (%d of them invalid: their credentials were refused when last checked, and an import will refuse them too)", n.Invalid)
	}
	fmt.Fprintln(stderr)
	if !*withSecrets {
		fmt.Fprintln(stderr, "grantd export: the lines hold no secrets (no refresh token, no password), so they cannot be imported as they are; --include-secrets writes them")
	} else if n.NoSecret > 0 {
		fmt.Fprintf(stderr, "grantd export: %d grants had no secret to write\n", n.NoSecret)
	}
	return nil
}

// exportToFile writes the export to a new temporary file of mode 0600
// next to path, then renames it over path: a half-written export is never
// left under the name, and the secrets never sit in a file others read.
func exportToFile(ctx context.Context, path string, st importer.GrantLister, opts importer.ExportOptions) (importer.ExportCounts, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return importer.ExportCounts{}, err
	}
	tmp := f.Name()
	defer func() {
		if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes it 0600; say so in case it ever changes.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return importer.ExportCounts{}, err
	}
	n, err := importer.Export(ctx, f, st, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, os.Rename(tmp, path)
}
