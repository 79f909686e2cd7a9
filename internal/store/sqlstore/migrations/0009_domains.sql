-- Agent accounts (issue 14): the domains an application registers for its
-- agent mailboxes (provider "nylas"). An agent grant's address must be on
-- a domain of its application whose ownership TXT record and MX record
-- were verified through DNS. The token is the value of the ownership TXT
-- record: published in DNS by design, not a secret. A domain address is
-- unique per application.
CREATE TABLE domains (
	id                    text PRIMARY KEY,
	app_id                text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	name                  text NOT NULL,
	address               text NOT NULL,
	token                 text NOT NULL,
	mx_host               text NOT NULL,
	ownership_verified_at timestamptz,
	ownership_checked_at  timestamptz,
	mx_verified_at        timestamptz,
	mx_checked_at         timestamptz,
	created_at            timestamptz,
	updated_at            timestamptz,
	UNIQUE (app_id, address)
);
CREATE INDEX domains_app ON domains (app_id, id);
