package sqlite

import (
	"database/sql"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/internal/sqlutil"
)

// Grants, read by the lease statements (refresh.go).

const grantColumns = `id, app_id, created_at, provider, email, name, status, scope, settings, secrets, state, user_agent, ip,
	provider_user_id, credential_id, account_id, workspace_id, blocked, version, updated_at, access_token_expires_at,
	next_refresh_at, last_refresh_at, last_failure_at, last_failure_class, last_failure_message, lease_owner, lease_until, refresh_failures`

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
