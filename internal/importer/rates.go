package importer

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/grantd/grantd/internal/provider"
)

// Rates are the most lines a second sent per provider; rate.Inf (or a
// provider absent from the map) is no limit.
type Rates map[string]rate.Limit

// DefaultRates are the rates used for providers --rate does not name.
// docs/cli.md says where each comes from: the providers' published
// limits where there are any, well below them, since an application's
// other traffic shares them.
func DefaultRates() Rates {
	return Rates{
		provider.Google:    20,
		provider.Microsoft: 10,
		provider.Yahoo:     5,
		provider.Zoom:      10,
		provider.IMAP:      10,
		provider.ICloud:    5,
		provider.EWS:       10,
	}
}

// ParseRates reads "google=20/s,microsoft=600/m,imap=off" on top of the
// defaults: a count per second (/s), minute (/m) or hour (/h), or off (no
// limit).
func ParseRates(s string) (Rates, error) {
	r := DefaultRates()
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("--rate: %q is not PROVIDER=RATE (for example google=20/s)", part)
		}
		if !knownProvider(name) {
			return nil, fmt.Errorf("--rate: unknown provider %q; one of: %s", name, strings.Join(Providers(), ", "))
		}
		if val == "off" {
			r[name] = rate.Inf
			continue
		}
		num, per, ok := strings.Cut(val, "/")
		var unit time.Duration
		switch per {
		case "s":
			unit = time.Second
		case "m", "min":
			unit = time.Minute
		case "h":
			unit = time.Hour
		}
		n, err := strconv.ParseFloat(num, 64)
		if !ok || unit == 0 || err != nil || n <= 0 || n > 1e6 {
			return nil, fmt.Errorf("--rate: %s=%q: give a positive count per second, minute or hour (20/s, 600/m, 3600/h) or off", name, val)
		}
		r[name] = rate.Limit(n / unit.Seconds())
	}
	return r, nil
}

// String lists the rates, sorted by provider: "ews=10/s,google=20/s".
func (r Rates) String() string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, p+"="+FormatRate(r[p]))
	}
	return strings.Join(parts, ",")
}

// FormatRate writes a limit as --rate takes it.
func FormatRate(l rate.Limit) string {
	switch {
	case l == rate.Inf || l <= 0:
		return "off"
	case l >= 1:
		return strconv.FormatFloat(float64(l), 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(float64(l)*60, 'f', -1, 64) + "/m"
}
