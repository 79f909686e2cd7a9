package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Grants and their outbox events.

const grantColumns = `id, app_id, created_at, provider, email, name, status, scope, settings, secrets, state, user_agent, ip,
	provider_user_id, credential_id, account_id, workspace_id, blocked, version, updated_at, access_token_expires_at,
	next_refresh_at, last_refresh_at, last_failure_at, last_failure_class, last_failure_message, lease_owner, lease_until, refresh_failures`

// grantWriteColumns are the columns written by grantArgs, in order; the
// first three (id, app_id, created_at) never change after the insert.
var grantWriteColumns = append(strings.Split(strings.NewReplacer("\n", "", "\t", "", " ", "").Replace(grantColumns), ","), "email_key")

var insertGrantSQL, updateGrantSQL = grantSQL()

func grantSQL() (insert, update string) {
	params := make([]string, len(grantWriteColumns))
	sets := make([]string, 0, len(grantWriteColumns)-3)
	for i, col := range grantWriteColumns {
		params[i] = fmt.Sprintf("$%d", i+1)
		if i >= 3 {
			sets = append(sets, fmt.Sprintf("%s = $%d", col, i-2))
		}
	}
	insert = `INSERT INTO grants (` + strings.Join(grantWriteColumns, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
	update = `UPDATE grants SET ` + strings.Join(sets, ", ") + fmt.Sprintf(` WHERE id = $%d AND app_id = $%d`, len(sets)+1, len(sets)+2)
	return insert, update
}

func scanGrant(row pgx.Row) (store.Grant, error) {
	var (
		g                                                   store.Grant
		scope, settings                                     []byte
		created, updated, expires, next, last, lastF, lease pgtype.Timestamptz
	)
	err := row.Scan(&g.ID, &g.AppID, &created, &g.Provider, &g.Email, &g.Name, &g.Status, &scope, &settings, &g.Secrets,
		&g.State, &g.UserAgent, &g.IP, &g.ProviderUserID, &g.CredentialID, &g.AccountID, &g.WorkspaceID, &g.Blocked,
		&g.Version, &updated, &expires, &next, &last, &lastF, &g.LastFailureClass, &g.LastFailureMessage,
		&g.LeaseOwner, &lease, &g.RefreshFailures)
	if err != nil {
		return g, err
	}
	g.CreatedAt, g.UpdatedAt = fromTS(created), fromTS(updated)
	g.AccessTokenExpiresAt, g.NextRefreshAt = fromTS(expires), fromTS(next)
	g.LastRefreshAt, g.LastFailureAt = fromTS(last), fromTS(lastF)
	g.LeaseUntil = fromTS(lease)
	g.Secrets = nilIfEmpty(g.Secrets)
	if g.Scope, err = sqlutil.DecodeStrings(scope); err != nil {
		return g, err
	}
	g.Settings, err = sqlutil.DecodeMap(settings)
	return g, err
}

// grantArgs returns the values of grantWriteColumns.
func grantArgs(g store.Grant) ([]any, error) {
	scope, err := sqlutil.EncodeJSON(g.Scope)
	if err != nil {
		return nil, err
	}
	settings, err := sqlutil.EncodeJSON(g.Settings)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.AppID, ts(g.CreatedAt), g.Provider, g.Email, g.Name, g.Status, scope, settings, blob(g.Secrets),
		g.State, g.UserAgent, g.IP, g.ProviderUserID, g.CredentialID, g.AccountID, g.WorkspaceID, g.Blocked,
		g.Version, ts(g.UpdatedAt), ts(g.AccessTokenExpiresAt), ts(g.NextRefreshAt),
		ts(g.LastRefreshAt), ts(g.LastFailureAt), g.LastFailureClass, g.LastFailureMessage,
		g.LeaseOwner, ts(g.LeaseUntil), g.RefreshFailures, sqlutil.EmailKey(g.Email)}, nil
}

func (s *Store) CreateGrant(ctx context.Context, g store.Grant, events ...store.Event) error {
	now := s.now()
	check := g
	g = sqlutil.NewGrant(g, now)
	args, err := grantArgs(g)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := requireClient(ctx, tx, check); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertGrantSQL, args...); err != nil {
			return dbErr("create grant", err)
		}
		return s.insertEvents(ctx, tx, sqlutil.Events(events, g.AppID, g.ID, now))
	})
}

func (s *Store) GetGrant(ctx context.Context, appID, id string) (store.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = $1 AND id = $2`, appID, id))
	return g, dbErr("get grant", err)
}

func (s *Store) GetGrantByEmail(ctx context.Context, appID, email string) (store.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = $1 AND email_key = $2`,
		appID, sqlutil.EmailKey(email)))
	return g, dbErr("get grant by email", err)
}

func (s *Store) ListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error) {
	order, err := sqlutil.Order(f.ListOptions, "id")
	if err != nil {
		return nil, err
	}
	where := []string{"app_id = $1"}
	args := []any{appID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if !f.Since.IsZero() {
		add("created_at >= $%d", sqlutil.Time(f.Since))
	}
	if !f.Before.IsZero() {
		add("created_at <= $%d", sqlutil.Time(f.Before))
	}
	if f.Email != "" {
		add("email_key = $%d", sqlutil.EmailKey(f.Email))
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.IP != "" {
		add("ip = $%d", f.IP)
	}
	if f.Provider != "" {
		add("provider = $%d", f.Provider)
	}
	if f.WorkspaceID != "" {
		add("workspace_id = $%d", f.WorkspaceID)
	}
	if f.CredentialID != "" {
		add("credential_id = $%d", f.CredentialID)
	}
	if len(f.AccountIDs) > 0 {
		add("account_id = ANY($%d)", f.AccountIDs)
	}
	q := `SELECT ` + grantColumns + ` FROM grants WHERE ` + strings.Join(where, " AND ") + " " + order + limitOffset(f.Limit, f.Offset)
	rows, err := s.pool.Query(ctx, q, args...)
	return collect(rows, err, "list grants", scanGrant)
}

func (s *Store) UpdateGrant(ctx context.Context, appID, id string, update func(old store.Grant) (store.Grant, []store.Event, error)) (store.Grant, error) {
	var out store.Grant
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = $1 AND id = $2 FOR UPDATE`, appID, id))
		if err != nil {
			return dbErr("update grant", err)
		}
		g, events, err := update(old)
		if err != nil {
			return err
		}
		if g.RequireClient {
			g.AppID = old.AppID
			if err := requireClient(ctx, tx, g); err != nil {
				return err
			}
		}
		g = sqlutil.UpdatedGrant(old, g)
		args, err := grantArgs(g)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, updateGrantSQL, append(args[3:], id, appID)...); err != nil {
			return dbErr("update grant", err)
		}
		if err := s.insertEvents(ctx, tx, sqlutil.Events(events, appID, id, s.now())); err != nil {
			return err
		}
		out = g
		return nil
	})
	return out, err
}

func (s *Store) DeleteGrant(ctx context.Context, appID, id string, events ...store.Event) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM grants WHERE app_id = $1 AND id = $2`, appID, id)
		if err != nil {
			return dbErr("delete grant", err)
		}
		if err := mustAffect("delete grant", res); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, sqlutil.Events(events, appID, id, s.now()))
	})
}

const eventColumns = `seq, id, app_id, type, grant_id, payload, created_at`

// insertEvents appends events to the outbox. It first takes the events
// advisory lock, held until the transaction ends, so that transactions
// holding events commit one at a time, in the order of their Seq values.
func (s *Store) insertEvents(ctx context.Context, tx pgx.Tx, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.eventsLock); err != nil {
		return dbErr("lock events", err)
	}
	for _, e := range events {
		_, err := tx.Exec(ctx, `INSERT INTO events (id, app_id, type, grant_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.ID, e.AppID, e.Type, e.GrantID, blob(e.Payload), ts(e.CreatedAt))
		if err != nil {
			return dbErr("insert event", err)
		}
	}
	return nil
}

func scanEvent(row pgx.Row) (store.Event, error) {
	var (
		e       store.Event
		payload []byte
		created pgtype.Timestamptz
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.AppID, &e.Type, &e.GrantID, &payload, &created); err != nil {
		return e, err
	}
	e.CreatedAt = fromTS(created)
	if len(payload) > 0 {
		e.Payload = payload
	}
	return e, nil
}

// ListEvents returns up to limit events (all when limit <= 0) with Seq
// greater than afterSeq, in Seq order.
func (s *Store) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE seq > $1 ORDER BY seq`+limitOffset(limit, 0), afterSeq)
	return collect(rows, err, "list events", scanEvent)
}

// requireClient implements store.Grant.RequireClient: the rows are locked
// FOR KEY SHARE, so a deletion running concurrently waits for this
// transaction and then finds the grant it writes.
func requireClient(ctx context.Context, tx pgx.Tx, g store.Grant) error {
	if !g.RequireClient {
		return nil
	}
	// The credential first, then the connector: the order DeleteConnector
	// deletes them in (the other order deadlocks with it).
	var one int
	var err error
	if g.CredentialID != "" {
		err = tx.QueryRow(ctx, `SELECT 1 FROM credentials WHERE app_id = $1 AND id = $2 FOR KEY SHARE`, g.AppID, g.CredentialID).Scan(&one)
	}
	if err == nil {
		err = tx.QueryRow(ctx, `SELECT 1 FROM connectors WHERE app_id = $1 AND provider = $2 FOR KEY SHARE`, g.AppID, g.Provider).Scan(&one)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrClientGone
	}
	return dbErr("check the grant's client", err)
}
