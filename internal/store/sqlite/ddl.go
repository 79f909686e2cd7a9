package sqlite

import "regexp"

// ddlRules translate the shared migrations (PostgreSQL's types; see
// internal/store/sqlstore/migrate.go) into SQLite's: times are unix
// microseconds in an INTEGER, JSON is TEXT, bytes are a BLOB, booleans
// 0 and 1, and every table is STRICT so that a value of the wrong type
// is refused as PostgreSQL would refuse it. Applied in order.
var ddlRules = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\bbigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY\b`), "INTEGER PRIMARY KEY AUTOINCREMENT"},
	{regexp.MustCompile(`(?i)\btimestamptz\b`), "INTEGER"},
	{regexp.MustCompile(`(?i)\bbigint\b`), "INTEGER"},
	{regexp.MustCompile(`(?i)\bboolean\b`), "INTEGER"},
	{regexp.MustCompile(`(?i)\bDEFAULT false\b`), "DEFAULT 0"},
	{regexp.MustCompile(`(?i)\bDEFAULT true\b`), "DEFAULT 1"},
	{regexp.MustCompile(`(?i)\bjsonb\b`), "TEXT"},
	{regexp.MustCompile(`(?i)\bbytea\b`), "BLOB"},
	{regexp.MustCompile(`(?m)^\);$`), ") STRICT;"},
}

// ddl translates one shared migration for SQLite.
func ddl(sql string) string {
	for _, r := range ddlRules {
		sql = r.re.ReplaceAllString(sql, r.with)
	}
	return sql
}
