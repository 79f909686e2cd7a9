package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestSchemaIsStrict checks the translation of the shared migrations
// (written in PostgreSQL's types): every table is STRICT and every column
// has one of SQLite's storage types, so a translation rule missing for a
// type a new migration uses fails here rather than in production.
func TestSchemaIsStrict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grantd.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	strict := map[string]bool{}
	for rows.Next() {
		var name string
		var st int
		if err := rows.Scan(&name, &st); err != nil {
			t.Fatal(err)
		}
		strict[name] = st == 1
	}
	rows.Close()
	if len(strict) < 10 {
		t.Fatalf("only %d tables: %v", len(strict), strict)
	}
	for table, ok := range strict {
		if !ok && table != "schema_migrations" {
			t.Errorf("table %s is not STRICT", table)
		}
		cols, err := db.Query(`SELECT name, upper(type) FROM pragma_table_xinfo(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var col, typ string
			if err := cols.Scan(&col, &typ); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "INTEGER", "TEXT", "BLOB":
			default:
				t.Errorf("%s.%s has type %q, not INTEGER, TEXT or BLOB", table, col, typ)
			}
		}
		cols.Close()
	}
}
