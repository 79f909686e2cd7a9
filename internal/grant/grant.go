// Package grant is the one place where grants are created,
// re-authenticated, changed and deleted. Every path that authenticates an
// account (Bring Your Own Authentication today; hosted OAuth, the v2 native
// flow and bulk import later) goes through Service.Authenticate, so that
// validation against the provider, de-duplication by email, encryption of
// secrets and events happen in one place. The refresher (internal/refresh)
// redeems tokens and re-checks passwords but writes nothing itself: it
// stores each outcome through CommitRefresh, RecordFailure, Invalidate,
// RecordRecheck and Postpone (refresh.go), under one scheduling policy
// (Schedule). A new way to create, re-authenticate, refresh or invalidate
// grants is a method here, not an UpdateGrant closure elsewhere.
package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/connector"
	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// Sealer encrypts and decrypts secrets (internal/vault implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// ClientResolver finds the OAuth client for a provider of an application
// (internal/connector implements it).
type ClientResolver interface {
	// Resolve returns the client for a new authentication: the
	// credential credentialID, else the connector's active credential,
	// else the connector's own client.
	Resolve(ctx context.Context, appID, prov, credentialID string) (connector.Resolved, error)
	// ResolveApp returns the client for a new bulk authentication with
	// the application's own credential credentialID (Client.App set).
	ResolveApp(ctx context.Context, appID, prov, credentialID string) (connector.Resolved, error)
	// ResolveGrant returns the client of an existing grant: its stored
	// credential, or the connector's own client when it has none (never
	// the active credential: the grant's refresh token was issued to the
	// client that made it).
	ResolveGrant(ctx context.Context, appID, prov, credentialID string) (connector.Resolved, error)
	// DefaultScope is the scope list of the application's connector for
	// prov; nil when there is no such connector.
	DefaultScope(ctx context.Context, appID, prov string) ([]string, error)
	// RecordConsent records on the application credential credentialID
	// of prov that an administrator of tenant consented to its client's
	// application permissions (hosted OAuth's admin consent).
	RecordConsent(ctx context.Context, appID, prov, credentialID, tenant string) (store.Credential, error)
}

// Event types written to the outbox.
const (
	EventCreated = "grant.created"
	EventUpdated = "grant.updated"
	EventDeleted = "grant.deleted"
	EventExpired = "grant.expired"
	// EventRecovered is grantd's extension: a grant whose refreshes
	// failed transiently for longer than RecoveredAfter works again.
	EventRecovered = "grant.recovered"
)

// invalid is a fault.Invalid error: a problem with the request.
func invalid(format string, args ...any) error { return fault.Invalidf(format, args...) }

// Service is the grant service.
type Service struct {
	Store     store.Store
	Vault     Sealer
	Clients   ClientResolver
	Providers *provider.Registry
	Log       *slog.Logger
	Now       func() time.Time
	NewID     func() string
	// RecoveredAfter: a grant whose refreshes failed transiently for at
	// least this long emits grant.recovered when one works again (see
	// Recovered); 0: never.
	RecoveredAfter time.Duration
	// Schedule decides when a grant is next due: after an authentication
	// (the refresh of an OAuth grant, the periodic re-check of a grant
	// whose provider has no refresh token but can re-check stored
	// credentials, provider.Rechecker: IMAP, iCloud, EWS), after each
	// refresh or re-check, and after failures.
	Schedule Schedule
}

// AuthRequest is a request to authenticate an account.
type AuthRequest struct {
	AppID     string
	Provider  string
	Settings  map[string]any
	Scope     []string // nil: the connector's default scopes
	State     string
	IP        string
	UserAgent string
	// Name is the account's display name when the provider tells none
	// (the v2 native flow's name).
	Name string
	// Email, when set, is the address the account must have: credentials
	// of another account are refused and nothing is stored (the v2 native
	// flow names the account it authenticates).
	Email string
	// WorkspaceID, when set, is recorded on the grant (the agent
	// accounts' workspace_id).
	WorkspaceID string
	// ConnectorClient asks for the connector's own OAuth client even when
	// the connector has an active credential (the v2 native flow names
	// the client, and it is the connector's).
	ConnectorClient bool
}

// Supported returns the providers that can be authenticated, sorted.
func (s *Service) Supported() []string {
	return s.Providers.Authenticating()
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// oauthProvider reports whether p authenticates with an OAuth client from
// a connector.

// validate checks credentials with the provider, resolving the OAuth
// client first where the provider needs one: settings.credential_id when
// given, else the client of the grant being updated (grant non-nil), else
// the default for a new authentication.
func (s *Service) validate(ctx context.Context, appID, prov string, settings map[string]any, scope []string, grant *store.Grant, ownClient bool) (provider.Result, string, []string, error) {
	v := s.Providers.Get(prov)
	if v == nil {
		if prov == "" {
			return provider.Result{}, "", nil, invalid("provider is required; one of: %s", strings.Join(s.Supported(), ", "))
		}
		return provider.Result{}, "", nil, invalid("provider %q is not supported; use one of: %s", prov, strings.Join(s.Supported(), ", "))
	}
	if settings == nil {
		return provider.Result{}, "", nil, invalid("settings is required: an object with the %s credentials", prov)
	}
	req := provider.Request{AppID: appID, Settings: settings, Scope: scope}
	var credID string
	if provider.Implements[provider.OAuthClient](s.Providers, prov) {
		_, bulk := settings["email_address"]
		bulk = bulk && settings["refresh_token"] == nil
		cid, err := stringSetting(settings, "credential_id")
		if err != nil {
			return provider.Result{}, "", nil, err
		}
		var res connector.Resolved
		// (credential_id null or "", as serializers send unset fields,
		// names no credential.)
		switch {
		case bulk && !provider.Implements[provider.AppTokenMinter](s.Providers, prov):
			return provider.Result{}, "", nil, invalid("bulk authentication (settings.email_address) of %s accounts is not supported: send the user's OAuth refresh token in settings.refresh_token", prov)
		case bulk && cid == "" && grant != nil && grant.CredentialID != "":
			res, err = s.Clients.ResolveGrant(ctx, appID, prov, grant.CredentialID)
			if err == nil && res.Client.App == nil {
				err = invalid("settings.credential_id is required: this grant was not made with a bulk-authentication credential")
			}
		case bulk && cid == "":
			return provider.Result{}, "", nil, invalid("settings.credential_id is required for bulk authentication (settings.email_address): the id of the %s connector's credential that may act for the user", prov)
		case bulk:
			res, err = s.Clients.ResolveApp(ctx, appID, prov, cid)
		case cid == "" && grant != nil:
			res, err = s.Clients.ResolveGrant(ctx, appID, prov, grant.CredentialID)
			if err == nil && res.Client.App != nil {
				err = invalid("this grant was made with a %s credential (bulk authentication): send settings.email_address, not a refresh token, or name a connector credential in settings.credential_id", res.Client.App.Type)
			}
		case cid == "" && ownClient:
			res, err = s.Clients.ResolveGrant(ctx, appID, prov, "")
		default:
			res, err = s.Clients.Resolve(ctx, appID, prov, cid)
		}
		if err != nil {
			return provider.Result{}, "", nil, err
		}
		req.Client, credID = res.Client, res.CredentialID
		if req.Scope == nil {
			req.Scope = res.Scope
		}
	} else if req.Scope == nil {
		// Password providers need no connector, but one may set the
		// default scopes (EWS).
		sc, err := s.Clients.DefaultScope(ctx, appID, prov)
		if err != nil {
			return provider.Result{}, "", nil, err
		}
		req.Scope = sc
	}
	r, err := v.Validate(ctx, req)
	if err != nil {
		return provider.Result{}, "", nil, err
	}
	if r.Email == "" {
		return provider.Result{}, "", nil, provider.Errorf(provider.ClassMissingScope, "the %s account's email address could not be learned from the provider", prov)
	}
	sc := r.Scope
	if len(sc) == 0 {
		sc = req.Scope
	}
	return r, credID, sc, nil
}

func stringSetting(settings map[string]any, key string) (string, error) {
	v, ok := settings[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("settings.%s must be a string", key)
	}
	return s, nil
}

// Authenticate validates the credentials with the provider and then
// creates the grant, or re-authenticates the application's existing grant
// for the same email (same id, new secrets, valid again). Nothing is stored
// unless the provider accepted the credentials.
func (s *Service) Authenticate(ctx context.Context, req AuthRequest) (store.Grant, bool, error) {
	if err := checkRequest(req.State, req.Scope); err != nil {
		return store.Grant{}, false, err
	}
	if n := utf8.RuneCountInString(req.Name); n > MaxStateLength {
		return store.Grant{}, false, invalid("name is %d characters long; at most %d are allowed", n, MaxStateLength)
	}
	if n := utf8.RuneCountInString(req.WorkspaceID); n > MaxStateLength {
		return store.Grant{}, false, invalid("workspace_id is %d characters long; at most %d are allowed", n, MaxStateLength)
	}
	res, credID, scope, err := s.validate(ctx, req.AppID, req.Provider, req.Settings, req.Scope, nil, req.ConnectorClient)
	if err != nil {
		return store.Grant{}, false, err
	}
	if req.Email != "" && !strings.EqualFold(res.Email, req.Email) {
		return store.Grant{}, false, invalid("the credentials belong to %s, not to %s; nothing was stored", res.Email, req.Email)
	}
	if res.Name == "" {
		res.Name = req.Name
	}
	return s.persist(ctx, req, res, credID, scope)
}

// persist creates the grant of a successful authentication, or
// re-authenticates the application's grant for the same email.
func (s *Service) persist(ctx context.Context, req AuthRequest, res provider.Result, credID string, scope []string) (store.Grant, bool, error) {
	for attempt := 0; ; attempt++ {
		g, created, err := s.upsert(ctx, req, res, credID, scope)
		// The grant for this email was deleted between our create attempt
		// and the re-authentication: try again (a few times at most).
		if errors.Is(err, store.ErrAlreadyExists) && attempt < 3 {
			continue
		}
		if errors.Is(err, store.ErrClientGone) {
			err = clientGone(req.Provider)
		}
		return g, created, err
	}
}

// Bounds of what a caller may store on a grant (the reference allows a
// state of 256 characters in the hosted flow).
const (
	MaxStateLength = 256
	MaxScopes      = 200
	MaxScopeLength = 512
)

// checkRequest refuses a state or scope list that no provider would give
// meaning to, before anything is asked of the provider.
func checkRequest(state string, scope []string) error {
	if n := utf8.RuneCountInString(state); n > MaxStateLength {
		return invalid("state is %d characters long; at most %d are allowed", n, MaxStateLength)
	}
	if len(scope) > MaxScopes {
		return invalid("scope has %d entries; at most %d are allowed", len(scope), MaxScopes)
	}
	for i, sc := range scope {
		if strings.TrimSpace(sc) == "" {
			return invalid("scope[%d] is empty", i)
		}
		if len(sc) > MaxScopeLength {
			return invalid("scope[%d] is %d bytes long; at most %d are allowed", i, len(sc), MaxScopeLength)
		}
	}
	return nil
}

func (s *Service) upsert(ctx context.Context, req AuthRequest, res provider.Result, credID string, scope []string) (store.Grant, bool, error) {
	now := s.now()
	// A create, or the re-authentication of the application's grant for
	// this email (the store's unique (application, email) index says
	// which), in one transaction.
	g := store.Grant{
		ID:          s.NewID(),
		AppID:       req.AppID,
		State:       req.State,
		IP:          req.IP,
		UserAgent:   req.UserAgent,
		WorkspaceID: req.WorkspaceID,
		CreatedAt:   now,
	}
	if err := s.apply(&g, req.Provider, res, credID, scope, now); err != nil {
		return store.Grant{}, false, err
	}
	ev, err := s.event(EventCreated, g, nil)
	if err != nil {
		return store.Grant{}, false, err
	}
	g, created, err := s.Store.UpsertGrant(ctx, g, []store.Event{ev}, func(g store.Grant) (store.Grant, []store.Event, error) {
		// The secrets are sealed again: their AAD names the grant's id.
		if err := s.apply(&g, req.Provider, res, credID, scope, now); err != nil {
			return g, nil, err
		}
		g.State = req.State
		if req.WorkspaceID != "" {
			g.WorkspaceID = req.WorkspaceID
		}
		if req.IP != "" {
			g.IP, g.UserAgent = req.IP, req.UserAgent
		}
		ev, err := s.event(EventUpdated, g, map[string]any{"reauthentication_flag": true})
		return g, []store.Event{ev}, err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, false, store.ErrAlreadyExists // deleted meanwhile: the caller retries
	}
	return g, created, err
}

// apply writes a successful validation into g.
func (s *Service) apply(g *store.Grant, prov string, res provider.Result, credID string, scope []string, now time.Time) error {
	// A connector or credential deleted meanwhile has already invalidated
	// the grants it found, and would miss this one: the write checks the
	// client is still there (store.Grant.RequireClient).
	g.RequireClient = provider.Implements[provider.OAuthClient](s.Providers, prov)
	g.Provider = prov
	g.Email = res.Email
	if res.Name != "" {
		g.Name = res.Name
	}
	g.ProviderUserID = res.ProviderUserID
	g.Scope = scope
	g.Settings = res.Settings
	g.CredentialID = credID
	g.Status = store.GrantValid
	g.UpdatedAt = now
	g.AccessTokenExpiresAt = res.AccessTokenExpiresAt
	g.LastRefreshAt = now
	g.LastFailureAt, g.LastFailureClass, g.LastFailureMessage = time.Time{}, "", ""
	g.RefreshFailures = 0
	g.FailingSince = time.Time{}
	g.NextRefreshAt = time.Time{}
	if !res.AccessTokenExpiresAt.IsZero() {
		g.NextRefreshAt = s.Schedule.Next(now, res.AccessTokenExpiresAt)
	} else if provider.Implements[provider.Rechecker](s.Providers, prov) && res.Secrets["refresh_token"] == "" {
		g.NextRefreshAt = s.Schedule.Recheck(now)
	}
	secrets := res.Secrets
	if secrets["refresh_token"] != "" {
		// The token set keeps the scope it was granted with: refreshes ask
		// for it, whatever PATCH later does to the grant's stored list.
		secrets = maps.Clone(secrets)
		secrets[SecretScope] = strings.Join(scope, " ")
	}
	blob, err := s.sealSecrets(*g, secrets)
	if err != nil {
		return err
	}
	g.Secrets = blob
	return nil
}

// keepGrantedScope records, in an OAuth grant's sealed token set that does
// not have it yet (grants stored before it was kept there), the scope list
// the grant has before a PATCH replaces it: refreshes must go on asking
// for what the token was granted.
func (s *Service) keepGrantedScope(g *store.Grant) error {
	secrets, err := s.Secrets(*g)
	if err != nil {
		return err
	}
	if secrets["refresh_token"] == "" || secrets[SecretScope] != "" {
		return nil
	}
	secrets[SecretScope] = strings.Join(g.Scope, " ")
	blob, err := s.sealSecrets(*g, secrets)
	if err != nil {
		return err
	}
	g.Secrets = blob
	return nil
}

// SecretScope is the key, among a grant's sealed secrets, of the
// space-separated scope its refresh token was granted (OAuth grants).
const SecretScope = "scope"

func secretsAAD(g store.Grant) []byte { return []byte("grant/" + g.AppID + "/" + g.ID) }

func (s *Service) sealSecrets(g store.Grant, secrets map[string]string) ([]byte, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	return s.Vault.Seal(b, secretsAAD(g))
}

// Secrets decrypts a grant's secrets (for the refresher, which redeems
// them, and the token endpoints; never for an API response). The
// refresher writes what it learns through CommitRefresh, RecordFailure,
// Invalidate, RecordRecheck and Postpone.
func (s *Service) Secrets(g store.Grant) (map[string]string, error) {
	m := map[string]string{}
	if len(g.Secrets) == 0 {
		return m, nil
	}
	b, err := s.Vault.Open(g.Secrets, secretsAAD(g))
	if err != nil {
		return nil, fmt.Errorf("open secrets of grant %s: %w", g.ID, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode secrets of grant %s: %w", g.ID, err)
	}
	return m, nil
}

// event builds an outbox event for g with the payload of nylas-v3-api.md §8
// plus the grant's details, so that a webhook receiver needs no API call
// to act on it: name, scope, grant_status and, when the grant failed, the
// class and message of its last failure (grant.expired says why).
func (s *Service) event(typ string, g store.Grant, extra map[string]any) (store.Event, error) {
	scope := g.Scope
	if scope == nil {
		scope = []string{}
	}
	obj := map[string]any{
		"grant_id":       g.ID,
		"integration_id": g.AppID,
		"provider":       g.Provider,
		"email":          g.Email,
		"name":           g.Name,
		"scope":          scope,
		"grant_status":   g.Status,
	}
	if typ == EventExpired || typ == EventRecovered {
		obj["last_failure_class"], obj["last_failure_message"] = g.LastFailureClass, g.LastFailureMessage
	}
	for k, v := range extra {
		obj[k] = v
	}
	payload, err := json.Marshal(map[string]any{"application_id": g.AppID, "object": obj})
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{ID: s.NewID(), AppID: g.AppID, Type: typ, GrantID: g.ID, Payload: payload, CreatedAt: s.now()}, nil
}

func notFound(id string) error { return fault.NotFoundf("grant %q not found", id) }

// Get returns one grant of appID.
func (s *Service) Get(ctx context.Context, appID, id string) (store.Grant, error) {
	g, err := s.Store.GetGrant(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) {
		return g, notFound(id)
	}
	return g, err
}

// List returns the grants of appID that match f.
func (s *Service) List(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error) {
	return s.Store.ListGrants(ctx, appID, f)
}

// VerifyPassword reports whether password is the one stored on appID's
// grant of prov for email (agent accounts: the application's mail host
// asks before it lets a mailbox in), through the provider's
// PasswordVerifier. The answer is false, and takes as long, whether the
// grant does not exist, is of another provider, is invalid, has no
// password or has another one; on true it returns the grant.
func (s *Service) VerifyPassword(ctx context.Context, appID, prov, email, password string) (store.Grant, bool, error) {
	v, ok := s.Providers.Get(prov).(provider.PasswordVerifier)
	if !ok {
		return store.Grant{}, false, invalid("%s grants have no password grantd checks", prov)
	}
	var secrets map[string]string
	g, err := s.Store.GetGrantByEmail(ctx, appID, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return store.Grant{}, false, err
	case g.Provider == prov && g.Status == store.GrantValid && !g.Blocked:
		if secrets, err = s.Secrets(g); err != nil {
			return store.Grant{}, false, err
		}
	}
	match, err := v.VerifyPassword(ctx, appID, email, secrets, password)
	if err != nil || !match || secrets == nil {
		return store.Grant{}, false, err
	}
	return g, true, nil
}

// Patch is a grant update: Settings, when non-nil, replace the stored
// credentials after the provider accepted them; Scope, when non-nil,
// replaces the stored scope list.
type Patch struct {
	Settings map[string]any
	Scope    []string
}

// Update applies p to a grant; an empty patch changes nothing.
func (s *Service) Update(ctx context.Context, appID, id string, p Patch) (store.Grant, error) {
	if err := checkRequest("", p.Scope); err != nil {
		return store.Grant{}, err
	}
	old, err := s.Get(ctx, appID, id)
	if err != nil || (p.Settings == nil && p.Scope == nil) {
		return old, err
	}
	var (
		res    provider.Result
		credID string
		scope  []string
	)
	if p.Settings != nil {
		sc := p.Scope
		if sc == nil {
			sc = old.Scope
		}
		// Unless the settings name a credential, the grant keeps its
		// OAuth client: its new token was issued to that client.
		if res, credID, scope, err = s.validate(ctx, appID, old.Provider, p.Settings, sc, &old, false); err != nil {
			return store.Grant{}, err
		}
		if !strings.EqualFold(res.Email, old.Email) {
			advice := "authenticate that account with POST /v3/connect/custom instead"
			if sent, _ := p.Settings["refresh_token"].(string); sent != "" && res.Secrets["refresh_token"] != "" && res.Secrets["refresh_token"] != sent {
				// Checking it spent it (Zoom, Microsoft rotate): the
				// caller must not be told to reuse it.
				advice = "checking the refresh token made the provider rotate it, so the one sent no longer works: " +
					"authorize that account again and use POST /v3/connect/custom with its new refresh token"
			}
			return store.Grant{}, invalid("the new settings belong to %s, not to this grant's account %s; %s", res.Email, old.Email, advice)
		}
	}
	now := s.now()
	g, err := s.Store.UpdateGrant(ctx, appID, id, func(g store.Grant) (store.Grant, []store.Event, error) {
		if p.Settings != nil {
			if err := s.apply(&g, g.Provider, res, credID, scope, now); err != nil {
				return g, nil, err
			}
		}
		if p.Scope != nil {
			if p.Settings == nil {
				if err := s.keepGrantedScope(&g); err != nil {
					return g, nil, err
				}
			}
			g.Scope = p.Scope
		}
		// updated_at is the last successful (re-)authentication: apply
		// sets it when settings were validated, a new scope list alone
		// does not move it.
		ev, err := s.event(EventUpdated, g, map[string]any{"reauthentication_flag": p.Settings != nil})
		return g, []store.Event{ev}, err
	})
	if errors.Is(err, store.ErrNotFound) {
		return g, notFound(id)
	}
	if errors.Is(err, store.ErrClientGone) {
		err = clientGone(old.Provider)
	}
	return g, err
}

func clientGone(prov string) error {
	return invalid("the %s connector, or the credential this grant would use, was deleted while the grant was being authenticated; nothing was stored: create it again and authenticate again", prov)
}

// Delete deletes a grant for good; the next authentication of the same
// account creates a new grant id.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	g, err := s.Get(ctx, appID, id)
	if err != nil {
		return err
	}
	ev, err := s.event(EventDeleted, g, nil)
	if err != nil {
		return err
	}
	err = s.Store.DeleteGrant(ctx, appID, id, ev)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// Causes recorded (as last_failure_class) on grants invalidated by an
// administrator's deletion rather than by the provider; a refresh that
// lands afterwards does not make them valid again.
const (
	CauseConnectorDeleted  = "connector_deleted"
	CauseCredentialDeleted = "credential_deleted"
)

// InvalidateProvider marks every valid grant of prov in appID invalid (for
// example when its connector is deleted) and emits grant.expired for each.
func (s *Service) InvalidateProvider(ctx context.Context, appID, prov, class, message string) error {
	return s.invalidate(ctx, appID, store.GrantFilter{Provider: prov}, class, message)
}

// InvalidateCredential marks every valid grant of appID made with the
// credential credID invalid (when it is deleted: their refresh tokens
// belong to its OAuth client) and emits grant.expired for each.
func (s *Service) InvalidateCredential(ctx context.Context, appID, credID, class, message string) error {
	return s.invalidate(ctx, appID, store.GrantFilter{CredentialID: credID}, class, message)
}

// invalidate marks the valid grants f selects invalid with class and
// message, one grant.expired each.
func (s *Service) invalidate(ctx context.Context, appID string, f store.GrantFilter, class, message string) error {
	const page = 200
	f.ListOptions = store.ListOptions{Limit: page, Asc: true}
	f.Status = store.GrantValid
	for {
		gs, err := s.Store.ListGrants(ctx, appID, f)
		if err != nil {
			return err
		}
		for _, old := range gs {
			if err := s.invalidateOne(ctx, appID, old.ID, f, class, message); err != nil {
				return err
			}
		}
		if len(gs) < page {
			return nil
		}
	}
}

// invalidateOne makes grant id invalid with one grant.expired, if it is
// still valid and still matches f's provider and credential (re-checked
// under the row lock: it may have changed since it was read, a PATCH to
// another credential, say). A deleted grant is no error.
func (s *Service) invalidateOne(ctx context.Context, appID, id string, f store.GrantFilter, class, message string) error {
	_, err := s.Store.UpdateGrant(ctx, appID, id, func(g store.Grant) (store.Grant, []store.Event, error) {
		if g.Status != store.GrantValid || (f.Provider != "" && g.Provider != f.Provider) ||
			(f.CredentialID != "" && g.CredentialID != f.CredentialID) {
			return g, nil, nil
		}
		now := s.now()
		g.Status = store.GrantInvalid
		g.LastFailureAt, g.LastFailureClass, g.LastFailureMessage = now, class, message
		g.NextRefreshAt = time.Time{}
		ev, err := s.event(EventExpired, g, map[string]any{"grant_updated_at": g.UpdatedAt.Unix()})
		return g, []store.Event{ev}, err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
