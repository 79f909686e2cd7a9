// nylas.auth.customAuthentication for provider "ews" (Exchange Web
// Services with a user name and password), success and failure.
//
// The identity comes from dev.json's identities.ews:
//   {provider: "ews", email, settings: {email, ews_username, ews_password, ews_host, ews_port}}
// (grantd dev's EWS stand-in, internal/sandbox/ews). GRANTD_CONFORMANCE_EWS
// may hold the same object as JSON to run these tests against another EWS
// server, for example the Apache NTLM stand-in of scripts/ews-apache-start.sh;
// grantd dev must then trust its CA (GRANTD_NETWORK_CA_FILE).
// Without either, every test is skipped and says why.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });
const SKIP = 'dev.json has no identities.ews (grantd dev does not run the EWS stand-in yet) and GRANTD_CONFORMANCE_EWS is not set: EWS customAuthentication is NOT tested';

function ewsIdentity(t) {
  const id = g.identities?.ews ?? (process.env.GRANTD_CONFORMANCE_EWS ? JSON.parse(process.env.GRANTD_CONFORMANCE_EWS) : undefined);
  if (!id) {
    t.skip(SKIP);
    return undefined;
  }
  assert.equal(id.provider, 'ews', 'identities.ews.provider');
  for (const k of ['email', 'ews_username', 'ews_password', 'ews_host']) {
    assert.equal(typeof id.settings?.[k], 'string', `identities.ews.settings.${k}`);
  }
  return id;
}

// The settings as an SDK user writes them (camelCase; the SDK sends snake_case).
function sdkSettings(s, override = {}) {
  const out = { email: s.email, ewsUsername: s.ews_username, ewsPassword: s.ews_password, ewsHost: s.ews_host };
  if (s.ews_port !== undefined) out.ewsPort = s.ews_port;
  return { ...out, ...override };
}

async function closedPort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('customAuthentication: ews', () => {
  it('valid credentials give a valid ews grant; the password is never returned', async (t) => {
    const id = ewsIdentity(t);
    if (!id) return;
    const res = await custom({ provider: 'ews', settings: sdkSettings(id.settings), scope: ['ews.messages', 'ews.calendars'], state: 'ews-state' });
    assertRequestId(res, 'customAuthentication');
    const last = recorder.last();
    assert.equal(last.path, '/v3/connect/custom');
    assert.equal(last.status, 201);
    const wire = JSON.parse(last.body);
    assert.deepEqual(Object.keys(wire.settings).sort(), Object.keys(id.settings).sort(), 'the SDK sends snake_case settings');
    assert.equal(wire.settings.ews_password, id.settings.ews_password);

    const grant = res.data;
    assert.match(grant.id, /^[0-9a-f-]{36}$/);
    assert.equal(grant.provider, 'ews');
    assert.equal(grant.grantStatus, 'valid');
    assert.equal(grant.email.toLowerCase(), id.email.toLowerCase());
    assert.deepEqual(grant.scope, ['ews.messages', 'ews.calendars']);
    assert.equal(grant.state, 'ews-state');
    assertUnixSecondsNow(grant.createdAt, 'createdAt');
    const json = JSON.stringify(grant);
    assert.ok(!json.includes(id.settings.ews_password), `the grant must not carry the password: ${json}`);
    assert.ok(!/ews_?password/i.test(json), `no password field in the grant: ${json}`);
  });

  it('authenticating the same mailbox again keeps the grant id', async (t) => {
    const id = ewsIdentity(t);
    if (!id) return;
    const first = await custom({ provider: 'ews', settings: sdkSettings(id.settings) });
    const second = await custom({ provider: 'ews', settings: sdkSettings(id.settings), state: 'again' });
    assert.equal(second.data.id, first.data.id, 'same grant id');
    assert.equal(second.data.state, 'again');
    assert.deepEqual(second.data.scope, ['ews.messages', 'ews.calendars', 'ews.contacts'], 'default EWS scopes');
    const list = await g.nylas().grants.list({ queryParams: { email: first.data.email } });
    assert.equal(list.data.length, 1, 'one grant per email');
  });

  it('a wrong password is a 400 with the server\'s 401 in providerError', async (t) => {
    const id = ewsIdentity(t);
    if (!id) return;
    const err = await expectApiError(custom({ provider: 'ews', settings: sdkSettings(id.settings, { ewsPassword: `${id.settings.ews_password}-wrong` }) }), {
      status: 400,
      type: 'api.invalid_request_error',
      message: /ews_password/,
      what: 'ews wrong password',
    });
    assert.equal(err.providerError?.status, 401, `providerError: ${JSON.stringify(err.providerError)}`);
    assert.ok(!JSON.stringify(err).includes(id.settings.ews_password), 'the password is not echoed');
  });

  it('a missing ews_password is a 400 naming it', async (t) => {
    const id = ewsIdentity(t);
    if (!id) return;
    const s = sdkSettings(id.settings);
    delete s.ewsPassword;
    await expectApiError(custom({ provider: 'ews', settings: s }), { status: 400, type: 'api.invalid_request_error', message: /ews_password/, what: 'no password' });
  });

  it('an unreachable EWS server is a 504 api.provider_error and nothing is stored', async (t) => {
    const id = ewsIdentity(t);
    if (!id) return;
    const email = `unreachable.${Date.now()}@contoso.test`;
    await expectApiError(
      custom({ provider: 'ews', settings: sdkSettings(id.settings, { email, ewsHost: '127.0.0.1', ewsPort: await closedPort() }) }),
      { status: 504, type: 'api.provider_error', what: 'connection refused' },
    );
    const list = await g.nylas().grants.list({ queryParams: { email } });
    assert.equal(list.data.length, 0, 'no grant stored');
  });
});
