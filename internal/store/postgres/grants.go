package postgres

import (

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Grants, read by the lease statements (refresh.go).

const grantColumns = `id, app_id, created_at, provider, email, name, status, scope, settings, secrets, state, user_agent, ip,
	provider_user_id, credential_id, account_id, workspace_id, blocked, version, updated_at, access_token_expires_at,
	next_refresh_at, last_refresh_at, last_failure_at, last_failure_class, last_failure_message, lease_owner, lease_until, refresh_failures`

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
