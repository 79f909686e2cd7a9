package store

import (
	"context"
	"errors"
	"time"
)

// DefaultTimeout is the deadline of one store call when store.timeout is
// not set.
const DefaultTimeout = 5 * time.Second

// WithTimeout returns s with a deadline of d on every call (d <= 0 returns
// s unchanged): a database that hangs (a frozen server, a black-holed
// network) makes a call fail after d, with ErrUnavailable, instead of
// holding the request as long as the database does. A call that ends
// with an error because its deadline passed is reported as ErrUnavailable
// whatever the driver said; a call that succeeded is reported as such even
// when it took longer (its write is committed).
//
// RewrapSecrets, which walks the whole database, has no deadline of its
// own (it runs under its caller's context). Update closures run inside
// the call, under its deadline: they must not wait on anything slow.
func WithTimeout(s Store, d time.Duration) Store {
	if d <= 0 {
		return s
	}
	return &timeoutStore{s: s, d: d}
}

// timeoutStore implements every method of Store itself (no embedding): a
// method added to Store must be added here too, with its deadline, or
// nothing compiles.
type timeoutStore struct {
	s Store
	d time.Duration
}

// Unwrap returns the decorated store (for the conformance suite, which
// also checks methods a backend has beyond Store: query plans, seeding).
func (t *timeoutStore) Unwrap() Store { return t.s }

// call runs f under the deadline and classifies its error.
func (t *timeoutStore) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.check(ctx, cctx, op, f(cctx))
}

// check reports err as ErrUnavailable when the call's own deadline (not
// the caller's context) ended it.
func (t *timeoutStore) check(parent, ctx context.Context, op string, err error) error {
	if err == nil || parent.Err() != nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	for _, e := range []error{ErrNotFound, ErrAlreadyExists, ErrInvalid, ErrClientGone, ErrConflict, ErrUnavailable} {
		if errors.Is(err, e) {
			return err
		}
	}
	return Unavailable(op+": no answer within store.timeout ("+t.d.String()+")", err)
}

func do0(t *timeoutStore, ctx context.Context, op string, f func(ctx context.Context) error) error {
	return t.call(ctx, op, f)
}

func do1[T any](t *timeoutStore, ctx context.Context, op string, f func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := t.call(ctx, op, func(ctx context.Context) error {
		var err error
		v, err = f(ctx)
		return err
	})
	return v, err
}

func (t *timeoutStore) CreateApplication(ctx context.Context, a Application) error {
	return do0(t, ctx, "create application", func(ctx context.Context) error { return t.s.CreateApplication(ctx, a) })
}

func (t *timeoutStore) GetApplication(ctx context.Context, id string) (Application, error) {
	return do1(t, ctx, "get application", func(ctx context.Context) (Application, error) { return t.s.GetApplication(ctx, id) })
}

func (t *timeoutStore) ListApplications(ctx context.Context) ([]Application, error) {
	return do1(t, ctx, "list applications", t.s.ListApplications)
}

func (t *timeoutStore) UpdateApplication(ctx context.Context, id string, update func(old Application) (Application, error)) (Application, error) {
	return do1(t, ctx, "update application", func(ctx context.Context) (Application, error) { return t.s.UpdateApplication(ctx, id, update) })
}

func (t *timeoutStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	return do0(t, ctx, "create API key", func(ctx context.Context) error { return t.s.CreateAPIKey(ctx, k) })
}

func (t *timeoutStore) GetAPIKeyAuth(ctx context.Context, hash []byte) (APIKey, Application, int64, error) {
	var (
		a Application
		v int64
	)
	k, err := do1(t, ctx, "get API key", func(ctx context.Context) (APIKey, error) {
		var (
			k   APIKey
			err error
		)
		k, a, v, err = t.s.GetAPIKeyAuth(ctx, hash)
		return k, err
	})
	return k, a, v, err
}

func (t *timeoutStore) GetConfigVersion(ctx context.Context, appID string) (int64, error) {
	return do1(t, ctx, "get configuration version", func(ctx context.Context) (int64, error) { return t.s.GetConfigVersion(ctx, appID) })
}

func (t *timeoutStore) GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	return do1(t, ctx, "get API key", func(ctx context.Context) (APIKey, error) { return t.s.GetAPIKeyByHash(ctx, hash) })
}

func (t *timeoutStore) ListAPIKeys(ctx context.Context, appID string) ([]APIKey, error) {
	return do1(t, ctx, "list API keys", func(ctx context.Context) ([]APIKey, error) { return t.s.ListAPIKeys(ctx, appID) })
}

func (t *timeoutStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return do0(t, ctx, "revoke API key", func(ctx context.Context) error { return t.s.RevokeAPIKey(ctx, id, at) })
}

func (t *timeoutStore) CreateConnector(ctx context.Context, c Connector) error {
	return do0(t, ctx, "create connector", func(ctx context.Context) error { return t.s.CreateConnector(ctx, c) })
}

func (t *timeoutStore) GetConnector(ctx context.Context, appID, provider string) (Connector, error) {
	return do1(t, ctx, "get connector", func(ctx context.Context) (Connector, error) { return t.s.GetConnector(ctx, appID, provider) })
}

func (t *timeoutStore) ListConnectors(ctx context.Context, appID string, opts ListOptions) ([]Connector, error) {
	return do1(t, ctx, "list connectors", func(ctx context.Context) ([]Connector, error) { return t.s.ListConnectors(ctx, appID, opts) })
}

func (t *timeoutStore) UpdateConnector(ctx context.Context, appID, provider string, update func(old Connector) (Connector, error)) (Connector, error) {
	return do1(t, ctx, "update connector", func(ctx context.Context) (Connector, error) {
		return t.s.UpdateConnector(ctx, appID, provider, update)
	})
}

func (t *timeoutStore) DeleteConnector(ctx context.Context, appID, provider string) error {
	return do0(t, ctx, "delete connector", func(ctx context.Context) error { return t.s.DeleteConnector(ctx, appID, provider) })
}

func (t *timeoutStore) CreateCredential(ctx context.Context, c Credential) error {
	return do0(t, ctx, "create credential", func(ctx context.Context) error { return t.s.CreateCredential(ctx, c) })
}

func (t *timeoutStore) GetCredential(ctx context.Context, appID, id string) (Credential, error) {
	return do1(t, ctx, "get credential", func(ctx context.Context) (Credential, error) { return t.s.GetCredential(ctx, appID, id) })
}

func (t *timeoutStore) ListCredentials(ctx context.Context, appID, provider string, opts ListOptions) ([]Credential, error) {
	return do1(t, ctx, "list credentials", func(ctx context.Context) ([]Credential, error) {
		return t.s.ListCredentials(ctx, appID, provider, opts)
	})
}

func (t *timeoutStore) UpdateCredential(ctx context.Context, appID, id string, update func(old Credential) (Credential, error)) (Credential, error) {
	return do1(t, ctx, "update credential", func(ctx context.Context) (Credential, error) {
		return t.s.UpdateCredential(ctx, appID, id, update)
	})
}

func (t *timeoutStore) DeleteCredential(ctx context.Context, appID, id string) error {
	return do0(t, ctx, "delete credential", func(ctx context.Context) error { return t.s.DeleteCredential(ctx, appID, id) })
}

func (t *timeoutStore) UpsertGrant(ctx context.Context, g Grant, created []Event, reauth func(old Grant) (Grant, []Event, error)) (Grant, bool, error) {
	var isNew bool
	out, err := do1(t, ctx, "upsert grant", func(ctx context.Context) (Grant, error) {
		var (
			out Grant
			err error
		)
		out, isNew, err = t.s.UpsertGrant(ctx, g, created, reauth)
		return out, err
	})
	return out, isNew, err
}

func (t *timeoutStore) CreateGrant(ctx context.Context, g Grant, events ...Event) error {
	return do0(t, ctx, "create grant", func(ctx context.Context) error { return t.s.CreateGrant(ctx, g, events...) })
}

func (t *timeoutStore) GetGrant(ctx context.Context, appID, id string) (Grant, error) {
	return do1(t, ctx, "get grant", func(ctx context.Context) (Grant, error) { return t.s.GetGrant(ctx, appID, id) })
}

func (t *timeoutStore) GetGrantByEmail(ctx context.Context, appID, email string) (Grant, error) {
	return do1(t, ctx, "get grant by email", func(ctx context.Context) (Grant, error) { return t.s.GetGrantByEmail(ctx, appID, email) })
}

func (t *timeoutStore) ListGrants(ctx context.Context, appID string, f GrantFilter) ([]Grant, error) {
	return do1(t, ctx, "list grants", func(ctx context.Context) ([]Grant, error) { return t.s.ListGrants(ctx, appID, f) })
}

func (t *timeoutStore) UpdateGrant(ctx context.Context, appID, id string, update func(old Grant) (Grant, []Event, error)) (Grant, error) {
	return do1(t, ctx, "update grant", func(ctx context.Context) (Grant, error) { return t.s.UpdateGrant(ctx, appID, id, update) })
}

func (t *timeoutStore) DeleteGrant(ctx context.Context, appID, id string, events ...Event) error {
	return do0(t, ctx, "delete grant", func(ctx context.Context) error { return t.s.DeleteGrant(ctx, appID, id, events...) })
}

func (t *timeoutStore) ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]Grant, error) {
	return do1(t, ctx, "claim due grants", func(ctx context.Context) ([]Grant, error) {
		return t.s.ClaimDueGrants(ctx, now, owner, lease, limit)
	})
}

func (t *timeoutStore) ClaimDueGrantsOf(ctx context.Context, now time.Time, owner string, lease time.Duration, provider string, limit int) ([]Grant, error) {
	return do1(t, ctx, "claim due grants", func(ctx context.Context) ([]Grant, error) {
		return t.s.ClaimDueGrantsOf(ctx, now, owner, lease, provider, limit)
	})
}

func (t *timeoutStore) ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (Grant, bool, error) {
	var held bool
	g, err := do1(t, ctx, "claim grant", func(ctx context.Context) (Grant, error) {
		g, h, err := t.s.ClaimGrant(ctx, appID, id, owner, lease, now)
		held = h
		return g, err
	})
	return g, held, err
}

func (t *timeoutStore) ReleaseGrant(ctx context.Context, appID, id, owner string) error {
	return do0(t, ctx, "release grant", func(ctx context.Context) error { return t.s.ReleaseGrant(ctx, appID, id, owner) })
}

func (t *timeoutStore) ExtendLapsedLeases(ctx context.Context, now time.Time, lease time.Duration) (int, error) {
	return do1(t, ctx, "extend lapsed leases", func(ctx context.Context) (int, error) { return t.s.ExtendLapsedLeases(ctx, now, lease) })
}

func (t *timeoutStore) CountDueGrants(ctx context.Context, now time.Time) (int, error) {
	return do1(t, ctx, "count due grants", func(ctx context.Context) (int, error) { return t.s.CountDueGrants(ctx, now) })
}

func (t *timeoutStore) CreateCode(ctx context.Context, c Code) error {
	return do0(t, ctx, "create code", func(ctx context.Context) error { return t.s.CreateCode(ctx, c) })
}

func (t *timeoutStore) ConsumeCode(ctx context.Context, hash string, now time.Time) (Code, error) {
	return do1(t, ctx, "consume code", func(ctx context.Context) (Code, error) { return t.s.ConsumeCode(ctx, hash, now) })
}

func (t *timeoutStore) DeleteExpiredCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	return do1(t, ctx, "delete expired codes", func(ctx context.Context) (int, error) { return t.s.DeleteExpiredCodes(ctx, now, limit) })
}

func (t *timeoutStore) DeleteStaleTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	return do1(t, ctx, "delete stale tokens", func(ctx context.Context) (int, error) { return t.s.DeleteStaleTokens(ctx, before, limit) })
}

func (t *timeoutStore) CreateWebhook(ctx context.Context, w Webhook) error {
	return do0(t, ctx, "create webhook", func(ctx context.Context) error { return t.s.CreateWebhook(ctx, w) })
}

func (t *timeoutStore) GetWebhook(ctx context.Context, appID, id string) (Webhook, error) {
	return do1(t, ctx, "get webhook", func(ctx context.Context) (Webhook, error) { return t.s.GetWebhook(ctx, appID, id) })
}

func (t *timeoutStore) ListWebhooks(ctx context.Context, appID string) ([]Webhook, error) {
	return do1(t, ctx, "list webhooks", func(ctx context.Context) ([]Webhook, error) { return t.s.ListWebhooks(ctx, appID) })
}

func (t *timeoutStore) UpdateWebhook(ctx context.Context, appID, id string, update func(old Webhook) (Webhook, error)) (Webhook, error) {
	return do1(t, ctx, "update webhook", func(ctx context.Context) (Webhook, error) { return t.s.UpdateWebhook(ctx, appID, id, update) })
}

func (t *timeoutStore) DeleteWebhook(ctx context.Context, appID, id string) error {
	return do0(t, ctx, "delete webhook", func(ctx context.Context) error { return t.s.DeleteWebhook(ctx, appID, id) })
}

func (t *timeoutStore) RelayEvents(ctx context.Context, limit int, route func(ev Event, hooks []Webhook) []string) (int, error) {
	return do1(t, ctx, "relay events", func(ctx context.Context) (int, error) { return t.s.RelayEvents(ctx, limit, route) })
}

func (t *timeoutStore) ClaimDeliveries(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]Delivery, error) {
	return do1(t, ctx, "claim deliveries", func(ctx context.Context) ([]Delivery, error) {
		return t.s.ClaimDeliveries(ctx, now, owner, lease, limit)
	})
}

func (t *timeoutStore) FinishDeliveries(ctx context.Context, owner string, results []DeliveryResult, update func(old Webhook, rs []DeliveryResult) (Webhook, QueueAction)) error {
	return do0(t, ctx, "finish deliveries", func(ctx context.Context) error { return t.s.FinishDeliveries(ctx, owner, results, update) })
}

func (t *timeoutStore) DeliveryStats(ctx context.Context) (DeliveryStats, error) {
	return do1(t, ctx, "delivery stats", t.s.DeliveryStats)
}

func (t *timeoutStore) ListDeliveries(ctx context.Context, webhookID string) ([]Delivery, error) {
	return do1(t, ctx, "list deliveries", func(ctx context.Context) ([]Delivery, error) { return t.s.ListDeliveries(ctx, webhookID) })
}

func (t *timeoutStore) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]Event, error) {
	return do1(t, ctx, "list events", func(ctx context.Context) ([]Event, error) { return t.s.ListEvents(ctx, afterSeq, limit) })
}

func (t *timeoutStore) CreateRedirectURI(ctx context.Context, u RedirectURI) error {
	return do0(t, ctx, "create redirect URI", func(ctx context.Context) error { return t.s.CreateRedirectURI(ctx, u) })
}

func (t *timeoutStore) GetRedirectURI(ctx context.Context, appID, id string) (RedirectURI, error) {
	return do1(t, ctx, "get redirect URI", func(ctx context.Context) (RedirectURI, error) { return t.s.GetRedirectURI(ctx, appID, id) })
}

func (t *timeoutStore) ListRedirectURIs(ctx context.Context, appID string) ([]RedirectURI, error) {
	return do1(t, ctx, "list redirect URIs", func(ctx context.Context) ([]RedirectURI, error) { return t.s.ListRedirectURIs(ctx, appID) })
}

func (t *timeoutStore) UpdateRedirectURI(ctx context.Context, appID, id string, update func(old RedirectURI) (RedirectURI, error)) (RedirectURI, error) {
	return do1(t, ctx, "update redirect URI", func(ctx context.Context) (RedirectURI, error) {
		return t.s.UpdateRedirectURI(ctx, appID, id, update)
	})
}

func (t *timeoutStore) DeleteRedirectURI(ctx context.Context, appID, id string) error {
	return do0(t, ctx, "delete redirect URI", func(ctx context.Context) error { return t.s.DeleteRedirectURI(ctx, appID, id) })
}

func (t *timeoutStore) CreateDomain(ctx context.Context, d Domain) error {
	return do0(t, ctx, "create domain", func(ctx context.Context) error { return t.s.CreateDomain(ctx, d) })
}

func (t *timeoutStore) GetDomain(ctx context.Context, appID, id string) (Domain, error) {
	return do1(t, ctx, "get domain", func(ctx context.Context) (Domain, error) { return t.s.GetDomain(ctx, appID, id) })
}

func (t *timeoutStore) GetDomainByAddress(ctx context.Context, appID, address string) (Domain, error) {
	return do1(t, ctx, "get domain by address", func(ctx context.Context) (Domain, error) { return t.s.GetDomainByAddress(ctx, appID, address) })
}

func (t *timeoutStore) ListDomains(ctx context.Context, appID, after string, limit int) ([]Domain, error) {
	return do1(t, ctx, "list domains", func(ctx context.Context) ([]Domain, error) { return t.s.ListDomains(ctx, appID, after, limit) })
}

func (t *timeoutStore) UpdateDomain(ctx context.Context, appID, id string, update func(old Domain) (Domain, error)) (Domain, error) {
	return do1(t, ctx, "update domain", func(ctx context.Context) (Domain, error) { return t.s.UpdateDomain(ctx, appID, id, update) })
}

func (t *timeoutStore) DeleteDomain(ctx context.Context, appID, id string) error {
	return do0(t, ctx, "delete domain", func(ctx context.Context) error { return t.s.DeleteDomain(ctx, appID, id) })
}

func (t *timeoutStore) CreateTokens(ctx context.Context, ts ...IssuedToken) error {
	return do0(t, ctx, "create tokens", func(ctx context.Context) error { return t.s.CreateTokens(ctx, ts...) })
}

func (t *timeoutStore) GetToken(ctx context.Context, hash []byte) (IssuedToken, error) {
	return do1(t, ctx, "get token", func(ctx context.Context) (IssuedToken, error) { return t.s.GetToken(ctx, hash) })
}

func (t *timeoutStore) UseRefreshToken(ctx context.Context, hash []byte, now time.Time, next func(old IssuedToken) ([]IssuedToken, error)) (IssuedToken, error) {
	return do1(t, ctx, "use refresh token", func(ctx context.Context) (IssuedToken, error) {
		return t.s.UseRefreshToken(ctx, hash, now, next)
	})
}

func (t *timeoutStore) RevokeTokenFamily(ctx context.Context, family string, at time.Time) (int, error) {
	return do1(t, ctx, "revoke token family", func(ctx context.Context) (int, error) { return t.s.RevokeTokenFamily(ctx, family, at) })
}

func (t *timeoutStore) CreateImportJob(ctx context.Context, j ImportJob) error {
	return do0(t, ctx, "create import job", func(ctx context.Context) error { return t.s.CreateImportJob(ctx, j) })
}

func (t *timeoutStore) AddImportLines(ctx context.Context, jobID string, lines []ImportLine) error {
	return do0(t, ctx, "add import lines", func(ctx context.Context) error { return t.s.AddImportLines(ctx, jobID, lines) })
}

func (t *timeoutStore) GetImportJob(ctx context.Context, appID, id string) (ImportJob, error) {
	return do1(t, ctx, "get import job", func(ctx context.Context) (ImportJob, error) { return t.s.GetImportJob(ctx, appID, id) })
}

func (t *timeoutStore) ListImportJobs(ctx context.Context, appID string, opts ListOptions) ([]ImportJob, error) {
	return do1(t, ctx, "list import jobs", func(ctx context.Context) ([]ImportJob, error) { return t.s.ListImportJobs(ctx, appID, opts) })
}

func (t *timeoutStore) UpdateImportJob(ctx context.Context, appID, id string, update func(old ImportJob) (ImportJob, error)) (ImportJob, error) {
	return do1(t, ctx, "update import job", func(ctx context.Context) (ImportJob, error) { return t.s.UpdateImportJob(ctx, appID, id, update) })
}

func (t *timeoutStore) DeleteImportJob(ctx context.Context, appID, id string) error {
	return do0(t, ctx, "delete import job", func(ctx context.Context) error { return t.s.DeleteImportJob(ctx, appID, id) })
}

func (t *timeoutStore) ClaimImportJob(ctx context.Context, now time.Time, owner string, lease time.Duration) (ImportJob, bool, error) {
	var ok bool
	j, err := do1(t, ctx, "claim import job", func(ctx context.Context) (ImportJob, error) {
		j, claimed, err := t.s.ClaimImportJob(ctx, now, owner, lease)
		ok = claimed
		return j, err
	})
	return j, ok, err
}

func (t *timeoutStore) RenewImportJob(ctx context.Context, id, owner string, lease time.Duration, now time.Time) (ImportJob, error) {
	return do1(t, ctx, "renew import job", func(ctx context.Context) (ImportJob, error) { return t.s.RenewImportJob(ctx, id, owner, lease, now) })
}

func (t *timeoutStore) PendingImportLines(ctx context.Context, jobID string, after, limit int) ([]ImportLine, error) {
	return do1(t, ctx, "pending import lines", func(ctx context.Context) ([]ImportLine, error) {
		return t.s.PendingImportLines(ctx, jobID, after, limit)
	})
}

func (t *timeoutStore) MarkImportLineSending(ctx context.Context, jobID, owner string, line int) error {
	return do0(t, ctx, "mark import line", func(ctx context.Context) error { return t.s.MarkImportLineSending(ctx, jobID, owner, line) })
}

func (t *timeoutStore) RecordImportOutcome(ctx context.Context, jobID, owner string, o ImportOutcome) (bool, error) {
	return do1(t, ctx, "record import outcome", func(ctx context.Context) (bool, error) { return t.s.RecordImportOutcome(ctx, jobID, owner, o) })
}

func (t *timeoutStore) ImportResults(ctx context.Context, jobID string, after, limit int) ([]ImportLine, error) {
	return do1(t, ctx, "import results", func(ctx context.Context) ([]ImportLine, error) { return t.s.ImportResults(ctx, jobID, after, limit) })
}

func (t *timeoutStore) DropImportInput(ctx context.Context, jobID string) (int, error) {
	return do1(t, ctx, "drop import input", func(ctx context.Context) (int, error) { return t.s.DropImportInput(ctx, jobID) })
}

func (t *timeoutStore) DeleteStaleImportUploads(ctx context.Context, now time.Time) (int, error) {
	return do1(t, ctx, "delete stale import uploads", func(ctx context.Context) (int, error) { return t.s.DeleteStaleImportUploads(ctx, now) })
}

// RewrapSecrets runs without a deadline of its own (a walk of the whole
// database); see WithTimeout.
func (t *timeoutStore) RewrapSecrets(ctx context.Context, batchSize int, rewrap SecretRewrapper) (int, error) {
	return t.s.RewrapSecrets(ctx, batchSize, rewrap)
}

func (t *timeoutStore) KeyringCheck(ctx context.Context, sealed []byte) ([]byte, error) {
	return do1(t, ctx, "keyring check", func(ctx context.Context) ([]byte, error) { return t.s.KeyringCheck(ctx, sealed) })
}

func (t *timeoutStore) Ping(ctx context.Context) error {
	return do0(t, ctx, "ping", t.s.Ping)
}

func (t *timeoutStore) Close() error { return t.s.Close() }

func (t *timeoutStore) CreateSigningKey(ctx context.Context, k SigningKey) error {
	return do0(t, ctx, "create signing key", func(ctx context.Context) error { return t.s.CreateSigningKey(ctx, k) })
}

func (t *timeoutStore) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	return do1(t, ctx, "list signing keys", func(ctx context.Context) ([]SigningKey, error) { return t.s.ListSigningKeys(ctx) })
}

func (t *timeoutStore) DeleteSigningKey(ctx context.Context, id string) error {
	return do0(t, ctx, "delete signing key", func(ctx context.Context) error { return t.s.DeleteSigningKey(ctx, id) })
}
