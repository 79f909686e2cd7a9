package api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

func TestGrantCursorRoundTrip(t *testing.T) {
	g := store.Grant{ID: "grant.with.dots-é", CreatedAt: time.UnixMicro(1700000000123456).UTC(), UpdatedAt: time.UnixMicro(1800000000000001).UTC()}
	for _, opts := range []store.ListOptions{{SortBy: "created_at"}, {SortBy: "created_at", Asc: true}, {SortBy: "updated_at"}, {SortBy: "updated_at", Asc: true}} {
		k, err := parseGrantCursor(grantCursor(g, opts), opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		want := g.CreatedAt
		if opts.SortBy == "updated_at" {
			want = g.UpdatedAt
		}
		if k.ID != g.ID || !k.At.Equal(want) {
			t.Fatalf("%+v: got %+v", opts, k)
		}
		// A cursor of another order is refused.
		other := opts
		other.Asc = !opts.Asc
		if _, err := parseGrantCursor(grantCursor(g, opts), other); err == nil {
			t.Fatalf("%+v: cursor accepted for order %+v", opts, other)
		}
	}
}

// FuzzParseGrantCursor: any page_token is either a cursor or a 400 with a
// message; it never panics.
func FuzzParseGrantCursor(f *testing.F) {
	g := store.Grant{ID: "g-1", CreatedAt: time.Unix(1700000000, 0)}
	for _, s := range []string{grantCursor(g, store.ListOptions{SortBy: "created_at"}), "", "Zz", "g1cd", "ZzFjZC4xLg", "ZzFjZC4tMS5h", "ZzFjZC45OTk5OTk5OTk5OTk5OTk5OTk5LmE", "%%%"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, token string, asc bool) {
		opts := store.ListOptions{SortBy: "created_at", Asc: asc}
		k, err := parseGrantCursor(token, opts)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Message == "" {
				t.Fatalf("%q: %v is not a 400 with a message", token, err)
			}
			return
		}
		if k.ID == "" {
			t.Fatalf("%q: accepted without an id", token)
		}
	})
}
