package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Google service accounts with domain-wide delegation: the JWT-bearer
// grant (RFC 7523) at /google/token. A service account signs an RS256
// assertion {iss: client_email, sub: the user, scope, aud: the token URL,
// iat, exp ≤ iat+1h} with its private key; the sandbox verifies it with
// the account's public key and issues an access token for the user when
// the user belongs to the account's Workspace domain and every requested
// scope is delegated (as Google Workspace's admin console grants them).

// JWTBearerGrant is the grant_type of the JWT-bearer grant.
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// ServiceAccount is a Google service account the sandbox knows.
type ServiceAccount struct {
	// ClientEmail is its address (generated when empty:
	// sa-…@sandbox-project.iam.gserviceaccount.com).
	ClientEmail string
	// Domain is the Workspace domain whose users it may act for.
	Domain string
	// Scopes are the scopes delegated to it for the domain; empty: no
	// delegation (every assertion is refused with unauthorized_client).
	Scopes []string
}

// serviceAccount is a ServiceAccount with its key. Guarded by the Google
// prov's mu.
type serviceAccount struct {
	ServiceAccount
	clientID string
	keyID    string
	pub      *rsa.PublicKey
}

// saKeyFile is the JSON key Google lets one download for a service
// account.
type saKeyFile struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
}

// AddServiceAccount registers a service account with a new RSA key and
// returns its JSON key file (as Google's console downloads it; token_uri
// is the sandbox's). Adding an account again replaces its key: the old
// key is refused from then on.
func (s *Sandbox) AddServiceAccount(sa ServiceAccount) ([]byte, error) {
	if strings.TrimSpace(sa.Domain) == "" {
		return nil, fmt.Errorf("sandbox: a service account needs the Workspace domain it acts for")
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if sa.ClientEmail == "" {
		sa.ClientEmail = "sa-" + strings.ToLower(rand.Text()[:10]) + "@sandbox-project.iam.gserviceaccount.com"
	}
	sa.Domain = strings.ToLower(strings.TrimSpace(sa.Domain))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	var cid [21]byte
	_, _ = rand.Read(cid[:])
	for i := range cid {
		cid[i] = '0' + cid[i]%10
	}
	cid[0] = '1'
	acct := &serviceAccount{ServiceAccount: sa, clientID: string(cid[:]), keyID: hex.EncodeToString(sum[:20]), pub: &priv.PublicKey}
	acct.Scopes = slices.Clone(sa.Scopes)
	p := s.mustProv(Google)
	p.mu.Lock()
	p.serviceAccounts[strings.ToLower(sa.ClientEmail)] = acct
	p.mu.Unlock()
	s.log.Debug("sandbox: service account added", "client_email", sa.ClientEmail, "domain", sa.Domain)
	return json.MarshalIndent(saKeyFile{
		Type:                    "service_account",
		ProjectID:               "sandbox-project",
		PrivateKeyID:            acct.keyID,
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:             sa.ClientEmail,
		ClientID:                acct.clientID,
		AuthURI:                 s.base() + "/google/auth",
		TokenURI:                s.base() + "/google/token",
		AuthProviderX509CertURL: s.base() + "/google/certs",
		ClientX509CertURL:       s.base() + "/google/robot/v1/metadata/x509/" + url.PathEscape(sa.ClientEmail),
	}, "", "  ")
}

// SetDelegation replaces the scopes delegated to a service account (none:
// delegation withdrawn). Access tokens already issued stay valid until
// they expire, as at Google.
func (s *Sandbox) SetDelegation(clientEmail string, scopes []string) error {
	p := s.mustProv(Google)
	p.mu.Lock()
	defer p.mu.Unlock()
	sa := p.serviceAccounts[strings.ToLower(clientEmail)]
	if sa == nil {
		return fmt.Errorf("sandbox: unknown service account %q", clientEmail)
	}
	sa.Scopes = slices.Clone(scopes)
	return nil
}

// RemoveUser deletes a user and every token of theirs (an account deleted
// or suspended by its administrator); false when there was none.
func (s *Sandbox) RemoveUser(provider, email string) bool {
	s.revokeUser(provider, email)
	p := s.mustProv(provider)
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.ToLower(email)
	_, ok := p.users[key]
	delete(p.users, key)
	return ok
}

// jwtClaims are the claims of a JWT-bearer assertion.
type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// Google's words for the assertion errors.
const (
	descBadSignature = "Invalid JWT Signature."
	descBadTime      = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	descNoAccount    = "Invalid grant: account not found"
	descBadUser      = "Invalid email or User ID"
	descNoDelegation = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
)

// serveJWTBearer answers a JWT-bearer grant (the form is parsed and the
// injected failures applied).
func (s *Sandbox) serveJWTBearer(w http.ResponseWriter, r *http.Request, p *prov, form url.Values) {
	refuse := func(status int, code, desc string) {
		p.mu.Lock()
		p.stats.Rejections++
		p.mu.Unlock()
		writeJSON(w, status, errorBody{code, desc})
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		refuse(http.StatusBadRequest, "invalid_request", "Missing required parameter: assertion")
		return
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		refuse(http.StatusBadRequest, "invalid_grant", "Invalid JWT: not a compact JWS")
		return
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims jwtClaims
	if !decodeSegment(parts[0], &hdr) || !decodeSegment(parts[1], &claims) {
		refuse(http.StatusBadRequest, "invalid_grant", "Invalid JWT: undecodable header or claims")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || hdr.Alg != "RS256" {
		refuse(http.StatusBadRequest, "invalid_grant", descBadSignature)
		return
	}
	now := s.now()
	p.mu.Lock()
	sa := p.serviceAccounts[strings.ToLower(claims.Iss)]
	var acct serviceAccount
	if sa != nil {
		acct = *sa
		acct.Scopes = slices.Clone(sa.Scopes)
	}
	p.mu.Unlock()
	if sa == nil {
		refuse(http.StatusBadRequest, "invalid_grant", descNoAccount)
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if (hdr.Kid != "" && hdr.Kid != acct.keyID) || rsa.VerifyPKCS1v15(acct.pub, crypto.SHA256, sum[:], sig) != nil {
		refuse(http.StatusBadRequest, "invalid_grant", descBadSignature)
		return
	}
	if claims.Aud != s.base()+"/google/token" && claims.Aud != requestURL(r) {
		refuse(http.StatusBadRequest, "invalid_grant", "Invalid JWT: the aud claim must be the token endpoint's URL")
		return
	}
	const skew = 5 * time.Minute
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Exp == 0 || !exp.After(now) || exp.Sub(iat) > time.Hour || iat.After(now.Add(skew)) {
		refuse(http.StatusBadRequest, "invalid_grant", descBadTime)
		return
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		refuse(http.StatusBadRequest, "invalid_scope", "Empty or missing scope not allowed.")
		return
	}
	if claims.Sub == "" {
		refuse(http.StatusBadRequest, "invalid_request", "sandbox: the assertion must name a user (sub): the stand-in has no resources of the service account's own")
		return
	}
	for _, sc := range scopes {
		if !slices.Contains(acct.Scopes, sc) {
			refuse(http.StatusUnauthorized, "unauthorized_client", descNoDelegation)
			return
		}
	}
	access := googleFlavor{}.newAccessToken()
	p.mu.Lock()
	u := p.users[strings.ToLower(claims.Sub)]
	if u == nil || !strings.EqualFold(domainOf(u.Email), acct.Domain) {
		p.stats.Rejections++
		p.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid_grant", descBadUser})
		return
	}
	p.seq++
	p.access[access] = &accessGrant{user: u, clientID: acct.clientID, scopes: scopes, family: p.seq, expires: now.Add(p.ttl)}
	ttl := p.ttl
	p.stats.Redemptions++
	p.sweep(now)
	p.mu.Unlock()
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, googleToken{AccessToken: access, ExpiresIn: int64((ttl + time.Second - 1) / time.Second), TokenType: "Bearer"})
}

// decodeSegment decodes a base64url JSON segment of a JWT.
func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(b, v) == nil
}

// requestURL is the URL r was sent to (for an aud check behind Handler).
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
