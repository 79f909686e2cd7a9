package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations are written once, in migrations/*.sql of this package, in
// PostgreSQL's types (text, bigint, boolean, timestamptz, jsonb, bytea);
// the flavour's DDL translates them for its database (SQLite: INTEGER
// times, JSON text, BLOB, STRICT tables), the way dex's storage/sql
// flavours rewrite one set of statements. A step whose SQL really differs
// (a data migration over JSON functions) goes into the backend's own
// migrations/NNNN_name.sql, which runs after the shared file of the same
// version in the same transaction, or stands alone.
//
// Rules for a shared file, so that the translation stays a few
// word-for-word replacements: one ADD COLUMN per ALTER TABLE (SQLite has
// no other form); a CREATE TABLE ends with ");" alone on its line, and
// nothing else does; no casts.
//
//go:embed migrations/*.sql
var sharedMigrations embed.FS

var (
	qMigrationDone   = newStmt(`SELECT count(*) FROM schema_migrations WHERE version = ?`)
	qRecordMigration = newStmt(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`)
)

// Migrate applies the pending migrations, the shared ones (translated by
// the flavour's DDL) and the backend's own of fsys (migrations/NNNN_name.sql),
// in version order,, each in its own transaction that first runs the
// flavour's LockMigrations (PostgreSQL: an advisory lock per schema, so
// that nodes starting at once apply each migration exactly once; SQLite:
// the transaction holds the write lock), creates schema_migrations if it is
// missing, and records the migration there.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := s.migrations(fsys)
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

// migrations returns the shared migrations, translated by the flavour's
// DDL, each followed by the backend's own file of the same version (fsys),
// in version order. A backend's file for a version the shared ones have
// must have the same name.
func (s *Store) migrations(fsys fs.FS) ([]migration, error) {
	shared, err := readMigrations(sharedMigrations)
	if err != nil {
		return nil, err
	}
	own, err := readMigrations(fsys)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]int{}
	for i := range shared {
		if s.f.DDL != nil {
			shared[i].sql = s.f.DDL(shared[i].sql)
		}
		byVersion[shared[i].version] = i
	}
	ms := shared
	for _, m := range own {
		i, ok := byVersion[m.version]
		if !ok {
			ms = append(ms, m)
			continue
		}
		if ms[i].name != m.name {
			return nil, fmt.Errorf("store: %s migration %s has the version of the shared %s", s.f.Name, m.name, ms[i].name)
		}
		ms[i].sql += "\n" + m.sql
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("store: no migrations")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// readMigrations returns the migrations/*.sql files of fsys. A file is
// named NNNN_description.sql; versions must be positive and unique.
func readMigrations(fsys fs.FS) ([]migration, error) {
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
	return ms, nil
}
