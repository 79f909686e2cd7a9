-- The keyring check: a value sealed by the first node that used this
-- database, so that a node with another keyring is refused at start even
-- before any other secret exists (server.OpenCheckedVault). RewrapSecrets
-- re-encrypts it with the rest.
CREATE TABLE keyring_check (
	id     text PRIMARY KEY,
	sealed bytea NOT NULL
);
