package provider

import (
	"fmt"
	"slices"
)

// Registry is the set of providers a grantd serves, by name, in the order
// they were registered (the order in which they are listed to people).
// internal/providers builds it from the configuration; the services
// (grant, connector, refresh) ask it what a provider is and what it can
// do instead of keeping lists of their own. A nil *Registry has no
// providers. It is not safe to Register while others read it.
type Registry struct {
	names []string
	by    map[string]Provider
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{by: map[string]Provider{}} }

// Register adds the provider name. p is nil for a provider an application
// may keep a connector for but whose accounts grantd cannot authenticate
// (yet). Registering a name twice panics: it is a programming error.
func (r *Registry) Register(name string, p Provider) {
	if name == "" || slices.Contains(r.names, name) {
		panic(fmt.Sprintf("provider: %q registered twice or without a name", name))
	}
	r.names = append(r.names, name)
	r.by[name] = p
}

// Names lists every registered provider (those without accounts too), in
// registration order.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.names)
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool { return r != nil && slices.Contains(r.names, name) }

// Get returns the provider name, or nil when it is not registered or
// authenticates no accounts.
func (r *Registry) Get(name string) Provider {
	if r == nil {
		return nil
	}
	return r.by[name]
}

// Authenticating lists, sorted, the registered providers that
// authenticate accounts (those Get returns non-nil for).
func (r *Registry) Authenticating() []string {
	var out []string
	for _, n := range r.Names() {
		if r.by[n] != nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Capable returns the registered providers that implement the capability
// T (Refresher, Rechecker, …), by name.
func Capable[T any](r *Registry) map[string]T {
	out := map[string]T{}
	for _, n := range r.Names() {
		if c, ok := r.by[n].(T); ok {
			out[n] = c
		}
	}
	return out
}

// As returns the provider name as its capability T, if it has it.
func As[T any](r *Registry, name string) (T, bool) {
	c, ok := r.Get(name).(T)
	return c, ok
}

// NamesOf lists the registered providers that implement the capability T,
// in the registry's order.
func NamesOf[T any](r *Registry) []string {
	var out []string
	for _, n := range r.Names() {
		if _, ok := r.by[n].(T); ok {
			out = append(out, n)
		}
	}
	return out
}

// Implements reports whether the provider name implements the capability
// T.
func Implements[T any](r *Registry, name string) bool {
	_, ok := r.Get(name).(T)
	return ok
}
