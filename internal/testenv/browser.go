package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumVar overrides the path of the Chromium a browser test drives
// (default: Debian's /usr/bin/chromium, which scripts/install-test-deps
// installs).
const ChromiumVar = "GRANTD_CHROMIUM"

// Browser starts headless Chromium for t and returns a chromedp context on
// its first tab; the browser stops when t ends. Without Chromium it skips
// t saying what did not run (see Skip). The flags keep Chromium off the
// network it cannot reach here (no background requests, updates or sync)
// and give it a fresh profile.
func Browser(t testing.TB, what string) context.Context {
	t.Helper()
	bin := os.Getenv(ChromiumVar)
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		Skip(t, "headless Chromium is not installed at %s (apt-get install chromium, or scripts/install-test-deps; %s overrides the path): %s did not run", bin, ChromiumVar, what)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelC()
		cancelA()
	})
	// The first action starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx
}
