package microsoft

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/oauthx"
)

// Microsoft Entra (AADSTS) codes that mean the refresh token itself is no
// longer usable: expired, revoked, issued before a password change,
// interaction (MFA, consent, conditional access) required.
var aadInvalidGrant = map[int]bool{
	50005: true, 50055: true, 50057: true, 50076: true, 50078: true, 50079: true,
	50089: true, 50105: true, 50132: true, 50133: true, 50158: true, 50173: true,
	53003: true, 54005: true, 70000: true, 70008: true,
	700082: true, 700084: true, 70043: true, 700081: true,
}

// Entra codes among those that need the user (or an admin) to act, not
// merely to sign in again: what the message says instead of "expired or
// revoked".
var aadInteraction = map[int]string{
	50076:  "Microsoft requires multi-factor authentication for this user: the user must sign in again and complete it",
	50079:  "Microsoft requires this user to register for multi-factor authentication: the user must sign in again and complete it",
	50158:  "Microsoft requires an external security challenge for this user: the user must sign in again and complete it",
	53003:  "a Microsoft Entra conditional access policy blocked the token: the user must sign in again from a device and location the policy allows, or an administrator must change the policy",
	50005:  "a Microsoft Entra conditional access policy does not allow this device platform: the user must sign in again from an allowed device, or an administrator must change the policy",
	50105:  "the user is not assigned to the application in Microsoft Entra: an administrator must assign them, then the user must sign in again",
	50057:  "the user's Microsoft account is disabled: an administrator must enable it, then the user must sign in again",
	700084: "the refresh token of this single-page application has reached its 24-hour limit: the user must sign in again",
}

// Entra codes that mean the OAuth client (application, secret) or its
// tenant is wrong: fixed on the connector or credential, after which the
// grants' refresh tokens work again.
var aadInvalidClient = map[int]bool{
	7000215: true, 7000222: true, 700016: true, 700024: true, 70002: true,
	7000218: true, 700023: true, 90002: true, 900023: true,
}

// Entra codes, among aadInvalidClient, of an unknown or invalid tenant.
var aadUnknownTenant = map[int]bool{90002: true, 900023: true}

// Entra codes that mean "not now": throttling (50196 comes as invalid_grant
// for user-facing calls) and a service outage.
var aadTransient = map[int]bool{50196: true, 90033: true}

// Entra codes that mean a requested scope is not (or no longer) granted;
// 65001 (no consent for the requested scopes) comes as invalid_grant but is
// fixed by requesting fewer scopes or consenting, not by a new token alone.
var aadInvalidScope = map[int]bool{65001: true, 70011: true, 65005: true, 28002: true, 28003: true}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// classifyToken reads the Entra (AADSTS) codes of an error answer of the
// token endpoint, for oauthx (see oauthx.TokenClassifier): the first class
// of oauthx's order the codes support, with Microsoft's explanation where
// the generic one would mislead (an unknown tenant, an interaction the
// user or an administrator must complete).
func classifyToken(pe map[string]any) (provider.Class, string) {
	codes := aadCodes(pe)
	switch {
	case anyCode(codes, aadTransient):
		return provider.ClassUnavailable, ""
	case anyCode(codes, aadInvalidScope):
		return provider.ClassMissingScope, ""
	case anyCode(codes, aadInvalidClient):
		if anyCode(codes, aadUnknownTenant) {
			return provider.ClassInvalidClient, fmt.Sprintf("%s does not know the tenant the connector or credential names (%s): check its tenant setting", displayName, oauthx.Words(pe))
		}
		return provider.ClassInvalidClient, ""
	case anyCode(codes, aadInvalidGrant):
		for _, c := range codes {
			if why, ok := aadInteraction[c]; ok {
				return provider.ClassInvalidCredentials, fmt.Sprintf("The provider refused to refresh the token: %s. %s said: %s", why, displayName, oauthx.Words(pe))
			}
		}
		return provider.ClassInvalidCredentials, ""
	}
	return "", ""
}

// aadCodes returns the Entra error codes of an answer: error_codes and any
// AADSTSnnnn in the description.
func aadCodes(pe map[string]any) []int {
	var out []int
	if arr, ok := pe["error_codes"].([]any); ok {
		for _, e := range arr {
			if n, ok := e.(int64); ok {
				out = append(out, int(n))
			}
		}
	}
	desc, _ := pe["error_description"].(string)
	for _, m := range aadstsRE.FindAllStringSubmatch(desc, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func anyCode(codes []int, set map[int]bool) bool {
	return slices.ContainsFunc(codes, func(c int) bool { return set[c] })
}
