package zoom

import (
	"strings"

	"github.com/grantd/grantd/internal/provider"
)

// classifyToken recognises Zoom's answer to a used, revoked or expired
// refresh token, 400 {"reason":"Invalid Token!","error":"invalid_request"}:
// the refresh token is dead, whatever the OAuth code says (see
// oauthx.TokenClassifier).
func classifyToken(pe map[string]any) (provider.Class, string) {
	reason, _ := pe["reason"].(string)
	desc, _ := pe["error_description"].(string)
	r := strings.ToLower(reason + " " + desc)
	if strings.Contains(r, "invalid token") || strings.Contains(r, "invalid refresh token") {
		return provider.ClassInvalidCredentials, ""
	}
	return "", ""
}
