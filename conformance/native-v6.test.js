// The legacy v2 Node SDK, nylas@6.11.1 (installed as nylas-v6), against
// grantd's v2 native authentication: Nylas.config({clientId, clientSecret,
// apiServer}), Nylas.connect.authorize(NativeAuthentication | VirtualCalendar)
// and Nylas.connect.token(code), for every native provider: gmail and
// office365 against the OAuth sandbox, exchange against the EWS stand-in,
// imap and icloud against the mail stand-in, and yahoo, aol, hotmail and
// outlook against the mail stand-in too, which grantd dev maps their
// servers from detection's table to (docs/dev.md, native_identities).
//
// The v6 SDK sends its requests with node-fetch, not globalThis.fetch: the
// recorder does not see them. Its errors are NylasApiError(statusCode,
// type, message) read from v2's {message, type} body.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { useGrantd, uniqueEmail } from './harness.js';

const require = createRequire(import.meta.url);
const NylasV6 = require('nylas-v6');
const { NativeAuthentication, VirtualCalendar } = require('nylas-v6/lib/models/connect');

const g = useGrantd();

// configure points the v6 SDK (global configuration) at this grantd.
function configure(clientId = g.applicationId) {
  NylasV6.config({ clientId, clientSecret: g.apiKey, apiServer: g.apiUri });
}

// tokenServed reports whether this grantd serves POST /connect/token (it
// needs the access-token store of hosted OAuth).
async function tokenServed() {
  const res = await fetch(`${g.apiUri}/connect/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  return res.status !== 404;
}

async function expectV6Error(promise, { status, type, message, what }) {
  let err;
  try {
    const v = await promise;
    assert.fail(`${what} resolved (${JSON.stringify(v)?.slice(0, 300)}) but should have raised`);
  } catch (e) {
    if (e?.code === 'ERR_ASSERTION') throw e;
    err = e;
  }
  // The v6 NylasApiError extends Error the ES5 way, so it is no instanceof
  // of its class: recognise it by its fields.
  assert.ok(err?.errorMapping && typeof err.statusCode === 'number', `${what}: expected the v6 NylasApiError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.statusCode, status, `${what}: statusCode (${err.message})`);
  assert.equal(err.type, type, `${what}: type (${err.message})`);
  if (message) assert.match(err.message, message, `${what}: message`);
  return err;
}

// authorize runs Nylas.connect.authorize with a NativeAuthentication.
async function authorize({ name, emailAddress, provider, settings, scopes = [] }, clientId) {
  configure(clientId);
  const res = await NylasV6.connect.authorize({ name, emailAddress, provider, settings, scopes });
  assert.equal(typeof res.code, 'string');
  assert.ok(res.code.length >= 40, `code ${res.code}`);
  assert.deepEqual(Object.keys(res), ['code']);
  return res.code;
}

// redeem runs Nylas.connect.token and checks the v2 account object.
async function redeem(t, code, { provider, email, secrets = [] }) {
  if (!(await tokenServed())) {
    t.skip('this grantd does not serve POST /connect/token yet (it needs the access-token store of hosted OAuth)');
    return undefined;
  }
  const account = await NylasV6.connect.token(code);
  assert.match(account.id, /^[0-9a-f-]{36}$/);
  assert.equal(account.accountId, account.id);
  assert.equal(account.provider, provider);
  assert.equal(account.emailAddress, email.toLowerCase());
  assert.equal(account.syncState, 'running');
  assert.ok(account.organizationUnit === 'label' || account.organizationUnit === 'folder');
  assert.equal(typeof account.accessToken, 'string');
  assert.ok(account.accessToken.length > 20);
  const json = JSON.stringify(account);
  for (const s of secrets) assert.ok(!json.includes(s), 'the account must not carry a credential');
  // The access token is a grantd token for the grant: /v3/grants/me knows it.
  const me = await fetch(`${g.apiUri}/v3/grants/me`, { headers: { Authorization: `Bearer ${account.accessToken}` } });
  assert.equal(me.status, 200, 'GET /v3/grants/me with the access token');
  assert.equal((await me.json()).data.id, account.id);
  // A code is single use.
  await expectV6Error(NylasV6.connect.token(code), { status: 400, type: 'invalid_request_error', message: /invalid, expired or already used/, what: 'a code redeemed twice' });
  return account;
}

describe('Nylas v6 connect: password providers', () => {
  it('imap: authorize and token', async (t) => {
    const id = g.identities.imap;
    const code = await authorize({ name: 'IMAP User', emailAddress: id.email, provider: 'imap', settings: { ...id.settings, ssl_required: true }, scopes: ['email', 'calendar'] });
    await redeem(t, code, { provider: 'imap', email: id.email, secrets: [id.settings.imap_password] });
  });

  it('icloud: authorize and token with the app password', async (t) => {
    const id = g.identities.icloud;
    const code = await authorize({ name: 'iCloud User', emailAddress: id.email, provider: 'icloud', settings: { username: id.settings.username, password: id.settings.password } });
    await redeem(t, code, { provider: 'icloud', email: id.email, secrets: [id.settings.password] });
  });

  it('exchange: authorize and token (exchange_server_host)', async (t) => {
    const id = g.identities.ews;
    const code = await authorize({
      name: 'EWS User', emailAddress: id.email, provider: 'exchange', scopes: ['email', 'contacts'],
      settings: { username: id.settings.ews_username, password: id.settings.ews_password, exchange_server_host: `${id.settings.ews_host}:${id.settings.ews_port}` },
    });
    await redeem(t, code, { provider: 'exchange', email: id.email, secrets: [id.settings.ews_password] });
  });

  it('a wrong password is a v2 403 auth_error, without the password', async () => {
    const id = g.identities.imap;
    const wrong = 'not-the-password-' + Date.now();
    const err = await expectV6Error(authorize({ name: 'x', emailAddress: id.email, provider: 'imap', settings: { ...id.settings, imap_password: wrong } }),
      { status: 403, type: 'auth_error', message: /username or password/, what: 'wrong IMAP password' });
    assert.ok(!err.message.includes(wrong));
  });

  it('a missing setting is a v2 400 naming it', async () => {
    await expectV6Error(authorize({ name: 'x', emailAddress: 'a@icloud.example', provider: 'icloud', settings: {} }),
      { status: 400, type: 'invalid_request_error', message: /settings\.password is required/, what: 'iCloud without a password' });
  });

  it('a client_id that is no application is a v2 401', async () => {
    const id = g.identities.icloud;
    await expectV6Error(authorize({ name: 'x', emailAddress: id.email, provider: 'icloud', settings: id.settings }, randomUUID()),
      { status: 401, type: 'auth_error', message: /not the id of an application/, what: 'unknown client_id' });
  });
});

// yahoo, aol, hotmail and outlook take a username and a password and log
// in to the IMAP and SMTP servers detection's table names for the service;
// grantd dev's mail stand-in answers for those servers.
describe('Nylas v6 connect: mail services (yahoo, aol, hotmail, outlook)', () => {
  for (const provider of ['yahoo', 'aol', 'hotmail', 'outlook']) {
    it(`${provider}: authorize and token`, async (t) => {
      const id = g.nativeIdentities?.[provider];
      assert.ok(id, `dev.json has no native_identities.${provider}`);
      const code = await authorize({ name: `${provider} user`, emailAddress: id.email, provider, settings: id.settings, scopes: ['email', 'calendar'] });
      const account = await redeem(t, code, { provider, email: id.email, secrets: [id.settings.password] });
      if (account) assert.equal(account.organizationUnit, 'folder');
    });

    it(`${provider}: a wrong password is a v2 403 auth_error with a message, without the password`, async () => {
      const id = g.nativeIdentities?.[provider];
      assert.ok(id, `dev.json has no native_identities.${provider}`);
      const wrong = `not-the-${provider}-password-${Date.now()}`;
      const err = await expectV6Error(authorize({ name: 'x', emailAddress: id.email, provider, settings: { username: id.settings.username, password: wrong } }),
        { status: 403, type: 'auth_error', what: `wrong ${provider} password` });
      assert.equal(typeof err.message, 'string');
      assert.ok(err.message.trim().length >= 10, `${provider}: the SDK error's message should say what is wrong, got ${JSON.stringify(err.message)}`);
      assert.match(err.message, /username or password/, `${provider}: message`);
      assert.ok(!err.message.includes(wrong), `${provider}: the message repeats the password`);
    });
  }

  it('credentials of another address than emailAddress are a v2 400, and no account', async () => {
    const id = g.nativeIdentities?.yahoo;
    assert.ok(id, 'dev.json has no native_identities.yahoo');
    const other = `someone-else-${randomUUID().slice(0, 8)}@yahoo.example`;
    await expectV6Error(authorize({ name: 'x', emailAddress: other, provider: 'yahoo', settings: id.settings }),
      { status: 400, type: 'invalid_request_error', message: /belong to .*, not to /, what: "another account's username" });
    const grants = await g.nylas().grants.list({ queryParams: { email: other } });
    assert.equal(grants.data.length, 0, 'a grant was stored for the other address');
  });
});

// An OAuth client of its own for provider, registered in the sandbox and
// added to the dev connector as a credential, and a user with a refresh
// token issued to it.
async function oauthIdentity(provider, scope) {
  const clientId = `v6-${provider}-${randomUUID().slice(0, 8)}`;
  const clientSecret = `secret-${randomUUID()}`;
  await g.sandbox.registerClient(provider, clientId, clientSecret);
  await g.nylas().connectors.credentials.create({
    provider, requestBody: { name: clientId, credentialType: 'connector', credentialData: { clientId, clientSecret } },
  });
  const email = uniqueEmail(`v6-${provider}`);
  await g.sandbox.addUser(provider, email, `V6 ${provider} user`);
  const refreshToken = await g.sandbox.mint(provider, clientId, email, scope ?? g.identities[provider].scope);
  return { clientId, clientSecret, email, refreshToken };
}

describe('Nylas v6 connect: OAuth providers with their refresh tokens', () => {
  it('gmail: authorize and token', async (t) => {
    const o = await oauthIdentity('google');
    const code = await authorize({
      name: 'Gmail User', emailAddress: o.email, provider: 'gmail', scopes: ['email.read_only', 'calendar'],
      settings: { google_client_id: o.clientId, google_client_secret: o.clientSecret, google_refresh_token: o.refreshToken },
    });
    await redeem(t, code, { provider: 'gmail', email: o.email, secrets: [o.refreshToken, o.clientSecret] });
  });

  it('office365: authorize and token', async (t) => {
    const o = await oauthIdentity('microsoft');
    const code = await authorize({
      name: 'O365 User', emailAddress: o.email, provider: 'office365', scopes: ['email.read_only'],
      settings: { microsoft_client_id: o.clientId, microsoft_client_secret: o.clientSecret, microsoft_refresh_token: o.refreshToken, redirect_uri: 'https://app.example/callback' },
    });
    await redeem(t, code, { provider: 'office365', email: o.email, secrets: [o.refreshToken, o.clientSecret] });
  });

  it('gmail with a client grantd does not know is a v2 400', async () => {
    await expectV6Error(authorize({
      name: 'x', emailAddress: 'x@example.com', provider: 'gmail',
      settings: { google_client_id: 'nobody', google_client_secret: 's', google_refresh_token: 'r' },
    }), { status: 400, type: 'invalid_request_error', message: /not the OAuth client/, what: 'unknown Google client' });
  });
});

describe('Nylas v6 connect: virtual calendars', () => {
  it('VirtualCalendar authorize and token', async (t) => {
    let code;
    configure();
    try {
      code = (await NylasV6.connect.authorize({ provider: 'nylas', name: 'Room 12', scopes: ['calendar'], emailAddress: `room-${randomUUID().slice(0, 8)}` })).code;
    } catch (e) {
      if (e?.statusCode === 400 && /virtual-calendar/.test(e.message)) {
        t.skip(`this grantd does not authenticate virtual calendars yet: ${e.message}`);
        return;
      }
      throw e;
    }
    assert.ok(new VirtualCalendar({}) && new NativeAuthentication({}), 'the SDK classes exist');
    if (!(await tokenServed())) {
      t.skip('this grantd does not serve POST /connect/token yet');
      return;
    }
    const account = await NylasV6.connect.token(code);
    assert.equal(account.provider, 'nylas');
  });
});
