package store

import "context"

// configVersionKey is the context key of WithConfigVersion.
type configVersionKey struct{}

type configVersion struct {
	appID   string
	version int64
}

// WithConfigVersion returns ctx carrying the configuration version of
// application appID as read at the start of a request (Store.GetConfigVersion),
// so that the caches checked later in the same request (connectors and
// credentials) need not read it again.
func WithConfigVersion(ctx context.Context, appID string, version int64) context.Context {
	return context.WithValue(ctx, configVersionKey{}, configVersion{appID, version})
}

// ConfigVersionFrom returns the configuration version of appID that ctx
// carries (WithConfigVersion), if any.
func ConfigVersionFrom(ctx context.Context, appID string) (int64, bool) {
	v, ok := ctx.Value(configVersionKey{}).(configVersion)
	if !ok || v.appID != appID {
		return 0, false
	}
	return v.version, true
}
