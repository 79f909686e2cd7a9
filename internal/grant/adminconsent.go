package grant

import (
	"context"

	"github.com/grantd/grantd/internal/provider"
)

// Admin consent (hosted OAuth's response_type=adminconsent): an
// administrator of a tenant consents in the browser to the application
// permissions of an application credential's client, and the consent is
// recorded on the credential. No grant is created or changed: bulk grants
// are then created with POST /v3/connect/custom and the credential.

// consentProvider returns prov's AdminConsenter, or a fault.Invalid error
// naming the providers that have one.
func (s *Service) consentProvider(prov string) (provider.AdminConsenter, error) {
	return capability[provider.AdminConsenter](s, prov, func(names string) error {
		return invalid("provider %q has no admin consent; response_type=adminconsent serves: %s", prov, names)
	})
}

// AdminConsentURL returns where an administrator of the tenant of the
// application credential credentialID of prov consents to its client's
// application permissions, coming back to redirectURI with state.
func (s *Service) AdminConsentURL(ctx context.Context, appID, prov, credentialID, redirectURI, state string) (string, error) {
	c, err := s.consentProvider(prov)
	if err != nil {
		return "", err
	}
	if credentialID == "" {
		return "", invalid("credential_id is required with response_type=adminconsent: the id of an adminconsent credential of the %s connector", prov)
	}
	res, err := s.Clients.ResolveApp(ctx, appID, prov, credentialID)
	if err != nil {
		return "", err
	}
	return c.AdminConsentURL(res.Client, redirectURI, state)
}

// RecordAdminConsent reads the provider's answer (the query of its
// redirect back) and, when the administrator consented, records the
// tenant on the credential. The error is the provider's (*provider.Error:
// declined, or no consent) or the recording's.
func (s *Service) RecordAdminConsent(ctx context.Context, appID, prov, credentialID string, answer map[string][]string) (string, error) {
	c, err := s.consentProvider(prov)
	if err != nil {
		return "", err
	}
	tenant, err := c.AdminConsentResult(answer)
	if err != nil {
		return "", err
	}
	if _, err := s.Clients.RecordConsent(ctx, appID, prov, credentialID, tenant); err != nil {
		return "", err
	}
	return tenant, nil
}
