// Package store defines grantd's persistent model and the Store interface
// that every backend (internal/store/sqlite, internal/store/postgres)
// implements, both with the queries of internal/store/sqlstore. The
// conformance suite in internal/store/conformance runs the same tests
// against each backend.
//
// Rules every backend follows:
//   - Every record belongs to one application (the tenant). Methods that take
//     an appID never return or touch another application's records; a record
//     of another application is reported as ErrNotFound.
//   - Secret fields ([]byte named *Secret*, Data, Secrets) hold vault
//     ciphertext. The store never interprets them.
//   - Updates are passed as closures: the backend reads the current record,
//     calls the closure inside its own transaction (holding the row's write
//     lock), and writes the result. A closure error aborts the update and is
//     returned unchanged.
//   - Times are stored in UTC with microsecond precision.
//   - Unique violations are reported as ErrAlreadyExists, missing records as
//     ErrNotFound.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/fault"
)

// Errors reported by every backend. Callers test with errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrInvalid: a value the backend cannot hold (a NUL character in
	// PostgreSQL text, a time out of its range, a key too long for an
	// index). Callers should have refused it before.
	ErrInvalid = errors.New("store: value cannot be stored")
	// ErrClientGone: a write with Grant.RequireClient found its connector
	// or credential deleted.
	ErrClientGone = errors.New("store: the grant's connector or credential no longer exists")
	// ErrConflict is returned by update closures (and passed through by
	// the store) when a compare-and-swap precondition fails.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the database cannot serve the call now. It is
	// unreachable (refused, reset or closed connections, a server shutting
	// down), did not answer within the call's deadline (see WithTimeout),
	// is read-only, or is locked or out of resources. It is a
	// fault.Unavailable error: the API answers 503 with Retry-After, and
	// the caller may retry. A write that reports it may or may not have
	// been committed (the answer to a COMMIT can be what was lost); every
	// write of grantd can be retried.
	ErrUnavailable error = &fault.Error{Kind: fault.Unavailable,
		Message: "the database is unavailable (unreachable, not answering in time or read-only); try again shortly"}
)

// Unavailable wraps cause (a driver error) as ErrUnavailable for op; an
// error that is ErrUnavailable already is returned as it is.
func Unavailable(op string, cause error) error {
	if errors.Is(cause, ErrUnavailable) {
		return cause
	}
	return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, cause)
}

// Grant statuses.
const (
	GrantValid   = "valid"
	GrantInvalid = "invalid"
)

// Application is a tenant: it owns API keys, connectors, credentials,
// grants and webhooks.
type Application struct {
	ID             string
	Name           string
	OrganizationID string
	Region         string
	Environment    string
	// CallbackURIs is the list applications had before redirect URIs
	// (migration 0007 copied it into them); the API no longer reads it.
	CallbackURIs []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// APIKey authenticates requests as one application. Only a hash of the key
// is stored; the plaintext is shown once when the key is created.
type APIKey struct {
	ID        string
	AppID     string
	Name      string
	Hash      []byte // SHA-256 of the plaintext key
	Prefix    string // first characters of the key, for display
	Scopes    []string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is active
}

// Connector is an application's configuration for one provider. There is at
// most one connector per (application, provider).
type Connector struct {
	AppID              string
	Provider           string
	Name               string
	Settings           map[string]any // non-secret settings: client_id, tenant, topic_name…
	Secret             []byte         // vault ciphertext of the secret settings (client_secret)
	Scope              []string
	ActiveCredentialID string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Credential is a named secret bound to one connector of one application.
type Credential struct {
	ID        string
	AppID     string
	Provider  string
	Name      string // unique per (application, provider)
	Type      string // connector, adminconsent, serviceaccount
	Data      []byte // vault ciphertext of credential_data
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Grant is one authenticated account of one application. There is at most
// one grant per (application, lower-cased email).
type Grant struct {
	// RequireClient, on a grant passed to CreateGrant or returned by an
	// UpdateGrant closure, makes the write fail with ErrClientGone unless
	// the connector (AppID, Provider) exists, and the credential
	// CredentialID when set, checked inside the write's transaction (on
	// PostgreSQL their rows are locked FOR KEY SHARE, so a concurrent
	// deletion waits for the write and then sees the grant). Not stored;
	// never set on grants the store returns.
	RequireClient bool

	ID             string
	AppID          string
	Provider       string
	Email          string
	Name           string
	Status         string // GrantValid or GrantInvalid
	Scope          []string
	Settings       map[string]any // non-secret settings, safe to return
	Secrets        []byte         // vault ciphertext of the secret settings
	State          string
	UserAgent      string
	IP             string
	ProviderUserID string
	CredentialID   string
	AccountID      string
	WorkspaceID    string
	Blocked        bool
	// Version starts at 1 and is incremented by every UpdateGrant.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time

	// Refresh bookkeeping.
	AccessTokenExpiresAt time.Time // zero when unknown or not applicable
	NextRefreshAt        time.Time // zero when the grant needs no refresh
	LastRefreshAt        time.Time
	LastFailureAt        time.Time
	LastFailureClass     string
	LastFailureMessage   string

	// Refresh lease (internal/refresh). LeaseOwner holds the grant until
	// LeaseUntil; ClaimDueGrants and ClaimGrant set both without changing
	// Version. RefreshFailures counts consecutive transient refresh
	// failures (for backoff); a successful refresh resets it.
	LeaseOwner      string
	LeaseUntil      time.Time // zero when not leased
	RefreshFailures int
	// FailingSince is when the grant's current run of transient refresh
	// or re-check failures began; zero when the last one worked
	// (grant.recovered is judged by it).
	FailingSince time.Time
}

// Code is a one-time code (v2 native authentication and similar flows).
type Code struct {
	Hash      string // hash of the code; the plaintext is never stored
	AppID     string
	GrantID   string
	Data      []byte // vault ciphertext, optional
	ExpiresAt time.Time
	CreatedAt time.Time
}

// RedirectURI is a URI hosted OAuth may send an application's users back
// to (GET /v3/connect/auth redirect_uri), compared exactly. The URL is
// unique per application.
type RedirectURI struct {
	ID       string
	AppID    string
	URL      string
	Platform string         // web, desktop, js, ios, android
	Settings map[string]any // platform settings (package_name, …); never secret
	// CreatedAt orders an application's list.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Domain is a mail domain an application registered for its agent
// accounts (provider "nylas"; POST /v3/admin/domains). Address is the
// domain itself, lower-case, unique per application; Token is the value
// its ownership TXT record must carry (published in DNS: not a secret).
// A verification time is set while the last check found the record, a
// check time whenever a check got an answer.
type Domain struct {
	ID                  string
	AppID               string
	Name                string // a label for people
	Address             string
	Token               string
	MXHost              string // the host the MX record must name; "": any host
	OwnershipVerifiedAt time.Time
	OwnershipCheckedAt  time.Time
	MXVerifiedAt        time.Time
	MXCheckedAt         time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Verified reports whether both the ownership and the MX record of d
// were found by the last checks: agent grants may use it.
func (d Domain) Verified() bool { return !d.OwnershipVerifiedAt.IsZero() && !d.MXVerifiedAt.IsZero() }

// Kinds of IssuedToken.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// IssuedToken is an access or refresh token grantd issued for a grant
// (POST /v3/connect/token). Only a hash of the token is stored. The
// tokens of a grant are deleted with it.
type IssuedToken struct {
	Hash    []byte // SHA-256 of the token
	Kind    string // TokenAccess or TokenRefresh
	AppID   string // the application (OAuth client) it was issued to
	GrantID string
	// Family is shared by the tokens of one authorization and of the
	// refreshes that followed it; revocation and reuse detection act on
	// the whole family.
	Family    string
	Scope     []string
	ExpiresAt time.Time // zero: does not expire
	CreatedAt time.Time
	UsedAt    time.Time // refresh tokens: when it was redeemed (rotated away)
	RevokedAt time.Time
	// PKCEOnly: the family was started by a code exchange the client
	// proved with PKCE alone (no client_secret); its refresh tokens may
	// be redeemed without one.
	PKCEOnly bool
}

// SigningKey is a key grantd signs id_tokens with. Keys are numbered by
// Seq: the highest signs, the others are only published (JWKS) until
// they are deleted.
type SigningKey struct {
	ID         string // the JWS kid
	Seq        int64
	Alg        string // ES256
	PrivateKey []byte // PKCS #8, sealed by the vault
	PublicKey  []byte // PKIX DER
	CreatedAt  time.Time
}

// Webhook destination statuses (nylas-v3-api.md §8).
const (
	WebhookActive  = "active"
	WebhookFailing = "failing"
	WebhookFailed  = "failed"
	WebhookPaused  = "pause"
)

// Webhook is a destination for event notifications.
type Webhook struct {
	ID                 string
	AppID              string
	URL                string
	Description        string
	TriggerTypes       []string
	NotificationEmails []string
	Status             string
	Secret             []byte // vault ciphertext of the signing secret
	CreatedAt          time.Time
	UpdatedAt          time.Time
	StatusUpdatedAt    time.Time
	// CompressedDelivery: bodies are sent gzipped.
	CompressedDelivery bool

	// Delivery bookkeeping (internal/webhook), written by
	// FinishDeliveries; UpdateWebhook keeps what the closure returns.
	LastDeliveryAt      time.Time // last attempt's end; zero: none yet
	LastDeliveryStatus  string    // "200", "500", "timeout", …
	ConsecutiveFailures int
	// FailingSince is when the destination became failing (zero unless
	// failing or failed).
	FailingSince time.Time
	// The current failure-rate window: when it began, its attempts and
	// their failures.
	WindowStart    time.Time
	WindowAttempts int
	WindowFailures int
}

// Delivery is one event queued for one webhook destination: at least one
// attempt is made for it until it is delivered, dropped or given up.
// Deliveries of one (webhook, grant) chain are attempted in ID order, one
// at a time.
type Delivery struct {
	ID        int64 // assigned by the store, increasing
	WebhookID string
	AppID     string
	GrantID   string
	EventSeq  int64
	// Attempts made so far.
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time // when it was queued
	LastError     string
	LeaseOwner    string
	LeaseUntil    time.Time
	// Filled by ClaimDeliveries: the event and the destination as they
	// are when claimed.
	Event   Event
	Webhook Webhook
}

// DeliveryResult is the outcome of one attempt of a claimed delivery.
type DeliveryResult struct {
	ID        int64
	WebhookID string
	// Done removes the delivery (delivered, dropped or given up); else it
	// is retried at NextAttemptAt.
	Done          bool
	Failed        bool // the attempt failed (counts for the destination's status)
	Attempts      int
	NextAttemptAt time.Time
	Status        string // the attempt's status, e.g. "200" or "timeout"
	At            time.Time
}

// QueueAction is what FinishDeliveries does to a destination's other
// queued deliveries after its results.
type QueueAction int

const (
	// QueueKeep leaves them as they are.
	QueueKeep QueueAction = iota
	// QueueDrop removes them all (the destination failed).
	QueueDrop
	// QueueRetryNow makes those waiting for a later retry due now (the
	// destination answers again after failures: its backlog need not wait
	// out the backoff).
	QueueRetryNow
)

// DeliveryStats describes the delivery queue.
type DeliveryStats struct {
	Queued int
	// Oldest is the creation time of the oldest queued delivery's event
	// (zero when none is queued).
	Oldest time.Time
}

// Event is a row of the outbox. Events are written in the same transaction
// as the change that caused them; Seq orders them (globally increasing per
// backend, so also ordered per grant).
type Event struct {
	Seq       int64 // assigned by the store
	ID        string
	AppID     string
	Type      string // e.g. grant.created
	GrantID   string
	Payload   json.RawMessage
	CreatedAt time.Time
}

// ListOptions pages and orders a list.
type ListOptions struct {
	Limit  int    // 0 means no limit
	Offset int    // number of records to skip
	SortBy string // "created_at" (default) or "updated_at"
	Asc    bool   // ascending order; default is descending
}

// GrantFilter selects grants for ListGrants. Zero fields do not filter.
type GrantFilter struct {
	ListOptions
	Since       time.Time // created_at >= Since
	Before      time.Time // created_at <= Before
	Email       string    // case-insensitive exact match
	Status      string
	IP          string
	Provider    string
	AccountIDs  []string
	WorkspaceID string
	// CredentialID selects the grants made with that credential.
	CredentialID string
	// After, when its ID is set, starts the list after that grant in the
	// list's order (keyset paging): Offset then counts from there. At is
	// the grant's value of the sort column (CreatedAt or UpdatedAt).
	After GrantKey
	// WithSecrets also reads Secrets. Lists leave it nil otherwise: no
	// list shows it, and reading it is most of a row's bytes.
	WithSecrets bool
}

// GrantKey is a grant's place in a list: the value of the list's sort
// column and the grant's ID (the tiebreak).
type GrantKey struct {
	At time.Time
	ID string
}

// SecretRewrapper re-encrypts one ciphertext. It returns the new ciphertext
// and whether anything changed (false when the blob is already under the
// current key).
type SecretRewrapper func(ciphertext []byte) (out []byte, changed bool, err error)

// Store is the persistence interface of grantd.
type Store interface {
	// Applications.
	CreateApplication(ctx context.Context, a Application) error
	GetApplication(ctx context.Context, id string) (Application, error)
	ListApplications(ctx context.Context) ([]Application, error)
	UpdateApplication(ctx context.Context, id string, update func(old Application) (Application, error)) (Application, error)

	// API keys.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKeyByHash returns the key with this hash, revoked or not.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListAPIKeys(ctx context.Context, appID string) ([]APIKey, error)
	// RevokeAPIKey sets RevokedAt; revoking a revoked key keeps the first time.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// GetAPIKeyAuth returns the key with this hash (revoked or not), its
	// application and the application's configuration version, read
	// together (one statement: one snapshot).
	GetAPIKeyAuth(ctx context.Context, hash []byte) (APIKey, Application, int64, error)
	// GetConfigVersion returns the configuration version of an
	// application: it grows in the transaction of every change to the
	// application, its API keys, connectors and credentials
	// (UpdateApplication, CreateAPIKey, RevokeAPIKey, CreateConnector,
	// UpdateConnector, DeleteConnector, CreateCredential,
	// UpdateCredential, DeleteCredential), so that a copy of them read
	// after the version was read is current as long as the version is
	// unchanged. ErrNotFound when there is no such application.
	GetConfigVersion(ctx context.Context, appID string) (int64, error)

	// Connectors, keyed by (appID, provider).
	CreateConnector(ctx context.Context, c Connector) error
	GetConnector(ctx context.Context, appID, provider string) (Connector, error)
	ListConnectors(ctx context.Context, appID string, opts ListOptions) ([]Connector, error)
	UpdateConnector(ctx context.Context, appID, provider string, update func(old Connector) (Connector, error)) (Connector, error)
	// DeleteConnector deletes the connector and its credentials in one
	// transaction.
	DeleteConnector(ctx context.Context, appID, provider string) error

	// Credentials, keyed by (appID, id); provider scopes lists and lookups.
	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, appID, id string) (Credential, error)
	ListCredentials(ctx context.Context, appID, provider string, opts ListOptions) ([]Credential, error)
	UpdateCredential(ctx context.Context, appID, id string, update func(old Credential) (Credential, error)) (Credential, error)
	DeleteCredential(ctx context.Context, appID, id string) error

	// Grants. Events passed along are appended to the outbox in the same
	// transaction.
	CreateGrant(ctx context.Context, g Grant, events ...Event) error
	GetGrant(ctx context.Context, appID, id string) (Grant, error)
	GetGrantByEmail(ctx context.Context, appID, email string) (Grant, error)
	// ListGrants returns the grants of appID that f selects, in f's
	// order. Secrets is nil unless f.WithSecrets. Every filter answers
	// from an index that also gives the order (see migration 0008).
	ListGrants(ctx context.Context, appID string, f GrantFilter) ([]Grant, error)
	// UpdateGrant calls update with the current grant under the row's
	// write lock; the result is written with Version = old.Version+1 (the
	// closure cannot change ID, AppID, Version or CreatedAt), together with
	// the events the closure returns.
	UpdateGrant(ctx context.Context, appID, id string, update func(old Grant) (Grant, []Event, error)) (Grant, error)
	// UpsertGrant creates g with the events created, like CreateGrant,
	// unless g.AppID has a grant with g's email (in any case): then, in
	// the same transaction, it calls reauth with that grant under its
	// write lock and writes the result like UpdateGrant (same id, Version
	// = old.Version+1) with the events reauth returns. It returns the
	// grant as stored and whether it was created. One transaction either
	// way, and no failed insert: a re-authentication costs one write.
	UpsertGrant(ctx context.Context, g Grant, created []Event, reauth func(old Grant) (Grant, []Event, error)) (Grant, bool, error)
	DeleteGrant(ctx context.Context, appID, id string, events ...Event) error

	// Refresh scheduling. A grant is due when it is valid, NextRefreshAt is
	// set and not after now, and it is not leased (LeaseUntil is zero or
	// before now). Claims set LeaseOwner and LeaseUntil = now+lease and
	// change neither Version nor UpdatedAt.
	//
	// ClaimDueGrants leases up to limit due grants to owner, earliest
	// NextRefreshAt first, and returns them as leased. Concurrent callers
	// (on any node sharing the database) never receive the same grant
	// while its lease runs.
	ClaimDueGrants(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]Grant, error)
	// ClaimDueGrantsOf is ClaimDueGrants for the grants of one provider;
	// its cost does not depend on how many grants of other providers are
	// due.
	ClaimDueGrantsOf(ctx context.Context, now time.Time, owner string, lease time.Duration, provider string, limit int) ([]Grant, error)
	// ClaimGrant leases one grant to owner, whatever its status and
	// NextRefreshAt, unless another owner's lease runs past now. It returns
	// the grant (leased or not) and whether owner holds the lease;
	// ErrNotFound when the grant does not exist.
	ClaimGrant(ctx context.Context, appID, id, owner string, lease time.Duration, now time.Time) (Grant, bool, error)
	// ReleaseGrant clears the lease when owner holds it (a no-op
	// otherwise); Version is unchanged.
	ReleaseGrant(ctx context.Context, appID, id, owner string) error
	// CountDueGrants counts the valid grants whose NextRefreshAt is set and
	// not after now, leased or not.
	CountDueGrants(ctx context.Context, now time.Time) (int, error)
	// ExtendLapsedLeases sets LeaseUntil = now+lease on every grant whose
	// lease ran out (LeaseUntil before now) without being released
	// (LeaseOwner still set), keeping the owner, and returns how many. A
	// refresher calls it when it reaches the database again after an
	// outage (and at start-up): a grant leased before the outage may have
	// a provider answer held by its owner, or in a spool, not yet stored,
	// and must not be redeemed again before that answer is committed.
	ExtendLapsedLeases(ctx context.Context, now time.Time, lease time.Duration) (int, error)

	// One-time codes.
	CreateCode(ctx context.Context, c Code) error
	// ConsumeCode deletes the code and returns it, atomically: two
	// concurrent calls never both succeed. An expired code (ExpiresAt
	// before now) is deleted and reported as ErrNotFound.
	ConsumeCode(ctx context.Context, hash string, now time.Time) (Code, error)
	// DeleteExpiredCodes deletes up to limit codes that expired before
	// now (codes nobody consumed: abandoned sign-ins) and returns how
	// many it deleted.
	DeleteExpiredCodes(ctx context.Context, now time.Time, limit int) (int, error)

	// Redirect URIs, keyed by (appID, id), listed in creation order. A
	// second URL equal to one the application has is ErrAlreadyExists.
	CreateRedirectURI(ctx context.Context, u RedirectURI) error
	GetRedirectURI(ctx context.Context, appID, id string) (RedirectURI, error)
	ListRedirectURIs(ctx context.Context, appID string) ([]RedirectURI, error)
	UpdateRedirectURI(ctx context.Context, appID, id string, update func(old RedirectURI) (RedirectURI, error)) (RedirectURI, error)
	DeleteRedirectURI(ctx context.Context, appID, id string) error

	// Domains of agent accounts, keyed by (appID, id); a second domain
	// with an address the application has is ErrAlreadyExists.
	// ListDomains returns up to limit domains of appID with an id after
	// after ("": from the first), in id order.
	CreateDomain(ctx context.Context, d Domain) error
	GetDomain(ctx context.Context, appID, id string) (Domain, error)
	GetDomainByAddress(ctx context.Context, appID, address string) (Domain, error)
	ListDomains(ctx context.Context, appID, after string, limit int) ([]Domain, error)
	UpdateDomain(ctx context.Context, appID, id string, update func(old Domain) (Domain, error)) (Domain, error)
	DeleteDomain(ctx context.Context, appID, id string) error

	// Issued tokens. CreateTokens stores them in one transaction
	// (ErrNotFound when the grant does not exist).
	CreateTokens(ctx context.Context, ts ...IssuedToken) error
	// GetToken returns the token with this hash, whatever its state.
	GetToken(ctx context.Context, hash []byte) (IssuedToken, error)
	// UseRefreshToken redeems a refresh token in one transaction: when
	// the token is unused, not revoked and not expired at now, next is
	// called with it, the token is marked used and the tokens next
	// returns are stored; the old token is returned. A token already used
	// is a replay: every token of its family is revoked (and stays
	// revoked) and ErrConflict is returned. An unknown, revoked or expired
	// token is ErrNotFound; next's error is returned unchanged, nothing
	// written.
	UseRefreshToken(ctx context.Context, hash []byte, now time.Time, next func(old IssuedToken) ([]IssuedToken, error)) (IssuedToken, error)
	// RevokeTokenFamily sets RevokedAt (at) on every token of the family
	// not revoked yet and returns how many it revoked.
	RevokeTokenFamily(ctx context.Context, family string, at time.Time) (int, error)
	// DeleteStaleTokens deletes up to limit tokens that expired, were
	// used (rotated away) or were revoked before before, and returns how
	// many it deleted. A live token (unexpired, unused, unrevoked) is
	// never deleted, whatever its age. A deleted used refresh token can
	// no longer be recognised as a replay (UseRefreshToken then answers
	// ErrNotFound and revokes nothing), so callers pass a before well in
	// the past (hosted.token_retention).
	DeleteStaleTokens(ctx context.Context, before time.Time, limit int) (int, error)

	// Signing keys (id_tokens). CreateSigningKey stores k;
	// ErrAlreadyExists when its Seq (or ID) is taken, e.g. by another
	// node that created the same key number at the same time.
	// ListSigningKeys returns every key, highest Seq first.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error

	// Webhook destinations.
	CreateWebhook(ctx context.Context, w Webhook) error
	GetWebhook(ctx context.Context, appID, id string) (Webhook, error)
	ListWebhooks(ctx context.Context, appID string) ([]Webhook, error)
	UpdateWebhook(ctx context.Context, appID, id string, update func(old Webhook) (Webhook, error)) (Webhook, error)
	DeleteWebhook(ctx context.Context, appID, id string) error

	// Webhook delivery queue (see webhook.Queue for the contract of the
	// first four). ListDeliveries returns a destination's queued
	// deliveries in order.
	RelayEvents(ctx context.Context, limit int, route func(ev Event, hooks []Webhook) []string) (int, error)
	ClaimDeliveries(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]Delivery, error)
	FinishDeliveries(ctx context.Context, owner string, results []DeliveryResult, update func(old Webhook, rs []DeliveryResult) (Webhook, QueueAction)) error
	DeliveryStats(ctx context.Context) (DeliveryStats, error)
	ListDeliveries(ctx context.Context, webhookID string) ([]Delivery, error)

	// Outbox. ListEvents returns events with Seq > afterSeq in Seq order.
	ListEvents(ctx context.Context, afterSeq int64, limit int) ([]Event, error)

	// RewrapSecrets passes every stored secret blob (the keyring check,
	// connectors, credentials, grants, codes, webhooks) through rewrap and writes back the changed
	// ones, in batches of batchSize rows, each write conditional on the blob
	// not having changed since it was read (a concurrently changed row is
	// skipped, not overwritten). It returns the number of blobs rewritten.
	RewrapSecrets(ctx context.Context, batchSize int, rewrap SecretRewrapper) (int, error)

	// KeyringCheck records sealed as the database's keyring check when it
	// has none yet, and returns the one it has (sealed, or the one another
	// node recorded first). It is one of the blobs RewrapSecrets walks, the
	// first.
	KeyringCheck(ctx context.Context, sealed []byte) ([]byte, error)

	// Import jobs (imports.go).
	ImportStore

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
	Close() error
}
