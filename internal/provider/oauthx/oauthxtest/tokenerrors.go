package oauthxtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/providertest"
)

// TokenErrorCase is an answer of a token endpoint and how it must be
// classified.
type TokenErrorCase struct {
	Name   string
	Status int
	CType  string // Content-Type; none when empty
	Body   string
	Class  provider.Class
	// Msg is a substring the message must hold.
	Msg string
	// PE are entries ProviderError must hold; NotInPE keys it must not.
	PE      map[string]any
	NotInPE []string
	// NoSecret: the message must show provider.Redacted (the answer
	// echoed a secret).
	NoSecret bool
}

// RunTokenErrors serves each case's answer from a token endpoint and
// checks how redeem (a refresh at the endpoint's URL, through hc) reports
// it: the class, the message (which must name displayName or say
// "provider"), ProviderError, a single request (no AuthStyle probing) and
// no secret anywhere in the error.
func RunTokenErrors(t *testing.T, displayName string, secrets []string, redeem func(url string, hc *http.Client) error, cases []TokenErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if tc.CType != "" {
					w.Header().Set("Content-Type", tc.CType)
				}
				w.WriteHeader(tc.Status)
				_, _ = w.Write([]byte(tc.Body))
			}))
			defer srv.Close()
			err := redeem(srv.URL, srv.Client())
			pe := providertest.Class(t, err, tc.Class)
			if tc.Msg != "" && !strings.Contains(pe.Message, tc.Msg) {
				t.Errorf("message %q does not contain %q", pe.Message, tc.Msg)
			}
			if !strings.Contains(pe.Message, displayName) && !strings.Contains(pe.Message, "provider") {
				t.Errorf("message %q names neither the provider nor 'provider'", pe.Message)
			}
			for k, want := range tc.PE {
				if got := pe.ProviderError[k]; got != want {
					t.Errorf("ProviderError[%q] = %#v, want %#v (all: %v)", k, got, want, pe.ProviderError)
				}
			}
			for _, k := range tc.NotInPE {
				if _, ok := pe.ProviderError[k]; ok {
					t.Errorf("ProviderError holds %q: %v", k, pe.ProviderError)
				}
			}
			if got := n.Load(); got != 1 {
				t.Errorf("token endpoint called %d times, want 1 (AuthStyle probing?)", got)
			}
			providertest.NoSecrets(t, err, secrets...)
			if tc.NoSecret && !strings.Contains(pe.Message, provider.Redacted) {
				t.Errorf("message %q: secrets were not replaced by %s", pe.Message, provider.Redacted)
			}
		})
	}
}
