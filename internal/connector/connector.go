// Package connector manages connectors (an application's provider app:
// client id and secret, tenant, default scopes) and their credentials
// (named alternative or special-purpose secrets). Secrets are sealed by the
// vault before they reach the store and are never returned.
package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/fault"
	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/versioncache"
)

// Sealer encrypts and decrypts secrets (internal/vault implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(blob, aad []byte) ([]byte, error)
}

// Credential types.
const (
	TypeConnector      = "connector"
	TypeAdminConsent   = "adminconsent"
	TypeServiceAccount = "serviceaccount"
)

// CredentialTypes lists the valid credential types.
var CredentialTypes = []string{TypeConnector, TypeAdminConsent, TypeServiceAccount}

// Service is the connector and credential service.
type Service struct {
	Store store.Store
	Vault Sealer
	// Providers are the providers an application can have a connector
	// for; their provider.OAuthClient says what the connector takes.
	Providers *provider.Registry
	Now       func() time.Time
	NewID     func() string

	cache versioncache.Cache[cached] // connectors and credentials read (cache.go)
}

// OAuth reports whether prov's grants hold a refresh token of an OAuth
// client (a connector's or one of its credentials'): they need the
// connector to authenticate and refresh, and lose it when it is deleted
// (provider.OAuthClient).
func (s *Service) OAuth(prov string) bool {
	return provider.Implements[provider.OAuthClient](s.Providers, prov)
}

// OAuthProviders lists the providers OAuth is true of, in the registry's
// order.
func (s *Service) OAuthProviders() []string {
	var out []string
	for _, p := range s.Providers.Names() {
		if s.OAuth(p) {
			out = append(out, p)
		}
	}
	return out
}

// settingsOf returns what the connector of prov takes (nothing unless it
// is an OAuth client).
func (s *Service) settingsOf(prov string) []provider.ConnectorSetting {
	if c, ok := s.Providers.Get(prov).(provider.OAuthClient); ok {
		return c.ConnectorSettings()
	}
	return nil
}

// Connector is a connector with its secret settings decrypted; it never
// leaves the process in this form (the API shows View).
type Connector struct {
	store.Connector
	Secrets map[string]string
}

// Input is a connector create or update request.
type Input struct {
	Name               *string
	Provider           string
	Settings           map[string]any // merged into the stored settings on update
	Scope              []string       // nil: unchanged
	ActiveCredentialID *string
}

// supported returns an error listing the providers when p is not one of
// them.
func (s *Service) supported(p string) error {
	if p == "" {
		return fault.Invalidf("provider is required; one of: %s", strings.Join(s.Providers.Names(), ", "))
	}
	if !s.Providers.Has(p) {
		return fault.Invalidf("provider %q is not supported; use one of: %s", p, strings.Join(s.Providers.Names(), ", "))
	}
	return nil
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Create creates the connector of in.Provider for appID.
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.Connector, error) {
	defer s.dropCached(appID) // this request's own change shows at once
	if err := s.supported(in.Provider); err != nil {
		return store.Connector{}, err
	}
	now := s.now()
	c := store.Connector{AppID: appID, Provider: in.Provider, Settings: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	c.Name = in.Provider
	if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
		c.Name = strings.TrimSpace(*in.Name)
	}
	if err := checkName(c.Name); err != nil {
		return store.Connector{}, err
	}
	c.Scope = in.Scope
	if err := s.applySettings(&c, in.Settings); err != nil {
		return store.Connector{}, err
	}
	if err := s.checkComplete(c, s.secrets(c)); err != nil {
		return store.Connector{}, err
	}
	if in.ActiveCredentialID != nil && *in.ActiveCredentialID != "" {
		return store.Connector{}, fault.Invalidf("active_credential_id can only be set once the connector exists and has that credential (PATCH /v3/connectors/%s)", in.Provider)
	}
	err := s.Store.CreateConnector(ctx, c)
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Connector{}, fault.Conflictf("the application already has a connector for %s; change it with PATCH /v3/connectors/%s", in.Provider, in.Provider)
	}
	return c, err
}

// Update changes a connector: name, scope and active credential replace
// the stored ones when given; settings are merged key by key (a null value
// removes a key).
func (s *Service) Update(ctx context.Context, appID, prov string, in Input) (store.Connector, error) {
	defer s.dropCached(appID) // this request's own change shows at once
	if in.ActiveCredentialID != nil && *in.ActiveCredentialID != "" {
		cred, err := s.Store.GetCredential(ctx, appID, *in.ActiveCredentialID)
		if err != nil || cred.Provider != prov {
			if err == nil || errors.Is(err, store.ErrNotFound) {
				return store.Connector{}, fault.Invalidf("active_credential_id %q is not a credential of the %s connector", *in.ActiveCredentialID, prov)
			}
			return store.Connector{}, err
		}
		if cred.Type != TypeConnector {
			return store.Connector{}, fault.Invalidf("active_credential_id must name a credential of type %q, not %q", TypeConnector, cred.Type)
		}
	}
	c, err := s.Store.UpdateConnector(ctx, appID, prov, func(c store.Connector) (store.Connector, error) {
		if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
			c.Name = strings.TrimSpace(*in.Name)
			if err := checkName(c.Name); err != nil {
				return c, err
			}
		}
		if in.Scope != nil {
			c.Scope = in.Scope
		}
		if in.ActiveCredentialID != nil {
			c.ActiveCredentialID = *in.ActiveCredentialID
		}
		if err := s.applySettings(&c, in.Settings); err != nil {
			return c, err
		}
		if err := s.checkComplete(c, s.secrets(c)); err != nil {
			return c, err
		}
		c.UpdatedAt = s.now()
		return c, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return c, notFoundConnector(prov)
	}
	if err == nil && in.ActiveCredentialID != nil && *in.ActiveCredentialID != "" {
		err = s.activeStillThere(ctx, appID, prov, *in.ActiveCredentialID)
	}
	return c, err
}

// activeStillThere re-reads, after the connector was written with active
// credential id, that credential. DeleteCredential deletes and then clears
// the connector's active_credential_id if it names it; a connector written
// in between would keep naming a deleted credential (and every new
// authentication would fail), so the writer checks after its own write:
// whichever runs second sees the other.
func (s *Service) activeStillThere(ctx context.Context, appID, prov, id string) error {
	_, err := s.Store.GetCredential(ctx, appID, id)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = s.Store.UpdateConnector(ctx, appID, prov, func(c store.Connector) (store.Connector, error) {
		if c.ActiveCredentialID == id {
			c.ActiveCredentialID = ""
			c.UpdatedAt = s.now()
		}
		return c, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fault.Invalidf("active_credential_id %q was deleted while the connector was being updated: the %s connector has no active credential (the request's other changes were applied)", id, prov)
}

func notFoundConnector(prov string) error {
	return fault.NotFoundf("the application has no %s connector", prov)
}

// Get returns one connector.
func (s *Service) Get(ctx context.Context, appID, prov string) (store.Connector, error) {
	c, err := s.Store.GetConnector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) {
		return c, notFoundConnector(prov)
	}
	return c, err
}

// Has reports whether appID has a connector for prov (from the cache of
// connectors, cache.go).
func (s *Service) Has(ctx context.Context, appID, prov string) (bool, error) {
	_, _, err := s.connector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		// Secrets that do not open (or a store error): ask the store
		// alone, as before the cache.
		_, err = s.Get(ctx, appID, prov)
		if fault.Is(err, fault.NotFound) {
			return false, nil
		}
	}
	return err == nil, err
}

// List returns a page of connectors.
func (s *Service) List(ctx context.Context, appID string, opts store.ListOptions) ([]store.Connector, error) {
	return s.Store.ListConnectors(ctx, appID, opts)
}

// Delete deletes a connector and its credentials.
func (s *Service) Delete(ctx context.Context, appID, prov string) error {
	defer s.dropCached(appID) // this request's own change shows at once
	err := s.Store.DeleteConnector(ctx, appID, prov)
	if errors.Is(err, store.ErrNotFound) {
		return notFoundConnector(prov)
	}
	return err
}

// checkSettings refuses a setting the provider's connector does not take
// (it would be stored and shown in every response, and a password put
// there by mistake with it) and one that is not a string. A null value,
// which removes a key, is always accepted.
func checkSettings(prov string, spec []provider.ConnectorSetting, settings map[string]any) error {
	var allowed []string
	for _, cs := range spec {
		allowed = append(allowed, cs.Key)
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := settings[k]
		if v == nil {
			continue
		}
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fault.Invalidf("settings.%s: %s connectors take no settings", k, prov)
			}
			return fault.Invalidf("settings.%s is not a setting of %s connectors; they take %s", k, prov, strings.Join(allowed, ", "))
		}
		if _, ok := v.(string); !ok {
			return fault.Invalidf("settings.%s must be a string", k)
		}
	}
	return nil
}

// applySettings merges settings into c, sealing the secret ones.
func (s *Service) applySettings(c *store.Connector, settings map[string]any) error {
	if len(settings) == 0 {
		return nil
	}
	spec := s.settingsOf(c.Provider)
	if err := checkSettings(c.Provider, spec, settings); err != nil {
		return err
	}
	secrets := s.secrets(*c)
	if c.Settings == nil {
		c.Settings = map[string]any{}
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := settings[k]
		if slices.ContainsFunc(spec, func(cs provider.ConnectorSetting) bool { return cs.Key == k && cs.Secret }) {
			if v == nil {
				delete(secrets, k)
				continue
			}
			str, ok := v.(string)
			if !ok {
				return fault.Invalidf("settings.%s must be a string", k)
			}
			secrets[k] = str
			continue
		}
		if v == nil {
			delete(c.Settings, k)
			continue
		}
		c.Settings[k] = v
	}
	blob, err := s.sealSecrets(*c, secrets)
	if err != nil {
		return err
	}
	c.Secret = blob
	return nil
}

// MaxNameLength bounds connector and credential names (in bytes).
const MaxNameLength = 256

func checkName(name string) error {
	if len(name) > MaxNameLength {
		return fault.Invalidf("name is %d bytes long; at most %d are allowed", len(name), MaxNameLength)
	}
	return nil
}

// checkComplete requires the required settings of c's provider: a
// non-blank string, sealed among secrets or stored in c.Settings.
func (s *Service) checkComplete(c store.Connector, secrets map[string]string) error {
	for _, cs := range s.settingsOf(c.Provider) {
		if !cs.Required {
			continue
		}
		v := secrets[cs.Key]
		if !cs.Secret {
			if raw, ok := c.Settings[cs.Key]; ok && raw != nil {
				if _, isString := raw.(string); !isString {
					return fault.Invalidf("settings.%s must be a string (%s of your %s app)", cs.Key, cs.About, c.Provider)
				}
			}
			v, _ = c.Settings[cs.Key].(string)
		}
		if strings.TrimSpace(v) == "" {
			return fault.Invalidf("settings.%s is required for a %s connector (%s of your %s app)", cs.Key, c.Provider, cs.About, c.Provider)
		}
	}
	return nil
}

func connectorAAD(c store.Connector) []byte {
	return []byte("connector/" + c.AppID + "/" + c.Provider)
}

func (s *Service) sealSecrets(c store.Connector, secrets map[string]string) ([]byte, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	return s.Vault.Seal(b, connectorAAD(c))
}

// secrets decrypts a connector's secret settings; an undecryptable blob
// yields none (and is reported by Resolve, which needs them).
func (s *Service) secrets(c store.Connector) map[string]string {
	m, _ := s.openSecrets(c)
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func (s *Service) openSecrets(c store.Connector) (map[string]string, error) {
	m := map[string]string{}
	if len(c.Secret) == 0 {
		return m, nil
	}
	b, err := s.Vault.Open(c.Secret, connectorAAD(c))
	if err != nil {
		return nil, fmt.Errorf("open %s connector secrets: %w", c.Provider, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %s connector secrets: %w", c.Provider, err)
	}
	return m, nil
}
