// nylas.auth.customAuthentication (POST /v3/connect/custom, Bring Your Own
// Authentication) for google, microsoft, yahoo and zoom.
//
// In nylas@8.4.0 the method lives on nylas.auth (there is no auth.grants).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const PROVIDERS = ['google', 'microsoft', 'yahoo', 'zoom'];

const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });

function assertGrant(grant, { provider, email }) {
  assert.equal(typeof grant.id, 'string');
  assert.match(grant.id, /^[0-9a-f-]{36}$/, 'grant id is a UUID');
  assert.equal(grant.provider, provider);
  assert.equal(grant.grantStatus, 'valid');
  assert.equal(grant.email, email);
  assert.ok(Array.isArray(grant.scope), 'scope is an array');
  assert.ok(grant.scope.length > 0, 'scope is not empty');
  for (const s of grant.scope) assert.equal(typeof s, 'string');
  assertUnixSecondsNow(grant.createdAt, 'createdAt');
  assertUnixSecondsNow(grant.updatedAt, 'updatedAt');
  const json = JSON.stringify(grant);
  assert.ok(!/refresh_?token|access_?token/i.test(json), `a grant must not carry tokens: ${json}`);
}

describe('customAuthentication: the dev identities', () => {
  for (const provider of PROVIDERS) {
    it(`${provider}: returns a valid grant`, async () => {
      const id = g.identities[provider];
      const res = await custom({ provider, settings: { refreshToken: id.refresh_token } });
      assertRequestId(res, 'customAuthentication');
      const wire = JSON.parse(recorder.last().body);
      assert.deepEqual(wire, { provider, settings: { refresh_token: id.refresh_token } }, 'SDK request body');
      assert.equal(recorder.last().path, '/v3/connect/custom');
      assert.equal(recorder.last().status, 201);
      assertGrant(res.data, { provider, email: id.email });
      // What the app's connector asked for.
      for (const s of res.data.scope) assert.ok(id.scope.includes(s), `${provider}: unexpected scope ${s}`);
    });
  }
});

describe('customAuthentication: re-authentication', () => {
  for (const provider of PROVIDERS) {
    it(`${provider}: the same email gets the same grant id`, async () => {
      const id = await g.newIdentity(provider, { label: 'reauth' });
      const first = await custom({ provider, settings: { refreshToken: id.refreshToken } });
      assertGrant(first.data, { provider, email: id.email });
      // A second token for the same user (a new consent).
      const rt2 = await g.sandbox.mint(provider, id.clientId, id.email, id.scope);
      const second = await custom({ provider, settings: { refreshToken: rt2 }, state: 'again' });
      assertGrant(second.data, { provider, email: id.email });
      assert.equal(second.data.id, first.data.id, 'same grant id');
      assert.equal(second.data.createdAt, first.data.createdAt, 'createdAt unchanged');
      assert.equal(second.data.state, 'again');
      const list = await g.nylas().grants.list({ queryParams: { email: id.email } });
      assert.equal(list.data.length, 1, 'one grant per email');
    });
  }

  it('concurrent first authentications of one email yield one grant', async () => {
    const id = await g.newIdentity('google', { label: 'race' });
    const tokens = [id.refreshToken];
    for (let i = 0; i < 4; i++) tokens.push(await g.sandbox.mint('google', id.clientId, id.email, id.scope));
    const results = await Promise.all(tokens.map((rt) => custom({ provider: 'google', settings: { refreshToken: rt } })));
    const ids = new Set(results.map((r) => r.data.id));
    assert.equal(ids.size, 1, `one grant id, got ${[...ids].join(', ')}`);
    const list = await g.nylas().grants.list({ queryParams: { email: id.email } });
    assert.equal(list.data.length, 1, 'one grant per email');
  });

  it('state and scope are sent and state comes back unchanged', async () => {
    const id = await g.newIdentity('google', { label: 'state' });
    const state = `s-${randomUUID()}`;
    const res = await custom({ provider: 'google', settings: { refreshToken: id.refreshToken }, state, scope: ['openid', 'https://www.googleapis.com/auth/userinfo.email'] });
    const wire = JSON.parse(recorder.last().body);
    assert.equal(wire.state, state);
    assert.deepEqual(wire.scope, ['openid', 'https://www.googleapis.com/auth/userinfo.email']);
    assert.equal(res.data.state, state);
    assertGrant(res.data, { provider: 'google', email: id.email });
  });
});

describe('customAuthentication: scope as one string', () => {
  // Microsoft narrows the token to the requested scopes, so the grant's
  // scope shows what grantd made of the string (Google reports everything
  // the refresh token was granted, whatever is requested: docs/api.md).
  it('a comma-separated scope string (as the official samples send) is read as a list', async () => {
    const id = await g.newIdentity('microsoft', { label: 'scopestring' });
    const wanted = ['openid', 'profile', 'email', 'offline_access', 'User.Read'];
    const res = await custom({ provider: 'microsoft', settings: { refreshToken: id.refreshToken }, scope: wanted.join(',') });
    assert.equal(JSON.parse(recorder.last().body).scope, wanted.join(','), 'sent as given');
    assertGrant(res.data, { provider: 'microsoft', email: id.email });
    assert.deepEqual(res.data.scope, wanted);
  });
});

describe('customAuthentication: credential override', () => {
  it('settings.credentialId uses the credential\'s OAuth client', async () => {
    const nylas = g.nylas();
    const clientId = `alt-google-${randomUUID().slice(0, 8)}`;
    const secret = randomUUID();
    await g.sandbox.registerClient('google', clientId, secret);
    const cred = await nylas.connectors.credentials.create({
      provider: 'google',
      requestBody: { name: `alt ${clientId}`, credentialType: 'connector', credentialData: { clientId, clientSecret: secret } },
    });
    const id = await g.newIdentity('google', { label: 'credoverride', clientId });

    // Issued to the other client: the connector's own client cannot redeem it.
    const err = await expectApiError(custom({ provider: 'google', settings: { refreshToken: id.refreshToken } }), {
      status: 400,
      what: 'token of another client without credentialId',
    });
    assert.ok(err.providerError, 'providerError is set');

    const res = await custom({ provider: 'google', settings: { refreshToken: id.refreshToken, credentialId: cred.data.id } });
    assert.equal(JSON.parse(recorder.last().body).settings.credential_id, cred.data.id, 'credentialId goes out as credential_id');
    assertGrant(res.data, { provider: 'google', email: id.email });
    assert.equal(res.data.credentialId, cred.data.id, 'the grant records its credential');
  });

  it('an unknown credentialId is a 400', async () => {
    const id = await g.newIdentity('google', { label: 'badcred' });
    const err = await expectApiError(
      custom({ provider: 'google', settings: { refreshToken: id.refreshToken, credentialId: randomUUID() } }),
      { status: 400, what: 'unknown credential' },
    );
    assert.match(err.message, /credential/);
  });

  it('an adminconsent credential cannot be used for a refresh-token grant', async () => {
    const cred = await g.nylas().connectors.credentials.create({
      provider: 'microsoft',
      requestBody: { name: `consent ${randomUUID().slice(0, 8)}`, credentialType: 'adminconsent', credentialData: { tenant: 'contoso' } },
    });
    const id = await g.newIdentity('microsoft', { label: 'consentcred' });
    await expectApiError(custom({ provider: 'microsoft', settings: { refreshToken: id.refreshToken, credentialId: cred.data.id } }), {
      status: 400,
      what: 'adminconsent credential for a refresh token',
    });
  });
});

describe('customAuthentication: errors', () => {
  after(async () => {
    await g.sandbox?.clearFailures();
  });

  for (const provider of ['google', 'microsoft', 'yahoo']) {
    it(`${provider}: a revoked token is a 400 with providerError.error invalid_grant, and nothing is stored`, async () => {
      const id = await g.newIdentity(provider, { label: 'revoked' });
      await g.sandbox.revokeToken(provider, id.refreshToken);
      const err = await expectApiError(custom({ provider, settings: { refreshToken: id.refreshToken } }), {
        status: 400,
        type: 'api.invalid_request_error',
        what: `${provider} revoked token`,
      });
      assert.ok(err.providerError, 'providerError is set');
      assert.equal(err.providerError.error, 'invalid_grant', `providerError: ${JSON.stringify(err.providerError)}`);
      const list = await g.nylas().grants.list({ queryParams: { email: id.email } });
      assert.equal(list.data.length, 0, 'no grant stored');
    });
  }

  it('zoom: a revoked token is a 400 with the provider\'s error', async () => {
    const id = await g.newIdentity('zoom', { label: 'revoked' });
    await g.sandbox.revokeToken('zoom', id.refreshToken);
    const err = await expectApiError(custom({ provider: 'zoom', settings: { refreshToken: id.refreshToken } }), {
      status: 400,
      type: 'api.invalid_request_error',
      what: 'zoom revoked token',
    });
    assert.ok(err.providerError, 'providerError is set');
    assert.equal(typeof err.providerError.error, 'string');
  });

  it('a garbage token is a 400 with providerError', async () => {
    const err = await expectApiError(custom({ provider: 'google', settings: { refreshToken: 'not-a-token' } }), {
      status: 400,
      what: 'garbage token',
    });
    assert.equal(err.providerError?.error, 'invalid_grant');
  });

  for (const provider of PROVIDERS) {
    it(`${provider}: a provider answering 503 is a 504 api.provider_error, and nothing is stored`, async () => {
      const id = await g.newIdentity(provider, { label: 'unavailable' });
      await g.sandbox.injectFailure({ provider, endpoint: 'token', status: 503, count: 1 });
      try {
        const err = await expectApiError(custom({ provider, settings: { refreshToken: id.refreshToken } }), {
          status: 504,
          type: 'api.provider_error',
          what: `${provider} 503`,
        });
        assert.ok(err.message.length > 0);
      } finally {
        await g.sandbox.clearFailures();
      }
      const list = await g.nylas().grants.list({ queryParams: { email: id.email } });
      assert.equal(list.data.length, 0, 'no grant stored');
    });
  }

  it('an identity endpoint answering 503 is a 504 api.provider_error too', async () => {
    const id = await g.newIdentity('microsoft', { label: 'identity503' });
    await g.sandbox.injectFailure({ provider: 'microsoft', endpoint: 'identity', status: 503, count: -1 });
    try {
      await expectApiError(custom({ provider: 'microsoft', settings: { refreshToken: id.refreshToken } }), {
        status: 504,
        type: 'api.provider_error',
        what: 'microsoft identity 503',
      });
    } finally {
      await g.sandbox.clearFailures();
    }
  });

  it('an unknown provider is a 400 that lists the supported providers', async () => {
    const err = await expectApiError(custom({ provider: 'aol', settings: { refreshToken: 'x' } }), { status: 400, what: 'provider aol' });
    assert.match(err.type, /^api\.invalid_request/);
    for (const p of PROVIDERS) assert.ok(err.message.includes(p), `the message should list ${p}: ${err.message}`);
  });

  it('a missing provider is a 400', async () => {
    await expectApiError(custom({ settings: { refreshToken: 'x' } }), { status: 400, what: 'no provider' });
  });

  it('missing settings is a 400', async () => {
    await expectApiError(custom({ provider: 'google' }), { status: 400, what: 'no settings' });
  });

  it('settings without refreshToken is a 400 naming refresh_token', async () => {
    const err = await expectApiError(custom({ provider: 'google', settings: {} }), { status: 400, what: 'no refresh token' });
    assert.match(err.message, /refresh_token/);
  });
});
