package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
)

// CredentialInput is a credential create or update request.
type CredentialInput struct {
	Name *string
	Type string         // create only
	Data map[string]any // nil: unchanged; on update replaces the stored data
}

// required credential_data fields by type.
var requiredData = map[string][]string{
	TypeConnector:      {"client_id", "client_secret"},
	TypeAdminConsent:   {"tenant"},
	TypeServiceAccount: {"private_key_id", "private_key", "client_email"},
}

func checkCredentialData(typ string, data map[string]any) error {
	// Fields grantd reads from any credential type are strings (a tenant
	// given as an object was ignored, and the common tenant used).
	for _, k := range []string{"client_id", "client_secret", "tenant"} {
		if v, ok := data[k]; ok && v != nil {
			if _, isString := v.(string); !isString {
				return fault.Invalidf("credential_data.%s must be a string", k)
			}
		}
	}
	for _, k := range requiredData[typ] {
		v, ok := data[k]
		if !ok || v == nil {
			return fault.Invalidf("credential_data.%s is required for a %s credential", k, typ)
		}
		if s, ok := v.(string); !ok || strings.TrimSpace(s) == "" {
			return fault.Invalidf("credential_data.%s must be a non-empty string", k)
		}
	}
	return nil
}

// checkWithProvider lets the provider check the data of the credential
// types it owns (provider.CredentialChecker: a service account key that
// parses).
func (s *Service) checkWithProvider(prov, typ string, data map[string]any) error {
	if c, ok := s.Providers.Get(prov).(provider.CredentialChecker); ok {
		return c.CheckCredential(typ, data)
	}
	return nil
}

func credentialAAD(c store.Credential) []byte {
	return []byte("credential/" + c.AppID + "/" + c.ID)
}

// CreateCredential adds a credential to the connector of prov.
func (s *Service) CreateCredential(ctx context.Context, appID, prov string, in CredentialInput) (store.Credential, error) {
	defer s.dropCached(appID) // this request's own change shows at once
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return store.Credential{}, fault.Invalidf("name is required")
	}
	if err := checkName(strings.TrimSpace(*in.Name)); err != nil {
		return store.Credential{}, err
	}
	if in.Type == "" {
		return store.Credential{}, fault.Invalidf("credential_type is required; one of: %s", strings.Join(CredentialTypes, ", "))
	}
	if !slices.Contains(CredentialTypes, in.Type) {
		return store.Credential{}, fault.Invalidf("credential_type %q is not valid; use one of: %s", in.Type, strings.Join(CredentialTypes, ", "))
	}
	if in.Data == nil {
		return store.Credential{}, fault.Invalidf("credential_data is required")
	}
	if err := checkCredentialData(in.Type, in.Data); err != nil {
		return store.Credential{}, err
	}
	if in.Type == TypeServiceAccount && prov != provider.Google {
		return store.Credential{}, fault.Invalidf("serviceaccount credentials belong to the google connector")
	}
	if in.Type == TypeAdminConsent && prov != provider.Microsoft {
		return store.Credential{}, fault.Invalidf("adminconsent credentials belong to the microsoft connector")
	}
	if err := s.checkWithProvider(prov, in.Type, in.Data); err != nil {
		return store.Credential{}, err
	}
	now := s.now()
	c := store.Credential{ID: s.NewID(), AppID: appID, Provider: prov, Name: strings.TrimSpace(*in.Name), Type: in.Type, CreatedAt: now, UpdatedAt: now}
	blob, err := s.sealData(c, in.Data)
	if err != nil {
		return store.Credential{}, err
	}
	c.Data = blob
	err = s.Store.CreateCredential(ctx, c)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Credential{}, fault.Invalidf("the application has no %s connector; create it first with POST /v3/connectors", prov)
	case errors.Is(err, store.ErrAlreadyExists):
		return store.Credential{}, fault.Conflictf("the %s connector already has a credential named %q", prov, c.Name)
	}
	return c, err
}

// GetCredential returns a credential of the connector of prov.
func (s *Service) GetCredential(ctx context.Context, appID, prov, id string) (store.Credential, error) {
	c, err := s.Store.GetCredential(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Provider != prov) {
		return store.Credential{}, fault.NotFoundf("the %s connector has no credential %q", prov, id)
	}
	return c, err
}

// ListCredentials returns a page of a connector's credentials.
func (s *Service) ListCredentials(ctx context.Context, appID, prov string, opts store.ListOptions) ([]store.Credential, error) {
	if _, err := s.Get(ctx, appID, prov); err != nil {
		return nil, err
	}
	return s.Store.ListCredentials(ctx, appID, prov, opts)
}

// UpdateCredential renames a credential and/or replaces its data.
func (s *Service) UpdateCredential(ctx context.Context, appID, prov, id string, in CredentialInput) (store.Credential, error) {
	defer s.dropCached(appID) // this request's own change shows at once
	if _, err := s.GetCredential(ctx, appID, prov, id); err != nil {
		return store.Credential{}, err
	}
	c, err := s.Store.UpdateCredential(ctx, appID, id, func(c store.Credential) (store.Credential, error) {
		if in.Name != nil {
			if strings.TrimSpace(*in.Name) == "" {
				return c, fault.Invalidf("name cannot be empty")
			}
			c.Name = strings.TrimSpace(*in.Name)
			if err := checkName(c.Name); err != nil {
				return c, err
			}
		}
		if in.Data != nil {
			// A partial update keeps the fields not sent.
			old, err := s.openData(c)
			if err != nil {
				return c, err
			}
			for k, v := range in.Data {
				if v == nil {
					delete(old, k)
				} else {
					old[k] = v
				}
			}
			if err := checkCredentialData(c.Type, old); err != nil {
				return c, err
			}
			if err := s.checkWithProvider(prov, c.Type, old); err != nil {
				return c, err
			}
			blob, err := s.sealData(c, old)
			if err != nil {
				return c, err
			}
			c.Data = blob
		}
		c.UpdatedAt = s.now()
		return c, nil
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return c, fault.Conflictf("the %s connector already has a credential with that name", prov)
	}
	if errors.Is(err, store.ErrNotFound) {
		return c, fault.NotFoundf("the %s connector has no credential %q", prov, id)
	}
	return c, err
}

// DeleteCredential deletes a credential; a connector whose active
// credential it was falls back to its own client.
func (s *Service) DeleteCredential(ctx context.Context, appID, prov, id string) error {
	defer s.dropCached(appID) // this request's own change shows at once
	if _, err := s.GetCredential(ctx, appID, prov, id); err != nil {
		return err
	}
	if err := s.Store.DeleteCredential(ctx, appID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fault.NotFoundf("the %s connector has no credential %q", prov, id)
		}
		return err
	}
	_, err := s.Store.UpdateConnector(ctx, appID, prov, func(c store.Connector) (store.Connector, error) {
		if c.ActiveCredentialID == id {
			c.ActiveCredentialID = ""
			c.UpdatedAt = s.now()
		}
		return c, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Service) sealData(c store.Credential, data map[string]any) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fault.Invalidf("credential_data cannot be encoded: %v", err)
	}
	return s.Vault.Seal(b, credentialAAD(c))
}

func (s *Service) openData(c store.Credential) (map[string]any, error) {
	m := map[string]any{}
	if len(c.Data) == 0 {
		return m, nil
	}
	b, err := s.Vault.Open(c.Data, credentialAAD(c))
	if err != nil {
		return nil, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode credential %s: %w", c.ID, err)
	}
	return m, nil
}

// Resolved is the OAuth client and scopes to use for a grant.
type Resolved struct {
	Client       provider.Client
	CredentialID string   // the credential used, "" for the connector's own client
	Scope        []string // the connector's default scopes
}

// DefaultScope returns the scope list of appID's connector for prov, nil
// when the application has no such connector.
func (s *Service) DefaultScope(ctx context.Context, appID, prov string) ([]string, error) {
	c, _, err := s.connector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(c.Scope) == 0 {
		return nil, nil
	}
	return slices.Clone(c.Scope), nil
}

// Resolve returns the client for a new OAuth grant of prov: the
// credential credentialID when given, else the connector's active
// credential, else the connector's own client_id and client_secret.
func (s *Service) Resolve(ctx context.Context, appID, prov, credentialID string) (Resolved, error) {
	return s.resolve(ctx, appID, prov, credentialID, resolveNew)
}

// ResolveApp returns the client for a new bulk authentication of prov
// with the application's own credential credentialID (a serviceaccount
// or adminconsent credential): Client.App holds its data, and Client the
// connector's OAuth client overridden by the credential's client_id,
// client_secret and tenant.
func (s *Service) ResolveApp(ctx context.Context, appID, prov, credentialID string) (Resolved, error) {
	return s.resolve(ctx, appID, prov, credentialID, resolveApp)
}

// ResolveGrant returns the client of an existing grant whose stored
// credential is credentialID: that credential, or the connector's own
// client when it is "" (not the active credential, which may have been
// set since: the grant's refresh token belongs to the client that made
// it).
func (s *Service) ResolveGrant(ctx context.Context, appID, prov, credentialID string) (Resolved, error) {
	return s.resolve(ctx, appID, prov, credentialID, resolveGrant)
}

// resolveMode is what a resolution is for.
type resolveMode int

const (
	resolveNew   resolveMode = iota // a new refresh-token grant: a connector credential, the active one by default
	resolveGrant                    // an existing grant: its own credential, whatever its type
	resolveApp                      // a new bulk grant: an application credential
)

// appCredentialType is the application credential type of each provider's
// bulk authentication.
var appCredentialType = map[string]string{provider.Google: TypeServiceAccount, provider.Microsoft: TypeAdminConsent}

func (s *Service) resolve(ctx context.Context, appID, prov, credentialID string, mode resolveMode) (Resolved, error) {
	useActive := mode == resolveNew
	c, secrets, err := s.connector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) {
		return Resolved{}, fault.Invalidf("the application has no %s connector: create one first with POST /v3/connectors {\"provider\":%q,\"settings\":{\"client_id\":…,\"client_secret\":…}}", prov, prov)
	}
	if err != nil {
		return Resolved{}, err
	}
	r := Resolved{Scope: slices.Clone(c.Scope)}
	r.Client.ClientID, _ = c.Settings["client_id"].(string)
	r.Client.ClientSecret = secrets["client_secret"]
	r.Client.Tenant, _ = c.Settings["tenant"].(string)
	id := credentialID
	if id == "" && useActive {
		id = c.ActiveCredentialID
	}
	if id == "" {
		return r, nil
	}
	cred, data, err := s.credential(ctx, appID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cred.Provider != prov) {
		return Resolved{}, fault.Invalidf("credential %q does not exist on the %s connector", id, prov)
	}
	if err != nil {
		return Resolved{}, err
	}
	switch {
	case mode == resolveNew && cred.Type != TypeConnector:
		return Resolved{}, fault.Invalidf("credential %q is a %s credential, which is for bulk authentication (settings.email_address without a refresh token); "+
			"a refresh-token grant takes a %q credential, or none (the connector's own client)", id, cred.Type, TypeConnector)
	case mode == resolveApp && cred.Type != appCredentialType[prov]:
		want := appCredentialType[prov]
		if want == "" {
			return Resolved{}, fault.Invalidf("the %s provider has no bulk authentication: send the user's refresh token in settings.refresh_token", prov)
		}
		return Resolved{}, fault.Invalidf("credential %q is a %s credential; bulk authentication of %s (settings.email_address) takes a %q credential, and a %s credential goes with settings.refresh_token",
			id, cred.Type, prov, want, cred.Type)
	}
	data = maps.Clone(data)
	r.CredentialID = cred.ID
	if v, _ := data["client_id"].(string); v != "" {
		r.Client.ClientID = v
	}
	if v, _ := data["client_secret"].(string); v != "" {
		r.Client.ClientSecret = v
	}
	if v, _ := data["tenant"].(string); v != "" {
		r.Client.Tenant = v
	}
	if cred.Type != TypeConnector {
		r.Client.App = &provider.AppCredential{Type: cred.Type, Data: data}
	}
	return r, nil
}

// Keys an adminconsent credential's data gets when its tenant's
// administrator consented through grantd (RecordConsent).
const (
	DataConsentedTenant = "consented_tenant"
	DataConsentedAt     = "consented_at"
)

// RecordConsent records on the credential id of prov, an application
// credential, that an administrator of tenant consented to its app
// permissions (the callback of GET /v3/connect/auth with
// response_type=adminconsent): consented_tenant and consented_at (RFC
// 3339) join its sealed data.
func (s *Service) RecordConsent(ctx context.Context, appID, prov, id, tenant string) (store.Credential, error) {
	defer s.dropCached(appID) // this request's own change shows at once
	c, err := s.Store.UpdateCredential(ctx, appID, id, func(c store.Credential) (store.Credential, error) {
		if c.Provider != prov {
			return c, store.ErrNotFound
		}
		if c.Type != TypeAdminConsent {
			return c, fault.Invalidf("credential %q is a %s credential; admin consent is recorded on %s credentials", id, c.Type, TypeAdminConsent)
		}
		data, err := s.openData(c)
		if err != nil {
			return c, err
		}
		now := s.now()
		data[DataConsentedTenant] = tenant
		data[DataConsentedAt] = now.Format(time.RFC3339)
		if c.Data, err = s.sealData(c, data); err != nil {
			return c, err
		}
		c.UpdatedAt = now
		return c, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return c, fault.NotFoundf("the %s connector has no credential %q", prov, id)
	}
	return c, err
}

// Consent returns the tenant and time recorded by RecordConsent on the
// credential id of prov ("" and zero when none was).
func (s *Service) Consent(ctx context.Context, appID, prov, id string) (string, time.Time, error) {
	c, err := s.GetCredential(ctx, appID, prov, id)
	if err != nil {
		return "", time.Time{}, err
	}
	data, err := s.openData(c)
	if err != nil {
		return "", time.Time{}, err
	}
	tenant, _ := data[DataConsentedTenant].(string)
	at, _ := time.Parse(time.RFC3339, fmt.Sprint(data[DataConsentedAt]))
	return tenant, at, nil
}
