package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Secret rewrapping and the keyring check.

// rewrapV1 rewrites "v1:" blobs to "v2:" and leaves anything else alone.
func rewrapV1(b []byte) ([]byte, bool, error) {
	if len(b) == 0 {
		return nil, false, errors.New("rewrap called with an empty blob")
	}
	if len(b) > 3 && string(b[:3]) == "v1:" {
		return append([]byte("v2:"), b[3:]...), true, nil
	}
	return b, false, nil
}

func testRewrapSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	v1 := func(s string) []byte { return []byte("v1:" + s) }
	v2 := func(s string) []byte { return []byte("v2:" + s) }
	want := 0 // blobs under v1

	// Connectors: three with v1, one v2, one nil.
	for i, secret := range [][]byte{v1("c0"), v1("c1"), v2("c2"), nil, v1("c4")} {
		must(t, "CreateConnector", s.CreateConnector(ctx, store.Connector{AppID: app, Provider: fmt.Sprint("p", i), Secret: secret, CreatedAt: t0}))
	}
	want += 3
	// Credentials: two v1, one empty.
	for i, data := range [][]byte{v1("k0"), {}, v1("k2")} {
		must(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{ID: fmt.Sprintf("cr%d-%s", i, app), AppID: app, Provider: "p0", Name: fmt.Sprint(i), Data: data, CreatedAt: t0}))
	}
	want += 2
	// Grants: seven v1 (more than a batch), one v2, one nil.
	var grants []store.Grant
	for i := range 9 {
		g := grant(app, fmt.Sprintf("r%d@x.com", i))
		switch {
		case i < 7:
			g.Secrets = v1(fmt.Sprint("g", i))
		case i == 7:
			g.Secrets = v2("g7")
		}
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		grants = append(grants, g)
	}
	want += 7
	// Codes: one v1, one without data.
	now := time.Now()
	must(t, "CreateCode", s.CreateCode(ctx, store.Code{Hash: "c1-" + app, AppID: app, Data: v1("code"), ExpiresAt: now.Add(time.Hour)}))
	must(t, "CreateCode", s.CreateCode(ctx, store.Code{Hash: "c2-" + app, AppID: app, ExpiresAt: now.Add(time.Hour)}))
	want++
	// Webhooks: one v1, one v2.
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w1-" + app, AppID: app, Secret: v1("wh"), CreatedAt: t0}))
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w2-" + app, AppID: app, Secret: v2("wh2"), CreatedAt: t0}))
	want++
	// Import lines: three v1 (over two jobs), one v2, one without input.
	imp1, imp2 := importJob(app, store.ImportQueued, t0, nil), importJob(app, store.ImportQueued, t0, nil)
	must(t, "CreateImportJob", s.CreateImportJob(ctx, imp1))
	must(t, "CreateImportJob", s.CreateImportJob(ctx, imp2))
	must(t, "AddImportLines", s.AddImportLines(ctx, imp1.ID, []store.ImportLine{{Line: 1, Sealed: v1("l1")}, {Line: 2, Sealed: v2("l2")},
		{Line: 10, Sealed: v1("l10")}, {Line: 11, Outcome: "failed", Result: []byte(`{}`)}}))
	must(t, "AddImportLines", s.AddImportLines(ctx, imp2.ID, []store.ImportLine{{Line: 1, Sealed: v1("m1")}}))
	want += 3
	// Signing keys: one v1.
	must(t, "CreateSigningKey", s.CreateSigningKey(ctx, store.SigningKey{ID: "sk1", Seq: 1, Alg: "ES256", PrivateKey: v1("sk"), PublicKey: []byte("pub"), CreatedAt: t0}))
	want++

	n, err := s.RewrapSecrets(ctx, 2, rewrapV1)
	must(t, "RewrapSecrets", err)
	if n != want {
		t.Fatalf("RewrapSecrets rewrote %d blobs, want %d", n, want)
	}

	for i, secret := range [][]byte{v2("c0"), v2("c1"), v2("c2"), nil, v2("c4")} {
		c, err := s.GetConnector(ctx, app, fmt.Sprint("p", i))
		must(t, "GetConnector", err)
		mustEqual(t, "connector secret", c.Secret, secret)
	}
	for i, data := range [][]byte{v2("k0"), nil, v2("k2")} {
		c, err := s.GetCredential(ctx, app, fmt.Sprintf("cr%d-%s", i, app))
		must(t, "GetCredential", err)
		if string(c.Data) != string(data) {
			t.Fatalf("credential %d data = %q, want %q", i, c.Data, data)
		}
	}
	lines, err := s.PendingImportLines(ctx, imp1.ID, 0, 10)
	must(t, "PendingImportLines", err)
	mustEqual(t, "import lines rewrapped", lines, []store.ImportLine{{Line: 1, Sealed: v2("l1")}, {Line: 2, Sealed: v2("l2")}, {Line: 10, Sealed: v2("l10")}})
	for i, g := range grants {
		got, err := s.GetGrant(ctx, app, g.ID)
		must(t, "GetGrant", err)
		wantSecrets := []byte(nil)
		if i < 8 {
			wantSecrets = v2(fmt.Sprint("g", i))
		}
		mustEqual(t, fmt.Sprint("grant secrets ", i), got.Secrets, wantSecrets)
		if got.Version != 1 {
			t.Fatalf("rewrap changed the grant's version: %d", got.Version)
		}
	}
	code, err := s.ConsumeCode(ctx, "c1-"+app, now)
	must(t, "ConsumeCode", err)
	mustEqual(t, "code data", code.Data, v2("code"))
	wh, err := s.GetWebhook(ctx, app, "w1-"+app)
	must(t, "GetWebhook", err)
	mustEqual(t, "webhook secret", wh.Secret, v2("wh"))
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	if len(keys) != 1 || string(keys[0].PrivateKey) != "v2:sk" || string(keys[0].PublicKey) != "pub" {
		t.Fatalf("signing keys after rewrap: %+v", keys)
	}

	// A second pass finds nothing to do.
	n, err = s.RewrapSecrets(ctx, 3, rewrapV1)
	must(t, "RewrapSecrets again", err)
	if n != 0 {
		t.Fatalf("second RewrapSecrets rewrote %d blobs, want 0", n)
	}

	// A rewrap error stops the walk and is reported.
	must(t, "CreateWebhook", s.CreateWebhook(ctx, store.Webhook{ID: "w3-" + app, AppID: app, Secret: v1("w3"), CreatedAt: t0}))
	boom := errors.New("vault down")
	_, err = s.RewrapSecrets(ctx, 10, func([]byte) ([]byte, bool, error) { return nil, false, boom })
	mustIs(t, "RewrapSecrets with failing rewrapper", err, boom)
	wh, _ = s.GetWebhook(ctx, app, "w3-"+app)
	mustEqual(t, "webhook secret after failed rewrap", wh.Secret, v1("w3"))
}

func testRewrapSecretsConcurrentChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	a := grant(app, "a@x.com")
	a.Secrets = []byte("v1:a")
	b := grant(app, "b@x.com")
	b.Secrets = []byte("v1:b")
	must(t, "CreateGrant", s.CreateGrant(ctx, a))
	must(t, "CreateGrant", s.CreateGrant(ctx, b))

	// While a's blob is being rewrapped, an update stores a new secret for
	// a. The rewrap must not overwrite it.
	n, err := s.RewrapSecrets(ctx, 10, func(blob []byte) ([]byte, bool, error) {
		if string(blob) == "v1:a" {
			_, err := s.UpdateGrant(ctx, app, a.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
				old.Secrets = []byte("v2:fresh")
				return old, nil, nil
			})
			if err != nil {
				return nil, false, err
			}
		}
		return rewrapV1(blob)
	})
	must(t, "RewrapSecrets", err)
	if n != 1 {
		t.Fatalf("RewrapSecrets = %d, want 1 (the concurrently changed blob is skipped)", n)
	}
	got, _ := s.GetGrant(ctx, app, a.ID)
	mustEqual(t, "concurrently changed secret", string(got.Secrets), "v2:fresh")
	got, _ = s.GetGrant(ctx, app, b.ID)
	mustEqual(t, "other secret", string(got.Secrets), "v2:b")
}

// testKeyringCheck: the first value recorded stays, whoever asks later
// (concurrently too), and RewrapSecrets walks it first.
func testKeyringCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			var err error
			got[i], err = s.KeyringCheck(ctx, []byte(fmt.Sprintf("check-%d", i)))
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) || !bytes.HasPrefix(got[0], []byte("check-")) {
			t.Fatalf("concurrent first checks disagree: %q", got)
		}
	}
	again, err := s.KeyringCheck(ctx, []byte("later"))
	must(t, "KeyringCheck later", err)
	if !bytes.Equal(again, got[0]) {
		t.Errorf("a later KeyringCheck returned %q, want the first %q", again, got[0])
	}
	var first []byte
	_, err = s.RewrapSecrets(ctx, 1, func(b []byte) ([]byte, bool, error) {
		if first == nil {
			first = bytes.Clone(b)
		}
		return []byte("rewrapped"), true, nil
	})
	must(t, "RewrapSecrets", err)
	if !bytes.Equal(first, got[0]) {
		t.Errorf("the first blob RewrapSecrets walked is %q, want the keyring check", first)
	}
	after, err := s.KeyringCheck(ctx, []byte("x"))
	must(t, "KeyringCheck after rewrap", err)
	if string(after) != "rewrapped" {
		t.Errorf("the keyring check after RewrapSecrets is %q", after)
	}
}
