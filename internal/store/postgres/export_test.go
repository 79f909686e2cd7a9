package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// PoolOf exposes a store's pool to the tests of package postgres_test.
func PoolOf(s *Store) *pgxpool.Pool { return s.pool }
