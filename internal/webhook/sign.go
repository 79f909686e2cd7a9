package webhook

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/grantd/grantd/internal/store"
)

// SignatureHeader is the header carrying a delivery's signature.
const SignatureHeader = "x-nylas-signature"

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secret:
// the x-nylas-signature of a delivery whose bytes on the wire are body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// newSecret returns a new signing secret: 32 random bytes, hex.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Source is the CloudEvents source of grant notifications (Nylas sends
// the same).
const Source = "/nylas/system"

// notification is the CloudEvents-shaped body of a delivery.
type notification struct {
	SpecVersion string          `json:"specversion"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	ID          string          `json:"id"`
	Time        int64           `json:"time"`
	Attempt     int             `json:"webhook_delivery_attempt"`
	Data        json.RawMessage `json:"data"`
}

// Body returns the body of attempt number attempt (1 for the first) of
// event ev, and whether it is gzipped. The event's payload
// ({application_id, object}) is its data, byte for byte.
func Body(ev store.Event, attempt int, compressed bool) ([]byte, error) {
	data := ev.Payload
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(notification{
		SpecVersion: "1.0", Type: ev.Type, Source: Source, ID: ev.ID,
		Time: ev.CreatedAt.Unix(), Attempt: attempt, Data: data,
	})
	if err != nil || !compressed {
		return b, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// statusCode renders an HTTP status for LastDeliveryStatus.
func statusCode(code int) string { return strconv.Itoa(code) }
