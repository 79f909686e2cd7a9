package postgres

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/grantd/grantd/internal/store/sqlstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolOf exposes a store's pool to the tests of package postgres_test.
func PoolOf(s *Store) *pgxpool.Pool { return s.pool }

// OpenCountingWrites opens the store at url with connections that add
// each write to the server (one per message batch the client flushes, so
// one per round trip) to writes.
func OpenCountingWrites(ctx context.Context, url string, writes *atomic.Int64) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, writes}, nil
	}
	return openConfig(ctx, cfg)
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TxOf exposes the backend's Tx (sqlstore's transactions) to the tests.
func TxOf(s *Store) func(ctx context.Context, fn func(ctx context.Context, q sqlstore.Querier) error) error {
	return (*backend)(s).Tx
}
