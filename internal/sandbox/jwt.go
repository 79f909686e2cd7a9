package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sync"
)

// signingKey is the RSA key every provider signs ID tokens with, and its
// JWKS document.
type signingKey struct {
	priv   *rsa.PrivateKey
	kid    string
	header string // base64url of the JOSE header
	jwks   []byte
}

// sharedKey is generated once per process: RSA key generation is slow and
// a sandbox is not a place for key hygiene.
var sharedKey = sync.OnceValue(func() *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("sandbox: generating the RSA signing key: " + err.Error())
	}
	sum := sha256.Sum256(priv.N.Bytes())
	k := &signingKey{priv: priv, kid: hex.EncodeToString(sum[:20])}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": k.kid, "typ": "JWT"})
	k.header = base64.RawURLEncoding.EncodeToString(h)
	k.jwks, _ = json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"alg": "RS256",
		"use": "sig",
		"kid": k.kid,
		"n":   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
	}}})
	return k
})

// sign returns the compact RS256 JWT of claims.
func (k *signingKey) sign(claims any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic("sandbox: encoding claims: " + err.Error())
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(256))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sum := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		panic("sandbox: signing: " + err.Error())
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf)
}

// atHash is the OIDC at_hash of an access token.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
