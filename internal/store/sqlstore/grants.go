package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Grants.

const grantColumns = `id, app_id, created_at, provider, email, name, status, scope, settings, secrets, state, user_agent, ip,
	provider_user_id, credential_id, account_id, workspace_id, blocked, version, updated_at, access_token_expires_at,
	next_refresh_at, last_refresh_at, last_failure_at, last_failure_class, last_failure_message, lease_owner, lease_until, refresh_failures, failing_since`

// grantListColumns are what a list reads: every column but the secrets.
var grantListColumns = strings.Replace(grantColumns, " secrets,", "", 1)

// grantWriteColumns are the columns written by grantArgs, in order; the
// first three (id, app_id, created_at) never change after the insert.
var grantWriteColumns = append(strings.Split(strings.NewReplacer("\n", "", "\t", "", " ", "").Replace(grantColumns), ","), "email_key")

// insertGrantSQL inserts every written column of a grant.
var insertGrantSQL = `INSERT INTO grants (` + strings.Join(grantWriteColumns, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(grantWriteColumns)-1) + `)`

var (
	qInsertGrant = newStmt(insertGrantSQL)
	qGetGrant    = newStmt(`SELECT ` + grantColumns + ` FROM grants WHERE app_id = ? AND id = ?`)
	qLockGrant   = newStmt(`SELECT ` + grantColumns + ` FROM grants WHERE app_id = ? AND id = ?{forUpdate}`)
	qGrantEmail  = newStmt(`SELECT ` + grantColumns + ` FROM grants WHERE app_id = ? AND email_key = ?`)
	// A create that finds the email taken inserts nothing (no failed
	// statement to roll back); UpsertGrant then locks the grant there.
	qInsertGrantIfNew = newStmt(insertGrantSQL + ` ON CONFLICT (app_id, email_key) DO NOTHING`)
	qLockGrantEmail   = newStmt(`SELECT ` + grantColumns + ` FROM grants WHERE app_id = ? AND email_key = ?{forUpdate}`)
	qDeleteGrant      = newStmt(`DELETE FROM grants WHERE app_id = ? AND id = ?`)

	// The credential first, then the connector: the order DeleteConnector
	// deletes them in (the other order deadlocks with it on PostgreSQL).
	qRequireCredential = newStmt(`SELECT 1 FROM credentials WHERE app_id = ? AND id = ?{forKeyShare}`)
	qRequireConnector  = newStmt(`SELECT 1 FROM connectors WHERE app_id = ? AND provider = ?{forKeyShare}`)
)

func scanGrant(row Row) (store.Grant, error) {
	var (
		g               store.Grant
		scope, settings []byte
	)
	err := row.Scan(&g.ID, &g.AppID, td(&g.CreatedAt), &g.Provider, &g.Email, &g.Name, &g.Status, &scope, &settings, &g.Secrets,
		&g.State, &g.UserAgent, &g.IP, &g.ProviderUserID, &g.CredentialID, &g.AccountID, &g.WorkspaceID, &g.Blocked,
		&g.Version, td(&g.UpdatedAt), td(&g.AccessTokenExpiresAt), td(&g.NextRefreshAt), td(&g.LastRefreshAt), td(&g.LastFailureAt),
		&g.LastFailureClass, &g.LastFailureMessage, &g.LeaseOwner, td(&g.LeaseUntil), &g.RefreshFailures, td(&g.FailingSince))
	if err != nil {
		return g, err
	}
	g.Secrets = nilIfEmpty(g.Secrets)
	return g, decodeGrantJSON(&g, scope, settings)
}

// scanListedGrant reads a row of grantListColumns (Secrets stays nil).
func scanListedGrant(row Row) (store.Grant, error) {
	var (
		g               store.Grant
		scope, settings []byte
	)
	err := row.Scan(&g.ID, &g.AppID, td(&g.CreatedAt), &g.Provider, &g.Email, &g.Name, &g.Status, &scope, &settings,
		&g.State, &g.UserAgent, &g.IP, &g.ProviderUserID, &g.CredentialID, &g.AccountID, &g.WorkspaceID, &g.Blocked,
		&g.Version, td(&g.UpdatedAt), td(&g.AccessTokenExpiresAt), td(&g.NextRefreshAt), td(&g.LastRefreshAt), td(&g.LastFailureAt),
		&g.LastFailureClass, &g.LastFailureMessage, &g.LeaseOwner, td(&g.LeaseUntil), &g.RefreshFailures, td(&g.FailingSince))
	if err != nil {
		return g, err
	}
	return g, decodeGrantJSON(&g, scope, settings)
}

func decodeGrantJSON(g *store.Grant, scope, settings []byte) error {
	var err error
	if g.Scope, err = decodeStrings(scope); err != nil {
		return err
	}
	g.Settings, err = decodeMap(settings)
	return err
}

// grantArgs returns the values of grantWriteColumns.
func (s *Store) grantArgs(g store.Grant) ([]any, error) {
	scope, err := s.json(g.Scope)
	if err != nil {
		return nil, err
	}
	settings, err := s.json(g.Settings)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.AppID, s.time(g.CreatedAt), g.Provider, g.Email, g.Name, g.Status, scope, settings, blob(g.Secrets),
		g.State, g.UserAgent, g.IP, g.ProviderUserID, g.CredentialID, g.AccountID, g.WorkspaceID, g.Blocked,
		g.Version, s.time(g.UpdatedAt), s.time(g.AccessTokenExpiresAt), s.time(g.NextRefreshAt),
		s.time(g.LastRefreshAt), s.time(g.LastFailureAt), g.LastFailureClass, g.LastFailureMessage,
		g.LeaseOwner, s.time(g.LeaseUntil), g.RefreshFailures, s.time(g.FailingSince), emailKey(g.Email)}, nil
}

// CreateGrant prepares everything before the transaction, so that the
// closure the backend runs captures little (it escapes to the heap).
func (s *Store) CreateGrant(ctx context.Context, g store.Grant, events ...store.Event) error {
	now := s.now()
	client := requiredClient(g)
	g = newGrant(g, now)
	args, err := s.grantArgs(g)
	if err != nil {
		return err
	}
	// The insert and the events are the transaction's last statements:
	// on PostgreSQL they go with BEGIN and COMMIT in one round trip (with
	// the client checks first when the grant requires its client).
	stmts := s.eventStmts([]Stmt{{Op: "create grant", SQL: s.sql(qInsertGrant), Args: args}}, newEvents(events, g.AppID, g.ID, now))
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		if err := s.requireClient(ctx, q, client); err != nil {
			return err
		}
		return s.finish(ctx, q, stmts...)
	})
}

func (s *Store) UpsertGrant(ctx context.Context, g store.Grant, created []store.Event, reauth func(old store.Grant) (store.Grant, []store.Event, error)) (store.Grant, bool, error) {
	now := s.now()
	client := requiredClient(g)
	ng := newGrant(g, now)
	args, err := s.grantArgs(ng)
	if err != nil {
		return store.Grant{}, false, err
	}
	evs := newEvents(created, g.AppID, g.ID, now)
	var (
		out   store.Grant
		isNew bool
	)
	err = s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		if err := s.requireClient(ctx, q, client); err != nil {
			return err
		}
		n, err := q.Exec(ctx, s.sql(qInsertGrantIfNew), args...)
		if err != nil {
			return s.err("create grant", err)
		}
		if n == 1 {
			// The events go with the commit (PostgreSQL: one round trip).
			out, isNew = ng, true
			return s.finish(ctx, q, s.eventStmts(nil, evs)...)
		}
		// The email has a grant (on PostgreSQL, committed: a concurrent
		// insert of it was waited for). Deleted since, it is ErrNotFound.
		old, err := scanGrant(q.QueryRow(ctx, s.sql(qLockGrantEmail), g.AppID, emailKey(g.Email)))
		if err != nil {
			return s.err("re-authenticate grant", err)
		}
		u, events, err := reauth(old)
		if err != nil {
			return err
		}
		isNew = false
		out, err = s.writeLockedGrant(ctx, q, old, u, events, client, now)
		return err
	})
	if err != nil {
		return store.Grant{}, false, err
	}
	return out, isNew, nil
}

func (s *Store) GetGrant(ctx context.Context, appID, id string) (store.Grant, error) {
	g, err := scanGrant(s.db.Read().QueryRow(ctx, s.sql(qGetGrant), appID, id))
	return g, s.err("get grant", err)
}

func (s *Store) GetGrantByEmail(ctx context.Context, appID, email string) (store.Grant, error) {
	g, err := scanGrant(s.db.Read().QueryRow(ctx, s.sql(qGrantEmail), appID, emailKey(email)))
	return g, s.err("get grant by email", err)
}

func (s *Store) ListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error) {
	q, args, err := s.listGrantsQuery(appID, f)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read().Query(ctx, q, args...)
	if f.WithSecrets {
		return collect(s, rows, err, "list grants", scanGrant)
	}
	return collect(s, rows, err, "list grants", scanListedGrant)
}

// listGrantsQuery is ListGrants' statement. Every filter is a condition
// that one of the grants indexes (0001, 0008, 0012) answers in the list's
// order (status=valid, most grants, reads the unfiltered order and skips
// the others); the partial indexes' predicates (col <> ”) are repeated
// so that the planners may use them, and since and before are marked
// {likely} (SQLite, which has no statistics, otherwise prefers a range on
// grants_app_created to an equality filter's index). An offset walks the
// index over the grants it skips (keyset paging with After does not); on
// PostgreSQL (Flavor.PageIDsFirst) a page with an offset or two filters
// picks its ids from the index first and reads only its own rows.
func (s *Store) listGrantsQuery(appID string, f store.GrantFilter) (string, []any, error) {
	ord, err := order(f.ListOptions, "id")
	if err != nil {
		return "", nil, err
	}
	switch {
	case f.Email != "":
		// One grant at most (grants_app_email is unique): no order, so
		// that no planner walks an ordered index instead.
		ord = ""
	case len(f.AccountIDs) > 0:
		// A few grants: looked up by account, then sorted ({noIndexOrder}
		// keeps SQLite from walking the sort column's index instead).
		ord = strings.Replace(ord, "ORDER BY ", "ORDER BY {noIndexOrder}", 1)
	}
	where := []string{"app_id = ?"}
	args := []any{appID}
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("{likely}(created_at >= ?)", s.time(utcMicro(f.Since)))
	}
	if !f.Before.IsZero() {
		add("{likely}(created_at <= ?)", s.time(utcMicro(f.Before)))
	}
	if f.Email != "" {
		add("email_key = ?", emailKey(f.Email))
	}
	// combined counts the equality filters of the list (bar email and
	// account ids, which match a few grants), for PageIDsFirst.
	combined := 0
	for _, v := range []string{f.Status, f.IP, f.Provider, f.WorkspaceID, f.CredentialID} {
		if v != "" {
			combined++
		}
	}
	switch f.Status {
	case "":
	case store.GrantValid:
		// Most grants: read in the list's order, skipping the others
		// (the status indexes hold the grants that are not valid).
		add("status = ?", f.Status)
	default:
		add("status = ? AND status <> 'valid'", f.Status)
	}
	if f.IP != "" {
		add("ip = ? AND ip <> ''", f.IP)
	}
	if f.Provider != "" {
		add("provider = ?", f.Provider)
	}
	if f.WorkspaceID != "" {
		add("workspace_id = ? AND workspace_id <> ''", f.WorkspaceID)
	}
	if f.CredentialID != "" {
		add("credential_id = ? AND credential_id <> ''", f.CredentialID)
	}
	if len(f.AccountIDs) > 0 {
		cond, arg := s.f.AnyOf("account_id", f.AccountIDs)
		add(cond+" AND account_id <> ''", arg)
	}
	if f.After.ID != "" {
		// Keyset paging: the rows after (sort value, id) in the order.
		cmp := "<"
		if f.Asc {
			cmp = ">"
		}
		col := "created_at"
		if f.SortBy == "updated_at" {
			col = "updated_at"
		}
		where = append(where, "("+col+", id) "+cmp+" (?, ?)")
		args = append(args, s.time(utcMicro(f.After.At)), f.After.ID)
	}
	cols := grantListColumns
	if f.WithSecrets {
		cols = grantColumns
	}
	cond := strings.Join(where, " AND ")
	if s.f.PageIDsFirst && f.Limit > 0 && f.Email == "" && len(f.AccountIDs) == 0 && (f.Offset > 0 || combined > 1) {
		// The page's ids first, from the index alone where it can (an
		// index-only scan skips an offset's rows and checks a second
		// filter on the index's included columns without reading the
		// table), then its rows by primary key. ARRAY() makes the
		// subquery an InitPlan run once: as IN (…) the planner joined it
		// by hashing or sorting.
		q := `SELECT ` + cols + ` FROM grants WHERE id = ANY(ARRAY(SELECT id FROM grants WHERE ` + cond + " " + ord +
			s.limitOffset(f.Limit, f.Offset) + `)) ` + ord
		return s.render(q), args, nil
	}
	q := `SELECT ` + cols + ` FROM grants WHERE ` + cond + " " + ord + s.limitOffset(f.Limit, f.Offset)
	return s.render(q), args, nil
}

// ExplainListGrants returns the query plan of ListGrants(appID, f), one
// line per plan node (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
// PostgreSQL with sequential scans and sorts discouraged, so that the
// plan shows whether an index can answer the query in order even on a
// small table). For the tests that check every filter uses an index.
func (s *Store) ExplainListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]string, error) {
	q, args, err := s.listGrantsQuery(appID, f)
	if err != nil {
		return nil, err
	}
	return s.explain(ctx, s.f.ExplainSetup, q, args...)
}

// explain returns the plan of q, after the statements of setup in the
// same transaction.
func (s *Store) explain(ctx context.Context, setup []string, q string, args ...any) ([]string, error) {
	var plan []string
	err := s.db.Tx(ctx, func(ctx context.Context, tx Querier) error {
		plan = nil
		for _, st := range setup {
			if _, err := tx.Exec(ctx, st); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, s.f.Explain+q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			line, err := s.f.ExplainLine(rows)
			if err != nil {
				return err
			}
			plan = append(plan, line)
		}
		return rows.Err()
	})
	return plan, s.err("explain", err)
}

func (s *Store) UpdateGrant(ctx context.Context, appID, id string, update func(old store.Grant) (store.Grant, []store.Event, error)) (store.Grant, error) {
	var out store.Grant
	err := s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		old, err := scanGrant(q.QueryRow(ctx, s.sql(qLockGrant), appID, id))
		if err != nil {
			return s.err("update grant", err)
		}
		g, events, err := update(old)
		if err != nil {
			return err
		}
		out, err = s.writeLockedGrant(ctx, q, old, g, events, clientRef{}, s.now())
		return err
	})
	if err != nil {
		return store.Grant{}, err
	}
	return out, nil
}

// writeLockedGrant stores g over old, whose row q's transaction has
// locked, with events (UpdateGrant, and UpsertGrant's re-authentication):
// it checks the client g requires unless it is held, which the
// transaction already checked, and returns the grant as stored. The
// update and its events go with the commit (one round trip on
// PostgreSQL): the row is locked, so the update finds it.
func (s *Store) writeLockedGrant(ctx context.Context, q Querier, old, g store.Grant, events []store.Event, held clientRef, now time.Time) (store.Grant, error) {
	if g.RequireClient {
		g.AppID = old.AppID
		if c := requiredClient(g); c != held {
			if err := s.requireClient(ctx, q, c); err != nil {
				return store.Grant{}, err
			}
		}
	}
	g = updatedGrant(old, g)
	upd, err := s.updateGrantStmt(old, g)
	if err != nil {
		return store.Grant{}, err
	}
	if err := s.finish(ctx, q, s.eventStmts([]Stmt{upd}, newEvents(events, old.AppID, old.ID, now))...); err != nil {
		return store.Grant{}, err
	}
	return g, nil
}

// updateGrantStmt is the UPDATE that stores g over old: it sets only the
// columns whose values differ (version always does). SQLite maintains
// only the indexes of the columns an UPDATE sets, so a refresh's commit
// (token times, next refresh) leaves the list indexes alone. The
// statement of each set of columns is rendered once.
func (s *Store) updateGrantStmt(old, g store.Grant) (Stmt, error) {
	oldArgs, err := s.grantArgs(old)
	if err != nil {
		return Stmt{}, err
	}
	args, err := s.grantArgs(g)
	if err != nil {
		return Stmt{}, err
	}
	var set uint64 // bit i: grantWriteColumns[i]
	vals := make([]any, 0, len(args)-3+2)
	for i := 3; i < len(args); i++ {
		if !sameArg(oldArgs[i], args[i]) || grantWriteColumns[i] == "version" {
			set |= 1 << i
			vals = append(vals, args[i])
		}
	}
	q, ok := s.updateGrantSQL.Load(set)
	if !ok {
		var cols []string
		for i := 3; i < len(grantWriteColumns); i++ {
			if set&(1<<i) != 0 {
				cols = append(cols, grantWriteColumns[i]+" = ?")
			}
		}
		q, _ = s.updateGrantSQL.LoadOrStore(set, s.render(`UPDATE grants SET `+strings.Join(cols, ", ")+` WHERE id = ? AND app_id = ?`))
	}
	return Stmt{Op: "update grant", SQL: q.(string), Args: append(vals, g.ID, g.AppID)}, nil
}

// sameArg reports whether two encoded column values are the same value.
func sameArg(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b)
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	case string:
		b, ok := b.(string)
		return ok && a == b
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

func (s *Store) DeleteGrant(ctx context.Context, appID, id string, events ...store.Event) error {
	return s.db.Tx(ctx, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, s.sql(qDeleteGrant), appID, id)
		if err != nil {
			return s.err("delete grant", err)
		}
		if err := mustAffect("delete grant", n); err != nil {
			return err
		}
		return s.insertEvents(ctx, q, newEvents(events, appID, id, s.now()))
	})
}

// clientRef names the connector and credential a grant write requires
// (Grant.RequireClient); the zero value requires nothing.
type clientRef struct {
	require                       bool
	appID, provider, credentialID string
}

func requiredClient(g store.Grant) clientRef {
	if !g.RequireClient {
		return clientRef{}
	}
	return clientRef{require: true, appID: g.AppID, provider: g.Provider, credentialID: g.CredentialID}
}

// requireClient implements store.Grant.RequireClient. On PostgreSQL the
// rows are locked FOR KEY SHARE, so a deletion running concurrently waits
// for this transaction and then finds the grant it writes; on SQLite the
// single writer serialises the two.
func (s *Store) requireClient(ctx context.Context, q Querier, c clientRef) error {
	if !c.require {
		return nil
	}
	var one int
	var err error
	if c.credentialID != "" {
		err = q.QueryRow(ctx, s.sql(qRequireCredential), c.appID, c.credentialID).Scan(&one)
	}
	if err == nil {
		err = q.QueryRow(ctx, s.sql(qRequireConnector), c.appID, c.provider).Scan(&one)
	}
	if errors.Is(err, sql.ErrNoRows) { // pgx.ErrNoRows is one too
		return store.ErrClientGone
	}
	return s.err("check the grant's client", err)
}

// seedChunk is how many grants one statement of SeedGrants inserts
// (31 parameters each: under both databases' limits).
const seedChunk = 500

// SeedGrants inserts many grants fast, for tests and benchmarks only: one
// multi-row INSERT per 500 grants, one transaction per statement, no
// outbox events and no client checks (Grant.RequireClient is ignored).
// The grants are normalised as CreateGrant would.
func (s *Store) SeedGrants(ctx context.Context, gs []store.Grant) error {
	now := s.now()
	row := "(?" + strings.Repeat(", ?", len(grantWriteColumns)-1) + ")"
	for len(gs) > 0 {
		n := min(len(gs), seedChunk)
		args := make([]any, 0, n*len(grantWriteColumns))
		for _, g := range gs[:n] {
			a, err := s.grantArgs(newGrant(g, now))
			if err != nil {
				return err
			}
			args = append(args, a...)
		}
		q := s.render(`INSERT INTO grants (` + strings.Join(grantWriteColumns, ", ") + `) VALUES ` + row + strings.Repeat(", "+row, n-1))
		if err := s.db.Tx(ctx, func(ctx context.Context, tx Querier) error {
			_, err := tx.Exec(ctx, q, args...)
			return s.err("seed grants", err)
		}); err != nil {
			return err
		}
		gs = gs[n:]
	}
	if s.f.AfterSeed != "" {
		if _, err := s.db.Write().Exec(ctx, s.f.AfterSeed); err != nil {
			return s.err("seed grants", err)
		}
	}
	return nil
}
