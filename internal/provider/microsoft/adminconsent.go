package microsoft

import (
	"net/url"
	"strings"

	"github.com/grantd/grantd/internal/provider"
)

var _ provider.AdminConsenter = (*Provider)(nil)

// AdminConsentURL implements provider.AdminConsenter: Entra's v2.0 admin
// consent endpoint of the client's tenant, asking for the app
// registration's configured application permissions (scope
// https://graph.microsoft.com/.default).
func (v *Provider) AdminConsentURL(client provider.Client, redirectURI, state string) (string, error) {
	if client.ClientID == "" {
		return "", provider.Errorf(provider.ClassBadRequest, "the adminconsent credential (and the microsoft connector) has no client_id")
	}
	if err := checkAppTenant(client.Tenant); err != nil {
		return "", err
	}
	q := url.Values{
		"client_id":    {client.ClientID},
		"scope":        {GraphDefaultScope},
		"redirect_uri": {redirectURI},
		"state":        {state},
	}
	return strings.TrimRight(v.cfg.LoginURL, "/") + "/" + url.PathEscape(client.Tenant) + "/v2.0/adminconsent?" + q.Encode(), nil
}

// AdminConsentResult implements provider.AdminConsenter: Entra returns
// admin_consent=True and the tenant, or error and error_description.
func (v *Provider) AdminConsentResult(query map[string][]string) (string, error) {
	q := url.Values(query)
	if code := q.Get("error"); code != "" {
		pe := map[string]any{"error": trim(code, 100)}
		if d := q.Get("error_description"); d != "" {
			pe["error_description"] = trim(d, 500)
		}
		class := provider.ClassBadRequest
		msg := "Microsoft did not record the administrator's consent"
		if code == "access_denied" || code == "consent_required" {
			class, msg = provider.ClassInvalidCredentials, "the administrator declined to consent to the application's permissions"
		}
		return "", &provider.Error{Class: class, Message: msg + " (" + trim(code, 100) + ")", ProviderError: pe}
	}
	if !strings.EqualFold(q.Get("admin_consent"), "true") {
		return "", provider.Errorf(provider.ClassBadRequest, "Microsoft's answer carries neither admin_consent=True nor an error")
	}
	tenant := q.Get("tenant")
	if err := checkAppTenant(tenant); err != nil {
		return "", provider.Errorf(provider.ClassBadRequest, "Microsoft's answer names no tenant that consented")
	}
	return tenant, nil
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
