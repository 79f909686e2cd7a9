package oauthx

import (
	"github.com/grantd/grantd/internal/provider"
)

// Redacted replaces a secret in messages.
const Redacted = provider.Redacted

// Redact returns err with every occurrence of the secrets, in the forms
// provider.Redactor knows, replaced by [REDACTED] (see
// provider.Redactor.Error).
func Redact(err error, secrets ...string) error {
	return provider.NewRedactor(secrets...).Error(err)
}

// redact is Session.Redact for a *provider.Error.
func (s *Session) redact(pe *provider.Error) *provider.Error { return s.red.ProviderError(pe) }
