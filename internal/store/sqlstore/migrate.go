package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations: the schema differs between the databases, so each backend
// embeds its own migrations/*.sql files; applying them is shared.

var (
	qMigrationDone   = newStmt(`SELECT count(*) FROM schema_migrations WHERE version = ?`)
	qRecordMigration = newStmt(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
)

// Migrate applies the pending migrations of fsys (migrations/NNNN_name.sql,
// in version order), each in its own transaction that first runs the
// flavour's LockMigrations (PostgreSQL: an advisory lock per schema, so
// that nodes starting at once apply each migration exactly once; SQLite:
// the transaction holds the write lock), creates schema_migrations if it is
// missing, and records the migration there.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := migrations(fsys)
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
			if s.f.LockMigrations != "" {
				if _, err := q.Exec(ctx, s.f.LockMigrations); err != nil {
					return err
				}
			}
			if _, err := q.Exec(ctx, s.f.MigrationsTable); err != nil {
				return err
			}
			var n int
			if err := q.QueryRow(ctx, s.sql(qMigrationDone), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := q.Exec(ctx, s.sql(qRecordMigration), m.version, m.name, s.time(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: migration %s: %w", s.f.Name, m.name, err)
		}
	}
	return nil
}

// migration is one embedded schema migration.
type migration struct {
	version int
	name    string // file name, e.g. 0001_init.sql
	sql     string
}

// migrations returns the migrations/*.sql files of fsys in version order. A
// file is named NNNN_description.sql; versions must be positive and unique.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must be a positive version number, '_' and a description", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s have the same version", prev, base)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("store: no migrations")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}
