// Package postgres is the PostgreSQL backend of store.Store, for
// deployments with several grantd nodes. It uses pgx (pgxpool).
//
// Update closures run inside a READ COMMITTED transaction that holds the
// row's lock (SELECT … FOR UPDATE), so concurrent updates of one record
// queue instead of losing writes. Transactions that append outbox events
// serialise on a transaction-scoped advisory lock, so events commit in Seq
// order and a reader paging by Seq never skips one that commits late.
//
// Every session grantd opens commits synchronously (synchronous_commit =
// on, whatever the server's, database's or role's default): a write
// reported done has been flushed to the server's disk.
//
// The schema is taken from the connection's search_path, which may be set
// in the URL (postgres://…/db?search_path=grantd).
//
// The queries themselves are sqlstore's, shared with SQLite; this package
// provides the pool and the flavour (backend.go), and its migrations.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store backed by a PostgreSQL database: the shared
// queries of sqlstore over a pgx pool.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, with pgxpool's pool_* options) and applies the pending
// migrations. Several nodes may Open the same database at once.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return openConfig(ctx, cfg)
}

// openConfig is Open with a parsed configuration.
func openConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	if err := synchronousCommit(cfg.ConnConfig.RuntimeParams); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil || schema == nil {
		pool.Close()
		if err == nil {
			err = errors.New("the search_path names no existing schema: create it (CREATE SCHEMA name) or fix search_path in the database URL")
		}
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	s.Store = sqlstore.New((*backend)(s), flavor)
	if err := s.Migrate(ctx, migrationFS); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// synchronousCommit makes every session grantd opens wait for its commits
// to be flushed to the server's disk (synchronous_commit = on, sent in the
// startup message, which takes precedence over the server's, the
// database's and the role's defaults). With off, which tuned setups often
// use, PostgreSQL reports a commit before it is durable and a crash loses
// the last ones: for grantd, a rotated refresh token the provider has
// already replaced. A URL that sets synchronous_commit keeps its value
// unless it is off (local, remote_write and remote_apply all flush
// locally first); off is refused.
func synchronousCommit(params map[string]string) error {
	v, ok := params["synchronous_commit"]
	if !ok {
		params["synchronous_commit"] = "on"
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "no", "0":
		return fmt.Errorf("postgres: the database URL sets synchronous_commit=%s: grantd needs its commits durable (a crash would lose rotated tokens already stored); remove the setting or use on", v)
	}
	return nil
}
