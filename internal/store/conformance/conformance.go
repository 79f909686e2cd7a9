// Package conformance is the test suite every store.Store backend passes.
// A backend's tests call Run with a constructor that returns a new, empty
// store (and closes it with t.Cleanup); its benchmarks call Bench.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Run runs the conformance suite. newStore must return a new, empty store;
// every subtest gets its own and subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Applications", testApplications},
		{"APIKeys", testAPIKeys},
		{"ConfigVersion", testConfigVersion},
		{"Connectors", testConnectors},
		{"ConnectorPaging", testConnectorPaging},
		{"Credentials", testCredentials},
		{"CredentialPaging", testCredentialPaging},
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantEmailUniqueness", testGrantEmailUniqueness},
		{"GrantUpdate", testGrantUpdate},
		{"GrantUpsert", testGrantUpsert},
		{"GrantUpdateClosureError", testGrantUpdateClosureError},
		{"GrantConcurrentUpdates", testGrantConcurrentUpdates},
		{"GrantDelete", testGrantDelete},
		{"ListGrantsFilters", testListGrantsFilters},
		{"ListGrantsOrderAndPaging", testListGrantsOrderAndPaging},
		{"ListGrantsNoSecrets", testListGrantsNoSecrets},
		{"ListGrantsKeyset", testListGrantsKeyset},
		{"ListGrantsPlans", testListGrantsPlans},
		{"TenantIsolation", testTenantIsolation},
		{"Events", testEvents},
		{"EventsNotWrittenOnFailure", testEventsNotWrittenOnFailure},
		{"Codes", testCodes},
		{"CodesConcurrentConsume", testCodesConcurrentConsume},
		{"CodesDeleteExpired", testCodesDeleteExpired},
		{"RedirectURIs", testRedirectURIs},
		{"Domains", testDomains},
		{"IssuedTokens", testIssuedTokens},
		{"IssuedTokensConcurrentRefresh", testIssuedTokensConcurrentRefresh},
		{"IssuedTokensDeleteStale", testIssuedTokensDeleteStale},
		{"IssuedTokensDeleteStalePlan", testIssuedTokensDeleteStalePlan},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysConcurrentCreate", testSigningKeysConcurrentCreate},
		{"Webhooks", testWebhooks},
		{"DeliveryRelay", testDeliveryRelay},
		{"DeliveryChains", testDeliveryChains},
		{"DeliveryFinish", testDeliveryFinish},
		{"DeliveryRetryNow", testDeliveryRetryNow},
		{"DeliveryClaimConcurrent", testDeliveryClaimConcurrent},
		{"RewrapSecrets", testRewrapSecrets},
		{"RewrapSecretsConcurrentChange", testRewrapSecretsConcurrentChange},
		{"ClaimDueGrants", testClaimDueGrants},
		{"ClaimDueGrantsConcurrent", testClaimDueGrantsConcurrent},
		{"ClaimDueGrantsOf", testClaimDueGrantsOf},
		{"ClaimDueGrantsPlan", testClaimDueGrantsPlan},
		{"ClaimGrant", testClaimGrant},
		{"ExtendLapsedLeases", testExtendLapsedLeases},
		{"KeyringCheck", testKeyringCheck},
		{"GrantRequireClient", testGrantRequireClient},
		{"ImportJobs", testImportJobs},
		{"ImportClaim", testImportClaim},
		{"ImportOutcomes", testImportOutcomes},
		{"ImportConcurrent", testImportConcurrent},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// t0 has nanoseconds and a non-UTC zone on purpose: stores keep UTC µs.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 2*3600))

// us normalises t as every store does.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// mustEqual fails the test when got and want differ (reflect.DeepEqual).
func mustEqual[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func newApp(t testing.TB, s store.Store) string {
	t.Helper()
	id := newID("app")
	must(t, "CreateApplication", s.CreateApplication(context.Background(), store.Application{
		ID: id, Name: "app " + id, CreatedAt: t0, UpdatedAt: t0,
	}))
	return id
}

func newConnector(t testing.TB, s store.Store, appID, provider string) {
	t.Helper()
	must(t, "CreateConnector", s.CreateConnector(context.Background(), store.Connector{
		AppID: appID, Provider: provider, Name: provider, CreatedAt: t0, UpdatedAt: t0,
	}))
}

func grant(appID, email string) store.Grant {
	return store.Grant{
		ID: newID("grant"), AppID: appID, Provider: "google", Email: email,
		Status: store.GrantValid, CreatedAt: t0, UpdatedAt: t0,
	}
}

func newGrant(t testing.TB, s store.Store, appID, email string) store.Grant {
	t.Helper()
	g := grant(appID, email)
	must(t, "CreateGrant", s.CreateGrant(context.Background(), g))
	return g
}

func grantIDs(gs []store.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}
