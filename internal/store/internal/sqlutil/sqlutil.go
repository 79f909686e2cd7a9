// Package sqlutil holds the pure helpers shared by the SQL backends
// (internal/store/sqlite and internal/store/postgres): field encoding,
// normalisation of records before they are written, and validation of list
// options, and the walk of RewrapSecrets. It performs no I/O itself: the
// backends pass their own reads and writes in as closures.
package sqlutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Time normalises t to what the backends store: UTC, truncated to the
// microsecond. The zero time stays zero (it is stored as NULL).
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// EncodeJSON encodes a map or slice field. A nil value is encoded as the
// JSON null, an empty one as {} or [], so both round-trip exactly.
func EncodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode field: %w", err)
	}
	return b, nil
}

// DecodeStrings decodes a []string field written by EncodeJSON. An empty
// (NULL) column decodes to nil.
func DecodeStrings(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("store: decode list field: %w", err)
	}
	return v, nil
}

// DecodeMap decodes a map[string]any field written by EncodeJSON. Numbers
// decode as float64, as with encoding/json.
func DecodeMap(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("store: decode map field: %w", err)
	}
	return v, nil
}

// EmailKey is the value of a grant's unique email key column: the
// lower-cased email, or nil (SQL NULL, so never a duplicate) when the grant
// has no email.
func EmailKey(email string) any {
	if email == "" {
		return nil
	}
	return strings.ToLower(email)
}

// Order returns the ORDER BY clause for opts; tiebreak is the column that
// makes the order total (the primary key). Only known column names are
// ever returned, so the result is safe to splice into SQL.
func Order(opts store.ListOptions, tiebreak string) (string, error) {
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

// NewGrant prepares a grant for insertion: Version 1, times normalised,
// CreatedAt and UpdatedAt defaulted to now.
func NewGrant(g store.Grant, now time.Time) store.Grant {
	g.Version = 1
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = g.CreatedAt
	}
	return normGrant(g)
}

// UpdatedGrant pins the fields an update closure cannot change (ID, AppID,
// CreatedAt; Version becomes old.Version+1) and normalises the times.
func UpdatedGrant(old, g store.Grant) store.Grant {
	g.ID, g.AppID, g.CreatedAt = old.ID, old.AppID, old.CreatedAt
	g.Version = old.Version + 1
	return normGrant(g)
}

func normGrant(g store.Grant) store.Grant {
	g.RequireClient = false
	g.CreatedAt = Time(g.CreatedAt)
	g.UpdatedAt = Time(g.UpdatedAt)
	g.AccessTokenExpiresAt = Time(g.AccessTokenExpiresAt)
	g.NextRefreshAt = Time(g.NextRefreshAt)
	g.LastRefreshAt = Time(g.LastRefreshAt)
	g.LastFailureAt = Time(g.LastFailureAt)
	g.LeaseUntil = Time(g.LeaseUntil)
	return g
}

// NewApplication defaults and normalises the times of a new application.
func NewApplication(a store.Application, now time.Time) store.Application {
	a.CreatedAt, a.UpdatedAt = created(a.CreatedAt, a.UpdatedAt, now)
	return a
}

// UpdatedApplication pins ID and CreatedAt and normalises the times.
func UpdatedApplication(old, a store.Application) store.Application {
	a.ID, a.CreatedAt = old.ID, old.CreatedAt
	a.UpdatedAt = Time(a.UpdatedAt)
	return a
}

// NewAPIKey defaults and normalises the times of a new API key.
func NewAPIKey(k store.APIKey, now time.Time) store.APIKey {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	k.CreatedAt, k.RevokedAt = Time(k.CreatedAt), Time(k.RevokedAt)
	return k
}

// NewConnector defaults and normalises the times of a new connector.
func NewConnector(c store.Connector, now time.Time) store.Connector {
	c.CreatedAt, c.UpdatedAt = created(c.CreatedAt, c.UpdatedAt, now)
	return c
}

// UpdatedConnector pins AppID, Provider and CreatedAt and normalises the
// times.
func UpdatedConnector(old, c store.Connector) store.Connector {
	c.AppID, c.Provider, c.CreatedAt = old.AppID, old.Provider, old.CreatedAt
	c.UpdatedAt = Time(c.UpdatedAt)
	return c
}

// NewCredential defaults and normalises the times of a new credential.
func NewCredential(c store.Credential, now time.Time) store.Credential {
	c.CreatedAt, c.UpdatedAt = created(c.CreatedAt, c.UpdatedAt, now)
	return c
}

// UpdatedCredential pins ID, AppID, Provider and CreatedAt and normalises
// the times.
func UpdatedCredential(old, c store.Credential) store.Credential {
	c.ID, c.AppID, c.Provider, c.CreatedAt = old.ID, old.AppID, old.Provider, old.CreatedAt
	c.UpdatedAt = Time(c.UpdatedAt)
	return c
}

// NewCode defaults and normalises the times of a new code.
func NewCode(c store.Code, now time.Time) store.Code {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt, c.ExpiresAt = Time(c.CreatedAt), Time(c.ExpiresAt)
	return c
}

// NewWebhook defaults and normalises the times of a new webhook.
func NewWebhook(w store.Webhook, now time.Time) store.Webhook {
	w.CreatedAt, w.UpdatedAt = created(w.CreatedAt, w.UpdatedAt, now)
	w.StatusUpdatedAt = Time(w.StatusUpdatedAt)
	return w
}

// UpdatedWebhook pins ID, AppID and CreatedAt and normalises the times.
func UpdatedWebhook(old, w store.Webhook) store.Webhook {
	w.ID, w.AppID, w.CreatedAt = old.ID, old.AppID, old.CreatedAt
	w.UpdatedAt, w.StatusUpdatedAt = Time(w.UpdatedAt), Time(w.StatusUpdatedAt)
	return w
}

func created(c, u, now time.Time) (time.Time, time.Time) {
	if c.IsZero() {
		c = now
	}
	if u.IsZero() {
		u = c
	}
	return Time(c), Time(u)
}

// Events prepares outbox events written along with a change of grant g:
// AppID and GrantID default to the grant's, CreatedAt to now.
func Events(events []store.Event, appID, grantID string, now time.Time) []store.Event {
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
		e.CreatedAt = Time(e.CreatedAt)
		e.Seq = 0
		out[i] = e
	}
	return out
}

// BlobColumn names one secret blob column and the primary key of its
// table, for RewrapSecrets.
type BlobColumn struct {
	Table  string
	Keys   []string // primary key columns, in key order
	Column string
}

// BlobColumns lists every secret blob column of the schema. RewrapSecrets
// walks them all; a new blob column must be added here.
var BlobColumns = []BlobColumn{
	// First: a walk stopped at the first blob sees the keyring check.
	{Table: "keyring_check", Keys: []string{"id"}, Column: "sealed"},
	{Table: "connectors", Keys: []string{"app_id", "provider"}, Column: "secret"},
	{Table: "credentials", Keys: []string{"id"}, Column: "data"},
	{Table: "grants", Keys: []string{"id"}, Column: "secrets"},
	{Table: "codes", Keys: []string{"hash"}, Column: "data"},
	{Table: "webhooks", Keys: []string{"id"}, Column: "secret"},
}

// BlobRow is one non-empty value of a BlobColumn, read for rewrapping.
type BlobRow struct {
	Key []any  // the primary key (strings), in key order
	Old []byte // the value read
	New []byte // the rewrapped value (set by RewrapColumn)
}

// ScanBlobRow returns the scan destinations of a row (keys…, blob) of a
// table with nkeys key columns, and a function building the BlobRow once
// the row has been scanned.
func ScanBlobRow(nkeys int) ([]any, func() BlobRow) {
	keys := make([]string, nkeys)
	var blob []byte
	dest := make([]any, nkeys+1)
	for i := range keys {
		dest[i] = &keys[i]
	}
	dest[nkeys] = &blob
	return dest, func() BlobRow {
		r := BlobRow{Key: make([]any, nkeys), Old: blob}
		for i, k := range keys {
			r.Key[i] = k
		}
		return r
	}
}

// RewrapSecrets runs rewrapColumn on every column of BlobColumns
// (batchSize defaulting to 100) and returns the rows written.
func RewrapSecrets(batchSize int, rewrapColumn func(bc BlobColumn, batchSize int) (int, error)) (int, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	total := 0
	for _, bc := range BlobColumns {
		n, err := rewrapColumn(bc, batchSize)
		total += n
		if err != nil {
			return total, fmt.Errorf("rewrap %s.%s: %w", bc.Table, bc.Column, err)
		}
	}
	return total, nil
}

// RewrapColumn walks one blob column in primary key order, batchSize rows
// at a time: read returns up to batchSize rows after the key after (from
// the first row when after is nil); the rows whose value rewrap changes go
// to write, which must store each New only where the value is still Old,
// and returns how many rows it changed. RewrapColumn returns the rows
// written.
func RewrapColumn(batchSize int, rewrap store.SecretRewrapper,
	read func(after []any) ([]BlobRow, error), write func(changed []BlobRow) (int, error)) (int, error) {
	total := 0
	var after []any
	for {
		batch, err := read(after)
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		after = batch[len(batch)-1].Key
		var changed []BlobRow
		for _, r := range batch {
			out, ok, err := rewrap(r.Old)
			if err != nil {
				return total, err
			}
			if ok && !bytes.Equal(out, r.Old) {
				r.New = out
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			n, err := write(changed)
			if err != nil {
				return total, err
			}
			total += n
		}
		if len(batch) < batchSize {
			return total, nil
		}
	}
}
