package oauthx

import (
	"errors"
	"net/url"
	"strings"

	"github.com/grantd/grantd/internal/provider"
)

// Redacted replaces a secret in messages.
const Redacted = "[REDACTED]"

// Redact returns err with every occurrence of the secrets (raw or
// URL-encoded) replaced by [REDACTED]: in a *provider.Error the Message,
// the ProviderError values and the cause's text; any other error is
// wrapped. A cause whose text had to be changed is no longer unwrapped, so
// that the secret cannot be reached through errors.Unwrap either.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if errors.As(err, &pe) && pe == err {
		return RedactError(pe, secrets...)
	}
	return redactCause(err, secrets)
}

// RedactError is Redact for a *provider.Error; it returns a copy.
func RedactError(pe *provider.Error, secrets ...string) *provider.Error {
	if pe == nil {
		return nil
	}
	out := *pe
	out.Message = scrub(pe.Message, secrets)
	if pe.ProviderError != nil {
		out.ProviderError = scrubValue(pe.ProviderError, secrets).(map[string]any)
	}
	if pe.Err != nil {
		out.Err = redactCause(pe.Err, secrets)
	}
	return &out
}

func redactCause(err error, secrets []string) error {
	msg := err.Error()
	clean := scrub(msg, secrets)
	if clean == msg {
		return err
	}
	return &causeErr{msg: clean}
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, sec, Redacted)
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, Redacted)
		}
	}
	return s
}

func scrubValue(v any, secrets []string) any {
	switch t := v.(type) {
	case string:
		return scrub(t, secrets)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = scrubValue(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = scrubValue(e, secrets)
		}
		return out
	}
	return v
}

// redact is Session.Redact for a *provider.Error.
func (s *Session) redact(pe *provider.Error) *provider.Error { return RedactError(pe, s.secrets...) }
