-- Runs after the shared 0007_hosted_oauth.sql (internal/store/sqlstore):
-- the callback URIs applications had (never settable through the API)
-- become redirect URIs with the ids GET /v3/applications showed for them.
INSERT INTO redirect_uris (id, app_id, url, platform, settings, created_at, updated_at)
	SELECT a.id || '-' || (j.ord - 1), a.id, j.url, 'web', '{}'::jsonb, a.created_at, a.updated_at
	FROM applications a CROSS JOIN LATERAL jsonb_array_elements_text(a.callback_uris) WITH ORDINALITY AS j (url, ord)
	ON CONFLICT DO NOTHING;
