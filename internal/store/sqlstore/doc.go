// Package sqlstore is the one implementation of store.Store over SQL,
// shared by the SQLite backend (internal/store/sqlite) and the PostgreSQL
// backend (internal/store/postgres), the way dex's storage/sql serves
// several databases: every query and every transaction is written here
// once; a backend supplies what its database needs underneath.
//
// # What a backend supplies
//
// A DB: its connections and its way of running a transaction.
//
//   - Read: reads outside a transaction (SQLite: a pool of read-only
//     connections beside the writer; PostgreSQL: the pgx pool).
//   - Tx: a durable write transaction. SQLite hands it to its single
//     writer goroutine, which commits concurrent transactions together
//     (group commit) at synchronous=FULL; PostgreSQL begins a READ
//     COMMITTED transaction on the pool (synchronous_commit=on).
//   - Write: one statement as a durable transaction of its own
//     (SQLite: through the group writer; PostgreSQL: on the pool).
//   - Lease: one statement for the refresh leases, which need atomicity
//     but not durability against a crash of the machine (SQLite: directly
//     on the writer connection at synchronous=NORMAL, not batched).
//
// A Flavor: the dialect. Statements are written once with ? placeholders
// and the markers {forUpdate}, {forKeyShare} and {skipLocked}; a Store
// renders each registered statement once when it is created (numbered
// placeholders for PostgreSQL; FOR UPDATE, FOR KEY SHARE and FOR UPDATE
// SKIP LOCKED there, nothing on SQLite, whose single writer serialises all
// writes). The flavour also encodes times (unix microseconds or
// timestamptz; TimeDest reads both) and JSON (TEXT or jsonb), writes "col
// is one of" (json_each or = ANY), maps driver errors to the store's, and
// names the advisory locks PostgreSQL takes before appending outbox events
// and before applying a migration.
//
// Migrations are written once too (migrations/NNNN_name.sql here, in
// PostgreSQL's types); the flavour's DDL translates them (SQLite: INTEGER
// times, TEXT JSON, BLOB, STRICT tables), and a backend's own
// migrations/ holds only a step whose SQL really differs (migrate.go).
//
// # Adding a table
//
// Add its migration (migrations/ here, the next number), a file here
// with its columns, its statements (newStmt, ? placeholders, markers for
// row locks) and its methods, a case in blobColumns if it holds a secret,
// and the entity's file in internal/store/conformance.
//
// # Rules the queries follow
//
//   - Times are stored in UTC with microsecond precision, NULL for the zero
//     time; nil and empty blobs are stored as NULL and read back as nil.
//   - Updates read the record with {forUpdate} in the transaction that
//     writes it, and pass it to the caller's closure.
//   - Grant writes with RequireClient read the credential before the
//     connector ({forKeyShare}), the order DeleteConnector deletes them in.
//   - Statements contain no ? other than placeholders.
package sqlstore
