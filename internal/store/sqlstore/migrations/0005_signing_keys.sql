-- Hosted OAuth's id_tokens (issue 12).

-- The keys grantd signs id_tokens with, shared by every node. seq orders
-- them: the highest signs, the others are still published (JWKS) until
-- they are retired. A node that finds no key, or a key due for rotation,
-- inserts the next seq; of two nodes doing so at once one insert fails on
-- the unique seq and that node reads the other's key instead. The private
-- key (PKCS #8) is sealed by the vault; the public key is PKIX DER.
CREATE TABLE signing_keys (
	id          text PRIMARY KEY,
	seq         bigint NOT NULL UNIQUE,
	alg         text NOT NULL,
	private_key bytea NOT NULL,
	public_key  bytea NOT NULL,
	created_at  timestamptz
);
