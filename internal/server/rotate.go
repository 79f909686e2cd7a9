package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/vault"
)

// Rewrap re-encrypts every stored secret under the vault's primary key,
// online: it makes passes over the store until one pass finds nothing to
// rewrap and at least settle has passed since start (so that running
// servers, which re-read the keyring every vault.reload_interval, seal with
// the new key by then). Rows changed concurrently are skipped by the store
// and caught by a later pass. It returns the number of blobs rewritten.
func Rewrap(ctx context.Context, st store.Store, v *vault.Vault, settle time.Duration, log *slog.Logger) (int, error) {
	start := time.Now()
	total := 0
	for pass := 1; ; pass++ {
		n, err := st.RewrapSecrets(ctx, 500, v.Rewrap)
		if err != nil {
			return total, fmt.Errorf("rewrap pass %d: %w", pass, err)
		}
		total += n
		log.Info("rewrap pass done", slog.Int("pass", pass), slog.Int("rewritten", n), slog.String("primary_key", v.PrimaryKeyID()))
		if n == 0 && time.Since(start) >= settle {
			return total, nil
		}
		if n == 0 {
			wait := min(settle-time.Since(start), time.Second)
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(wait):
			}
		}
	}
}
