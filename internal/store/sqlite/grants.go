package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

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

var (
	insertGrantSQL = `INSERT INTO grants (` + strings.Join(grantWriteColumns, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(grantWriteColumns)-1) + `)`
	updateGrantSQL = `UPDATE grants SET ` + strings.Join(grantWriteColumns[3:], " = ?, ") + ` = ? WHERE id = ? AND app_id = ?`
)

func scanGrant(row scanner) (store.Grant, error) {
	var (
		g                                                   store.Grant
		scope, settings                                     []byte
		created, updated, expires, next, last, lastF, lease sql.NullInt64
	)
	err := row.Scan(&g.ID, &g.AppID, &created, &g.Provider, &g.Email, &g.Name, &g.Status, &scope, &settings, &g.Secrets,
		&g.State, &g.UserAgent, &g.IP, &g.ProviderUserID, &g.CredentialID, &g.AccountID, &g.WorkspaceID, &g.Blocked,
		&g.Version, &updated, &expires, &next, &last, &lastF, &g.LastFailureClass, &g.LastFailureMessage,
		&g.LeaseOwner, &lease, &g.RefreshFailures)
	if err != nil {
		return g, err
	}
	g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
	g.AccessTokenExpiresAt, g.NextRefreshAt = fromMicros(expires), fromMicros(next)
	g.LastRefreshAt, g.LastFailureAt = fromMicros(last), fromMicros(lastF)
	g.LeaseUntil = fromMicros(lease)
	g.Secrets = nilIfEmpty(g.Secrets)
	if g.Scope, err = sqlutil.DecodeStrings(scope); err != nil {
		return g, err
	}
	g.Settings, err = sqlutil.DecodeMap(settings)
	return g, err
}

// grantArgs returns the values of grantWriteColumns.
func grantArgs(g store.Grant) ([]any, error) {
	scope, err := encodeJSON(g.Scope)
	if err != nil {
		return nil, err
	}
	settings, err := encodeJSON(g.Settings)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.AppID, micros(g.CreatedAt), g.Provider, g.Email, g.Name, g.Status, scope, settings, blob(g.Secrets),
		g.State, g.UserAgent, g.IP, g.ProviderUserID, g.CredentialID, g.AccountID, g.WorkspaceID, g.Blocked,
		g.Version, micros(g.UpdatedAt), micros(g.AccessTokenExpiresAt), micros(g.NextRefreshAt),
		micros(g.LastRefreshAt), micros(g.LastFailureAt), g.LastFailureClass, g.LastFailureMessage,
		g.LeaseOwner, micros(g.LeaseUntil), g.RefreshFailures, sqlutil.EmailKey(g.Email)}, nil
}

func (s *Store) CreateGrant(ctx context.Context, g store.Grant, events ...store.Event) error {
	now := s.now()
	check := g
	g = sqlutil.NewGrant(g, now)
	args, err := grantArgs(g)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := requireClient(ctx, tx, check); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertGrantSQL, args...); err != nil {
			return dbErr("create grant", err)
		}
		return insertEvents(ctx, tx, sqlutil.Events(events, g.AppID, g.ID, now))
	})
}

func (s *Store) GetGrant(ctx context.Context, appID, id string) (store.Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = ? AND id = ?`, appID, id))
	return g, dbErr("get grant", err)
}

func (s *Store) GetGrantByEmail(ctx context.Context, appID, email string) (store.Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = ? AND email_key = ?`,
		appID, sqlutil.EmailKey(email)))
	return g, dbErr("get grant by email", err)
}

func (s *Store) ListGrants(ctx context.Context, appID string, f store.GrantFilter) ([]store.Grant, error) {
	order, err := sqlutil.Order(f.ListOptions, "id")
	if err != nil {
		return nil, err
	}
	where := []string{"app_id = ?"}
	args := []any{appID}
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", sqlutil.Time(f.Since).UnixMicro())
	}
	if !f.Before.IsZero() {
		add("created_at <= ?", sqlutil.Time(f.Before).UnixMicro())
	}
	if f.Email != "" {
		add("email_key = ?", sqlutil.EmailKey(f.Email))
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.IP != "" {
		add("ip = ?", f.IP)
	}
	if f.Provider != "" {
		add("provider = ?", f.Provider)
	}
	if f.WorkspaceID != "" {
		add("workspace_id = ?", f.WorkspaceID)
	}
	if f.CredentialID != "" {
		add("credential_id = ?", f.CredentialID)
	}
	if len(f.AccountIDs) > 0 {
		ids, err := encodeJSON(f.AccountIDs)
		if err != nil {
			return nil, err
		}
		add("account_id IN (SELECT value FROM json_each(?))", ids)
	}
	q := `SELECT ` + grantColumns + ` FROM grants WHERE ` + strings.Join(where, " AND ") + " " + order + limitOffset(f.Limit, f.Offset)
	rows, err := s.r.QueryContext(ctx, q, args...)
	return collect(rows, err, "list grants", scanGrant)
}

func (s *Store) UpdateGrant(ctx context.Context, appID, id string, update func(old store.Grant) (store.Grant, []store.Event, error)) (store.Grant, error) {
	var out store.Grant
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE app_id = ? AND id = ?`, appID, id))
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
		if _, err := tx.ExecContext(ctx, updateGrantSQL, append(args[3:], id, appID)...); err != nil {
			return dbErr("update grant", err)
		}
		if err := insertEvents(ctx, tx, sqlutil.Events(events, appID, id, s.now())); err != nil {
			return err
		}
		out = g
		return nil
	})
	return out, err
}

func (s *Store) DeleteGrant(ctx context.Context, appID, id string, events ...store.Event) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM grants WHERE app_id = ? AND id = ?`, appID, id)
		if err != nil {
			return dbErr("delete grant", err)
		}
		if err := mustAffect("delete grant", res); err != nil {
			return err
		}
		return insertEvents(ctx, tx, sqlutil.Events(events, appID, id, s.now()))
	})
}

const eventColumns = `seq, id, app_id, type, grant_id, payload, created_at`

func insertEvents(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	for _, e := range events {
		_, err := tx.ExecContext(ctx, `INSERT INTO events (id, app_id, type, grant_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, e.AppID, e.Type, e.GrantID, blob(e.Payload), micros(e.CreatedAt))
		if err != nil {
			return dbErr("insert event", err)
		}
	}
	return nil
}

func scanEvent(row scanner) (store.Event, error) {
	var (
		e       store.Event
		payload []byte
		created sql.NullInt64
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.AppID, &e.Type, &e.GrantID, &payload, &created); err != nil {
		return e, err
	}
	e.CreatedAt = fromMicros(created)
	if len(payload) > 0 {
		e.Payload = payload
	}
	return e, nil
}

// ListEvents returns up to limit events (all when limit <= 0) with Seq
// greater than afterSeq, in Seq order.
func (s *Store) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE seq > ? ORDER BY seq`+limitOffset(limit, 0), afterSeq)
	return collect(rows, err, "list events", scanEvent)
}

// requireClient implements store.Grant.RequireClient (the single writer
// serialises it with deletions).
func requireClient(ctx context.Context, tx *sql.Tx, g store.Grant) error {
	if !g.RequireClient {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM connectors WHERE app_id = ? AND provider = ?`, g.AppID, g.Provider).Scan(&one)
	if err == nil && g.CredentialID != "" {
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM credentials WHERE app_id = ? AND id = ?`, g.AppID, g.CredentialID).Scan(&one)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrClientGone
	}
	return dbErr("check the grant's client", err)
}
