package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// Secret rewrapping and the keyring check.

// blobColumn names one secret blob column and the primary key of its
// table.
type blobColumn struct {
	table  string
	keys   []string // primary key columns, in key order
	column string
}

// blobColumns lists every secret blob column of the schema. RewrapSecrets
// walks them all; a new blob column must be added here.
var blobColumns = []blobColumn{
	// First: a walk stopped at the first blob sees the keyring check.
	{table: "keyring_check", keys: []string{"id"}, column: "sealed"},
	{table: "connectors", keys: []string{"app_id", "provider"}, column: "secret"},
	{table: "credentials", keys: []string{"id"}, column: "data"},
	{table: "grants", keys: []string{"id"}, column: "secrets"},
	{table: "codes", keys: []string{"hash"}, column: "data"},
	{table: "webhooks", keys: []string{"id"}, column: "secret"},
	{table: "import_lines", keys: []string{"id"}, column: "sealed"},
	{table: "signing_keys", keys: []string{"id"}, column: "private_key"},
}

// blobRow is one non-empty value of a blobColumn, read for rewrapping.
type blobRow struct {
	key []any  // the primary key (strings), in key order
	old []byte // the value read
	new []byte // the rewrapped value
}

// RewrapSecrets walks every blob column in primary key order, batchSize rows
// at a time (100 when batchSize <= 0). Each batch is read from the read
// pool and its changed blobs are written in one transaction, each UPDATE
// conditional on the blob still holding the value that was read.
func (s *Store) RewrapSecrets(ctx context.Context, batchSize int, rewrap store.SecretRewrapper) (int, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	total := 0
	for _, bc := range blobColumns {
		n, err := s.rewrapColumn(ctx, bc, batchSize, rewrap)
		total += n
		if err != nil {
			return total, fmt.Errorf("rewrap %s.%s: %w", bc.table, bc.column, err)
		}
	}
	return total, nil
}

// rewrapColumn walks one blob column and returns the rows it rewrote.
func (s *Store) rewrapColumn(ctx context.Context, bc blobColumn, batchSize int, rewrap store.SecretRewrapper) (int, error) {
	keys := strings.Join(bc.keys, ", ")
	params := "?" + strings.Repeat(", ?", len(bc.keys)-1)
	match := strings.Join(bc.keys, " = ? AND ") + " = ?"
	first := s.render(fmt.Sprintf(`SELECT %s, %s FROM %s WHERE octet_length(%s) > 0 ORDER BY %s LIMIT ?`,
		keys, bc.column, bc.table, bc.column, keys))
	next := s.render(fmt.Sprintf(`SELECT %s, %s FROM %s WHERE (%s) > (%s) AND octet_length(%s) > 0 ORDER BY %s LIMIT ?`,
		keys, bc.column, bc.table, keys, params, bc.column, keys))
	write := s.render(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s AND %s = ?`, bc.table, bc.column, match, bc.column))

	total := 0
	var after []any
	for {
		var rows Rows
		var err error
		if after == nil {
			rows, err = s.db.Read().Query(ctx, first, batchSize)
		} else {
			rows, err = s.db.Read().Query(ctx, next, append(after, batchSize)...)
		}
		batch, err := collect(s, rows, err, "read", func(row Row) (blobRow, error) {
			return scanBlobRow(row, len(bc.keys))
		})
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		after = batch[len(batch)-1].key
		var changed []blobRow
		for _, r := range batch {
			out, ok, err := rewrap(r.old)
			if err != nil {
				return total, err
			}
			if ok && !bytes.Equal(out, r.old) {
				r.new = out
				changed = append(changed, r)
			}
		}
		if len(changed) > 0 {
			n, err := s.writeBlobs(ctx, write, changed)
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

// scanBlobRow reads a row (keys…, blob) of a table with nkeys key columns.
func scanBlobRow(row Row, nkeys int) (blobRow, error) {
	keys := make([]string, nkeys)
	r := blobRow{key: make([]any, nkeys)}
	dest := make([]any, nkeys+1)
	for i := range keys {
		dest[i] = &keys[i]
	}
	dest[nkeys] = &r.old
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	for i, k := range keys {
		r.key[i] = k
	}
	return r, nil
}

// writeBlobs stores each row's new value where the value is still the old
// one, in one transaction, and returns the rows it changed.
func (s *Store) writeBlobs(ctx context.Context, write string, changed []blobRow) (int, error) {
	written := 0
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		written = 0
		for _, r := range changed {
			n, err := q.Exec(ctx, write, append(append([]any{blob(r.new)}, r.key...), r.old)...)
			if err != nil {
				return s.err("write", err)
			}
			written += int(n)
		}
		return nil
	})
	return written, err
}

var (
	qInsertKeyringCheck = newStmt(`INSERT INTO keyring_check (id, sealed) VALUES ('keyring', ?) ON CONFLICT (id) DO NOTHING`)
	qGetKeyringCheck    = newStmt(`SELECT sealed FROM keyring_check WHERE id = 'keyring'`)
)

// KeyringCheck implements store.Store.
func (s *Store) KeyringCheck(ctx context.Context, sealed []byte) ([]byte, error) {
	var stored []byte
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		if _, err := q.Exec(ctx, s.sql(qInsertKeyringCheck), sealed); err != nil {
			return s.err("keyring check", err)
		}
		return s.err("keyring check", q.QueryRow(ctx, s.sql(qGetKeyringCheck)).Scan(&stored))
	})
	return stored, err
}
