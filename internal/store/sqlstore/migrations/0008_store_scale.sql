-- Every filter of GET /v3/grants answers from an index that also gives
-- the list's order: (app_id, the filtered column, the sort column, id),
-- one per sort column (created_at, updated_at), so a page of a filtered
-- list reads only the rows it returns, whatever the table's size.
-- ip, workspace_id, credential_id and account_id are often empty, and a
-- list never filters on the empty value: those indexes are partial, and
-- the list query repeats their predicate (col <> '') so the planner may
-- use them. email has its unique index (grants_app_email); since and
-- before are ranges on grants_app_created.
CREATE INDEX grants_app_status_created ON grants (app_id, status, created_at, id);
CREATE INDEX grants_app_status_updated ON grants (app_id, status, updated_at, id);
CREATE INDEX grants_app_provider_created ON grants (app_id, provider, created_at, id);
CREATE INDEX grants_app_provider_updated ON grants (app_id, provider, updated_at, id);
CREATE INDEX grants_app_ip_created ON grants (app_id, ip, created_at, id) WHERE ip <> '';
CREATE INDEX grants_app_ip_updated ON grants (app_id, ip, updated_at, id) WHERE ip <> '';
CREATE INDEX grants_app_workspace_created ON grants (app_id, workspace_id, created_at, id) WHERE workspace_id <> '';
CREATE INDEX grants_app_workspace_updated ON grants (app_id, workspace_id, updated_at, id) WHERE workspace_id <> '';
CREATE INDEX grants_app_credential_created ON grants (app_id, credential_id, created_at, id) WHERE credential_id <> '';
CREATE INDEX grants_app_credential_updated ON grants (app_id, credential_id, updated_at, id) WHERE credential_id <> '';
-- account_id is a v2 account's id: a handful of grants each at most, so
-- the matches of account_id/account_ids are few and sorted after the
-- lookup.
CREATE INDEX grants_app_account ON grants (app_id, account_id) WHERE account_id <> '';
