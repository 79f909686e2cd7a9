package importjob_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/importer"
	"github.com/grantd/grantd/internal/testenv"
)

// TestImportLoad (GRANTD_IMPORT_LOAD=1) measures a server-side import of
// 10,000 Google refresh tokens against the sandbox with the rates off:
// the upload (checked, sealed and stored) and the job, on SQLite and on
// PostgreSQL (docs/benchmarks.md). Run it under flock
// /tmp/grantd-bench.lock.
func TestImportLoad(t *testing.T) {
	if os.Getenv("GRANTD_IMPORT_LOAD") == "" {
		t.Skip("set GRANTD_IMPORT_LOAD=1 to run the import load measurement")
	}
	t.Run("sqlite", func(t *testing.T) { importLoad(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.PostgresSchema(t, "the import load measurement")
		importLoad(t, func(c *config.Config) { c.DatabaseURL = dsn })
	})
}

func importLoad(t *testing.T, configure func(*config.Config)) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("GRANTD_IMPORT_LOAD_LINES")); err == nil && v > 0 {
		n = v
	}
	e := newIdleImportEnv(t, func(c *config.Config) {
		c.Imports.Rates = "google=off"
		c.Log.Level = "warn"
		if configure != nil {
			configure(c)
		}
	})
	var lines []string
	for i := range n {
		lines = append(lines, googleLine(e.RefreshToken("google", e.clientID, fmt.Sprintf("l%d@example.com", i)), fmt.Sprint(i)))
	}
	body := strings.Join(lines, "\n") + "\n"
	runtime.GC()
	start := time.Now()
	j := e.c.post(body, "")
	upload := time.Since(start)
	start = time.Now()
	e.startWorker()
	j = e.c.wait(j.ID, 10*time.Minute, "finished", finished)
	run := time.Since(start)
	if j.State != "done" || j.Created != n {
		t.Fatalf("job: %+v", j)
	}
	t.Logf("%d lines, %.1f MB: upload %s (%.0f lines/s), job %s (%.0f lines/s)", n, float64(len(body))/1e6,
		upload.Round(time.Millisecond), float64(n)/upload.Seconds(), run.Round(time.Millisecond), float64(n)/run.Seconds())

	// The yardstick, in the same run: grantd import's engine sending as
	// many other lines over HTTP to the same grantd, at the same
	// concurrency, without a report.
	lines = lines[:0]
	for i := range n {
		lines = append(lines, googleLine(e.RefreshToken("google", e.clientID, fmt.Sprintf("y%d@example.com", i)), fmt.Sprint(i)))
	}
	r := importer.New(importer.Options{
		Sender:      &importer.HTTPSender{URL: e.HTTP.URL, APIKey: e.c.key, Client: importer.NewHTTPClient(e.Config.Imports.Workers, time.Minute)},
		Concurrency: e.Config.Imports.Workers, Rates: importer.Rates{"google": rate.Inf},
	})
	start = time.Now()
	if err := r.Run(context.Background(), strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	cli := time.Since(start)
	if sum, _ := r.Summary(); sum.Created != n {
		t.Fatalf("yardstick: %s", sum)
	}
	t.Logf("yardstick: the importer over HTTP, concurrency %d: %s (%.0f lines/s); the job took %.2f× as long", e.Config.Imports.Workers,
		cli.Round(time.Millisecond), float64(n)/cli.Seconds(), run.Seconds()/cli.Seconds())
}
