package sqlstore

import (
	"strconv"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	pg := New(nil, Flavor{Numbered: true, ForUpdate: " FOR UPDATE", ForKeyShare: " FOR KEY SHARE", SkipLocked: " FOR UPDATE SKIP LOCKED"})
	lite := New(nil, Flavor{})
	q := `SELECT a FROM t WHERE x = ? AND y IN (SELECT z FROM u WHERE w < ? LIMIT ?{skipLocked}){forUpdate}`
	if got, want := pg.render(q), `SELECT a FROM t WHERE x = $1 AND y IN (SELECT z FROM u WHERE w < $2 LIMIT $3 FOR UPDATE SKIP LOCKED) FOR UPDATE`; got != want {
		t.Errorf("PostgreSQL:\n got %s\nwant %s", got, want)
	}
	if got, want := lite.render(q), `SELECT a FROM t WHERE x = ? AND y IN (SELECT z FROM u WHERE w < ? LIMIT ?)`; got != want {
		t.Errorf("SQLite:\n got %s\nwant %s", got, want)
	}
	// Every registered statement renders to plain SQL: no marker left,
	// one numbered placeholder per ?.
	for i, text := range stmtTexts {
		got := pg.sql(stmt(i))
		if strings.ContainsAny(got, "{}?") {
			t.Errorf("statement %d renders with a marker or ? left: %s", i, got)
		}
		if n := strings.Count(text, "?"); n > 0 && !strings.Contains(got, "$"+strconv.Itoa(n)) {
			t.Errorf("statement %d: %d placeholders, but no $%d: %s", i, n, n, got)
		}
		if strings.ContainsAny(lite.sql(stmt(i)), "{}") {
			t.Errorf("statement %d renders for SQLite with a marker left: %s", i, lite.sql(stmt(i)))
		}
	}
}
