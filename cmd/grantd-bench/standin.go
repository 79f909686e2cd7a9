package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/passthrough"
	"github.com/grantd/grantd/internal/sandbox"
)

// secretEnv carries the pass-through's OAuth client secret, kept off the
// command line (which other users of the machine can read).
const secretEnv = "GRANTD_BENCH_CLIENT_SECRET"

// cmdStandin runs grantd's OAuth sandbox as the provider stand-in, in a
// process of its own. Its first line on stdout is its base URL.
func cmdStandin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("standin: unexpected argument %q", fs.Arg(0))
	}
	sb, err := sandbox.Start(sandbox.Options{Addr: *listen})
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintln(stdout, sb.URL())
	<-ctx.Done()
	return nil
}

// cmdPassthrough runs the pass-through (package passthrough) for Google
// creates: POST /v3/connect/custom makes the token redemption and the
// userinfo call at the stand-in with grantd's provider HTTP client
// settings, and nothing else. Its first line on stdout is its base URL.
func cmdPassthrough(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passthrough", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	standin := fs.String("standin", "", "base URL of the provider stand-in (required)")
	clientID := fs.String("client-id", "", "OAuth client id of the Google connector (required); the secret is read from $"+secretEnv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("passthrough: unexpected argument %q", fs.Arg(0))
	}
	if *standin == "" || *clientID == "" {
		return errors.New("passthrough: --standin and --client-id are required")
	}
	hc, err := netx.NewHTTPClient(config.Default().Network)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(*standin, "/")
	p := &passthrough.Handler{
		Client: hc, Provider: "google", TokenURL: base + "/google/token", UserinfoURL: base + "/google/userinfo",
		ClientID: *clientID, Secret: os.Getenv(secretEnv),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v3/connect/custom", p)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintln(stdout, "http://"+ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
