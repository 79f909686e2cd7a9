package api

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/store"
)

// MaxLimit is the largest page any list returns.
const MaxLimit = 200

// queryInt parses an integer query parameter within [min, max]; absent
// means def. Values above max are clamped, so a list never answers more
// items than the caller asked for or than MaxLimit.
func queryInt(q url.Values, name string, def, min, max int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, BadRequest("query parameter %s must be an integer, not %q", name, fault.Shorten(v, 40))
	}
	if n < min {
		return 0, BadRequest("query parameter %s must be at least %d", name, min)
	}
	return minInt(n, max), nil
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// listOptions reads limit, offset, sort_by and order_by.
func listOptions(q url.Values) (store.ListOptions, error) {
	var o store.ListOptions
	var err error
	// limit=0 means "no preference" (the Node SDK's default), not "nothing".
	if o.Limit, err = queryInt(q, "limit", 10, 0, MaxLimit); err != nil {
		return o, err
	}
	if o.Limit == 0 {
		o.Limit = 10
	}
	if o.Offset, err = queryInt(q, "offset", 0, 0, 1<<31-1); err != nil {
		return o, err
	}
	switch v := q.Get("sort_by"); v {
	case "", "created_at", "createdAt":
		o.SortBy = "created_at"
	case "updated_at", "updatedAt":
		o.SortBy = "updated_at"
	default:
		return o, BadRequest("query parameter sort_by must be created_at or updated_at, not %q", fault.Shorten(v, 40))
	}
	switch v := q.Get("order_by"); v {
	case "", "desc":
	case "asc":
		o.Asc = true
	default:
		return o, BadRequest("query parameter order_by must be asc or desc, not %q", fault.Shorten(v, 40))
	}
	return o, nil
}

// maxUnixTime is 9999-12-31T23:59:59Z, the last second both stores can
// compare.
const maxUnixTime = 253402300799

// queryTime parses a Unix-seconds query parameter.
func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxUnixTime {
		return time.Time{}, BadRequest("query parameter %s must be a Unix time in seconds (0 to %d), not %q", name, maxUnixTime, fault.Shorten(v, 40))
	}
	return time.Unix(n, 0).UTC(), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
