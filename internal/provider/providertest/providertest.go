// Package providertest holds test helpers for every provider package:
// checking an error's class and that no secret leaked into it. (The
// sandbox conformance suite of the OAuth providers is oauthx/oauthxtest.)
package providertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/provider"
)

// Class fails the test unless err is a *provider.Error of class want, and
// returns it.
func Class(t testing.TB, err error, want provider.Class) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	if pe.Class != want {
		t.Fatalf("class = %s, want %s (error: %v, provider_error: %v)", pe.Class, want, err, pe.ProviderError)
	}
	return pe
}

// NoSecrets fails the test when a secret (raw or URL-encoded) appears in
// err's text, in the text of any error of its chain, or in its
// ProviderError.
func NoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	var texts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		texts = append(texts, pe.Message, fmt.Sprintf("%v", pe.ProviderError))
		b, _ := json.Marshal(pe.ProviderError)
		texts = append(texts, string(b))
	}
	for _, sec := range secrets {
		if sec == "" {
			t.Fatalf("NoSecrets: empty secret")
		}
		for _, txt := range texts {
			if strings.Contains(txt, sec) || strings.Contains(txt, url.QueryEscape(sec)) {
				t.Errorf("secret %q leaked in %q", sec, txt)
			}
		}
	}
}
