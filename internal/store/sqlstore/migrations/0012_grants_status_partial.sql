-- The status indexes of 0008 hold only the grants that are not valid.
-- Almost every grant is valid, and each grant write (every create; on
-- SQLite an update that sets status, created_at or updated_at; on
-- PostgreSQL every update that is not HOT, such as a refresh's commit,
-- which changes next_refresh_at) maintained two entries for it there that
-- no list needs: a list of the valid grants reads grants_app_created or
-- grants_app_updated and skips the few others. The list query repeats
-- the predicate (status <> 'valid') when it filters on another status, so
-- that the planners may use them. provider and credential_id follow the
-- key (after id, they do not change the order): a page of a status with
-- one of them (the common pairs) is picked from the index alone, without
-- reading the table for the rows the second filter rejects.
DROP INDEX grants_app_status_created;
DROP INDEX grants_app_status_updated;
CREATE INDEX grants_app_status_created ON grants (app_id, status, created_at, id, provider, credential_id) WHERE status <> 'valid';
CREATE INDEX grants_app_status_updated ON grants (app_id, status, updated_at, id, provider, credential_id) WHERE status <> 'valid';
