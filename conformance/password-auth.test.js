// nylas.auth.customAuthentication (POST /v3/connect/custom) for the
// password providers IMAP and iCloud.
//
// grantd dev is expected to run in-process IMAP and SMTP servers (package
// internal/sandbox/mail) and to publish in dev.json:
//   identities.imap   = {provider:"imap", email, settings:{imap_username, imap_password, imap_host, imap_port, smtp_host, smtp_port}}
//   identities.icloud = {provider:"icloud", email, settings:{username, password}}
// Until it does, every test here is skipped with a message saying so.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });

function identity(t, provider) {
  const id = g.identities?.[provider];
  if (!id) {
    t.skip(`dev.json has no identities.${provider}: grantd dev does not run the mail sandbox yet`);
    return undefined;
  }
  return id;
}

// The SDK turns camelCase keys into snake_case on the wire.
function camel(settings) {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]));
}

function assertPasswordGrant(res, { provider, email }, secrets) {
  assertRequestId(res, 'customAuthentication');
  assert.equal(recorder.last().path, '/v3/connect/custom');
  assert.equal(recorder.last().status, 201);
  const grant = res.data;
  assert.match(grant.id, /^[0-9a-f-]{36}$/, 'grant id is a UUID');
  assert.equal(grant.provider, provider);
  assert.equal(grant.grantStatus, 'valid');
  assert.equal(grant.email, email.toLowerCase());
  assertUnixSecondsNow(grant.createdAt, 'createdAt');
  const json = JSON.stringify(grant);
  for (const s of secrets) assert.ok(!json.includes(s), `the grant must not carry the password: ${json}`);
  return grant;
}

describe('customAuthentication: IMAP', () => {
  it('the dev identity gets a valid grant (ports as numbers)', async (t) => {
    const id = identity(t, 'imap');
    if (!id) return;
    const res = await custom({ provider: 'imap', settings: camel(id.settings) });
    const wire = JSON.parse(recorder.last().body);
    assert.equal(wire.settings.imap_username, id.settings.imap_username, 'SDK sends snake_case settings');
    const grant = assertPasswordGrant(res, id, [id.settings.imap_password]);
    assert.equal(grant.settings.imap_host ?? grant.settings.imapHost, id.settings.imap_host);
  });

  it('ports as strings re-authenticate the same grant', async (t) => {
    const id = identity(t, 'imap');
    if (!id) return;
    const first = await custom({ provider: 'imap', settings: camel(id.settings) });
    const s = { ...id.settings, imap_port: String(id.settings.imap_port), smtp_port: String(id.settings.smtp_port) };
    const second = await custom({ provider: 'imap', settings: camel(s) });
    assertPasswordGrant(second, id, [id.settings.imap_password]);
    assert.equal(second.data.id, first.data.id, 'same email, same grant id');
  });

  it('a wrong password is a 400 that says so, without the password', async (t) => {
    const id = identity(t, 'imap');
    if (!id) return;
    const wrong = 'not-the-password-' + Date.now();
    const err = await expectApiError(custom({ provider: 'imap', settings: camel({ ...id.settings, imap_password: wrong }) }), {
      status: 400, type: 'api.invalid_request_error', message: /username or password/, what: 'IMAP wrong password',
    });
    assert.ok(!JSON.stringify(err).includes(wrong), 'the error must not echo the password');
  });

  it('a missing imap_username is a 400 naming it', async (t) => {
    const id = identity(t, 'imap');
    if (!id) return;
    const { imap_username: _, ...rest } = id.settings;
    await expectApiError(custom({ provider: 'imap', settings: camel(rest) }), {
      status: 400, message: /imap_username/, what: 'IMAP without imap_username',
    });
  });

  it('an unreachable server is a 504 provider error', async (t) => {
    const id = identity(t, 'imap');
    if (!id) return;
    // Port 1 on loopback: nothing listens, the connection is refused.
    await expectApiError(custom({ provider: 'imap', settings: camel({ ...id.settings, imap_port: 1 }) }), {
      status: 504, type: 'api.provider_error', what: 'IMAP unreachable',
    });
  });
});

describe('customAuthentication: iCloud', () => {
  it('the dev identity (app-specific password) gets a valid grant', async (t) => {
    const id = identity(t, 'icloud');
    if (!id) return;
    const res = await custom({ provider: 'icloud', settings: { username: id.settings.username, password: id.settings.password } });
    assert.deepEqual(JSON.parse(recorder.last().body), { provider: 'icloud', settings: { username: id.settings.username, password: id.settings.password } });
    assertPasswordGrant(res, id, [id.settings.password]);
  });

  it('a wrong password is a 400 that mentions app-specific passwords', async (t) => {
    const id = identity(t, 'icloud');
    if (!id) return;
    await expectApiError(custom({ provider: 'icloud', settings: { username: id.settings.username, password: 'wrong-' + Date.now() } }), {
      status: 400, type: 'api.invalid_request_error', message: /app-specific password/i, what: 'iCloud wrong password',
    });
  });

  it('a missing password is a 400 naming it', async (t) => {
    const id = identity(t, 'icloud');
    if (!id) return;
    await expectApiError(custom({ provider: 'icloud', settings: { username: id.settings.username } }), {
      status: 400, message: /password/, what: 'iCloud without password',
    });
  });
});
