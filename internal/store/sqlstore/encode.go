package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Field encoding, and the normalisation of records before they are
// written.

// utcMicro normalises t to what the backends store: UTC, truncated to the
// microsecond. The zero time stays zero (it is stored as NULL).
func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// encodeJSON encodes a map or slice field. A nil value is encoded as the
// JSON null, an empty one as {} or [], so both round-trip exactly.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode field: %w", err)
	}
	return b, nil
}

// decodeStrings decodes a []string field written by encodeJSON. An empty
// (NULL) column decodes to nil.
func decodeStrings(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("store: decode list field: %w", err)
	}
	return v, nil
}

// decodeMap decodes a map[string]any field written by encodeJSON. Numbers
// decode as float64, as with encoding/json.
func decodeMap(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("store: decode map field: %w", err)
	}
	return v, nil
}

// emailKey is the value of a grant's unique email key column: the
// lower-cased email, or nil (SQL NULL, so never a duplicate) when the grant
// has no email.
func emailKey(email string) any {
	if email == "" {
		return nil
	}
	return strings.ToLower(email)
}

// order returns the ORDER BY clause for opts; tiebreak is the column that
// makes the order total (the primary key). Only known column names are
// ever returned, so the result is safe to splice into SQL.
func order(opts store.ListOptions, tiebreak string) (string, error) {
	if opts.Limit < 0 || opts.Offset < 0 {
		return "", fmt.Errorf("store: negative limit or offset (%d, %d)", opts.Limit, opts.Offset)
	}
	col := ""
	switch opts.SortBy {
	case "", "created_at":
		col = "created_at"
	case "updated_at":
		col = "updated_at"
	default:
		return "", fmt.Errorf("store: cannot sort by %q", opts.SortBy)
	}
	dir := "DESC"
	if opts.Asc {
		dir = "ASC"
	}
	return fmt.Sprintf("ORDER BY %s %s, %s %s", col, dir, tiebreak, dir), nil
}

// newGrant prepares a grant for insertion: Version 1, times normalised,
// CreatedAt and UpdatedAt defaulted to now.
func newGrant(g store.Grant, now time.Time) store.Grant {
	g.Version = 1
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = g.CreatedAt
	}
	return normGrant(g)
}

// updatedGrant pins the fields an update closure cannot change (ID, AppID,
// CreatedAt; Version becomes old.Version+1) and normalises the times.
func updatedGrant(old, g store.Grant) store.Grant {
	g.ID, g.AppID, g.CreatedAt = old.ID, old.AppID, old.CreatedAt
	g.Version = old.Version + 1
	return normGrant(g)
}

func normGrant(g store.Grant) store.Grant {
	g.RequireClient = false
	g.CreatedAt = utcMicro(g.CreatedAt)
	g.UpdatedAt = utcMicro(g.UpdatedAt)
	g.AccessTokenExpiresAt = utcMicro(g.AccessTokenExpiresAt)
	g.NextRefreshAt = utcMicro(g.NextRefreshAt)
	g.LastRefreshAt = utcMicro(g.LastRefreshAt)
	g.LastFailureAt = utcMicro(g.LastFailureAt)
	g.LeaseUntil = utcMicro(g.LeaseUntil)
	g.FailingSince = utcMicro(g.FailingSince)
	return g
}

// newApplication defaults and normalises the times of a new application.
func newApplication(a store.Application, now time.Time) store.Application {
	a.CreatedAt, a.UpdatedAt = created(a.CreatedAt, a.UpdatedAt, now)
	return a
}

// updatedApplication pins ID and CreatedAt and normalises the times.
func updatedApplication(old, a store.Application) store.Application {
	a.ID, a.CreatedAt = old.ID, old.CreatedAt
	a.UpdatedAt = utcMicro(a.UpdatedAt)
	return a
}

// newAPIKey defaults and normalises the times of a new API key.
func newAPIKey(k store.APIKey, now time.Time) store.APIKey {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	k.CreatedAt, k.RevokedAt = utcMicro(k.CreatedAt), utcMicro(k.RevokedAt)
	return k
}

// newConnector defaults and normalises the times of a new connector.
func newConnector(c store.Connector, now time.Time) store.Connector {
	c.CreatedAt, c.UpdatedAt = created(c.CreatedAt, c.UpdatedAt, now)
	return c
}

// updatedConnector pins AppID, Provider and CreatedAt and normalises the
// times.
func updatedConnector(old, c store.Connector) store.Connector {
	c.AppID, c.Provider, c.CreatedAt = old.AppID, old.Provider, old.CreatedAt
	c.UpdatedAt = utcMicro(c.UpdatedAt)
	return c
}

// newCredential defaults and normalises the times of a new credential.
func newCredential(c store.Credential, now time.Time) store.Credential {
	c.CreatedAt, c.UpdatedAt = created(c.CreatedAt, c.UpdatedAt, now)
	return c
}

// updatedCredential pins ID, AppID, Provider and CreatedAt and normalises
// the times.
func updatedCredential(old, c store.Credential) store.Credential {
	c.ID, c.AppID, c.Provider, c.CreatedAt = old.ID, old.AppID, old.Provider, old.CreatedAt
	c.UpdatedAt = utcMicro(c.UpdatedAt)
	return c
}

// newCode defaults and normalises the times of a new code.
func newCode(c store.Code, now time.Time) store.Code {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt, c.ExpiresAt = utcMicro(c.CreatedAt), utcMicro(c.ExpiresAt)
	return c
}

// newWebhook defaults and normalises the times of a new webhook.
func newWebhook(w store.Webhook, now time.Time) store.Webhook {
	w.CreatedAt, w.UpdatedAt = created(w.CreatedAt, w.UpdatedAt, now)
	w.StatusUpdatedAt = utcMicro(w.StatusUpdatedAt)
	w.LastDeliveryAt, w.FailingSince, w.WindowStart = utcMicro(w.LastDeliveryAt), utcMicro(w.FailingSince), utcMicro(w.WindowStart)
	return w
}

// updatedWebhook pins ID, AppID and CreatedAt and normalises the times.
func updatedWebhook(old, w store.Webhook) store.Webhook {
	w.ID, w.AppID, w.CreatedAt = old.ID, old.AppID, old.CreatedAt
	w.UpdatedAt, w.StatusUpdatedAt = utcMicro(w.UpdatedAt), utcMicro(w.StatusUpdatedAt)
	w.LastDeliveryAt, w.FailingSince, w.WindowStart = utcMicro(w.LastDeliveryAt), utcMicro(w.FailingSince), utcMicro(w.WindowStart)
	return w
}

func created(c, u, now time.Time) (time.Time, time.Time) {
	if c.IsZero() {
		c = now
	}
	if u.IsZero() {
		u = c
	}
	return utcMicro(c), utcMicro(u)
}

// newEvents prepares outbox events written along with a change of grant g:
// AppID and GrantID default to the grant's, CreatedAt to now.
func newEvents(events []store.Event, appID, grantID string, now time.Time) []store.Event {
	out := make([]store.Event, len(events))
	for i, e := range events {
		if e.AppID == "" {
			e.AppID = appID
		}
		if e.GrantID == "" {
			e.GrantID = grantID
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		e.CreatedAt = utcMicro(e.CreatedAt)
		e.Seq = 0
		out[i] = e
	}
	return out
}
