package api

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
)

// Grant list cursors (keyset paging). GET /v3/grants answers a full page
// with next_cursor, the place of its last grant in the list's order; the
// SDKs send it back as page_token for the next page, which then costs the
// same however deep it is (an offset walks every grant it skips).
//
// A cursor is opaque to clients: base64url of "g1" + the sort column
// ('c' created_at, 'u' updated_at) + the direction ('a', 'd') + "." +
// the sort value in unix microseconds + "." + the grant's id. It holds no
// secret and no filter: the SDKs send the filters again with every page.

const cursorVersion = "g1"

// grantCursor encodes the place of g in a list ordered by opts.
func grantCursor(g store.Grant, opts store.ListOptions) string {
	col, at := byte('c'), g.CreatedAt
	if opts.SortBy == "updated_at" {
		col, at = 'u', g.UpdatedAt
	}
	dir := byte('d')
	if opts.Asc {
		dir = 'a'
	}
	raw := cursorVersion + string([]byte{col, dir}) + "." + strconv.FormatInt(at.UnixMicro(), 10) + "." + g.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseGrantCursor decodes a page_token for a list ordered by opts.
func parseGrantCursor(token string, opts store.ListOptions) (store.GrantKey, error) {
	bad := BadRequest("query parameter page_token is not a next_cursor of GET /v3/grants with this sort_by and order_by: %q", fault.Shorten(token, 40))
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return store.GrantKey{}, bad
	}
	rest, ok := strings.CutPrefix(string(b), cursorVersion)
	if !ok || len(rest) < 2 {
		return store.GrantKey{}, bad
	}
	wantCol, wantDir := byte('c'), byte('d')
	if opts.SortBy == "updated_at" {
		wantCol = 'u'
	}
	if opts.Asc {
		wantDir = 'a'
	}
	if rest[0] != wantCol || rest[1] != wantDir || !strings.HasPrefix(rest[2:], ".") {
		return store.GrantKey{}, bad
	}
	at, id, ok := strings.Cut(rest[3:], ".")
	if !ok || id == "" {
		return store.GrantKey{}, bad
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil || us < 0 || us > maxUnixTime*1e6+999999 {
		return store.GrantKey{}, bad
	}
	return store.GrantKey{At: time.UnixMicro(us).UTC(), ID: id}, nil
}
