-- grants_due (0002) serves every query on next_refresh_at (they all ask
-- for valid grants); grants_next_refresh only cost every grant write one
-- more b-tree update.
DROP INDEX IF EXISTS grants_next_refresh;
