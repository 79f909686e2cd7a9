-- Runs after the shared 0007_hosted_oauth.sql (internal/store/sqlstore):
-- the callback URIs applications had (never settable through the API)
-- become redirect URIs with the ids GET /v3/applications showed for them.
INSERT OR IGNORE INTO redirect_uris (id, app_id, url, platform, settings, created_at, updated_at)
	SELECT a.id || '-' || j.key, a.id, j.value, 'web', '{}', a.created_at, a.updated_at
	FROM applications a, json_each(a.callback_uris) j WHERE j.type = 'text';
