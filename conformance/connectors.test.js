// connectors.create/find/list/update/destroy, and what a grant needs from
// its connector.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const OAUTH = ['google', 'microsoft', 'yahoo', 'zoom'];
const restored = {}; // provider → client id of the connector restoreConnector() made

function assertNoSecret(obj, secret, what) {
  const json = JSON.stringify({ ...obj, headers: undefined });
  assert.ok(!/client_?secret/i.test(json), `${what}: must not return client_secret: ${json}`);
  if (secret) assert.ok(!json.includes(secret), `${what}: the secret value leaked: ${json}`);
}

describe('connectors: the dev application', () => {
  it('list({}) returns the four OAuth connectors without secrets', async () => {
    const res = await g.nylas().connectors.list({});
    assertRequestId(res, 'connectors.list');
    assert.ok(Array.isArray(res.data));
    const providers = res.data.map((c) => c.provider).sort();
    assert.deepEqual(providers, OAUTH);
    for (const c of res.data) {
      assert.equal(c.settings.clientId, g.identities[c.provider].client_id, `${c.provider} clientId`);
      assert.ok(Array.isArray(c.scope), `${c.provider} scope is an array`);
      assert.equal(typeof c.name, 'string');
      assertNoSecret(c, undefined, `connector ${c.provider}`);
    }
    assert.equal(recorder.last().method, 'GET');
    assert.equal(recorder.last().path, '/v3/connectors');
  });

  it('list with a limit returns at most that many, in one request', async () => {
    const mark = recorder.mark();
    const res = await g.nylas().connectors.list({ queryParams: { limit: 2 } });
    assert.equal(res.data.length, 2);
    const reqs = recorder.since(mark);
    assert.equal(reqs.length, 1, `the SDK sent ${reqs.length} requests: ${reqs.map((r) => r.url).join(', ')}`);
    assert.equal(reqs[0].search, '?limit=2');
    // The list envelope's limit and offset come through; there is no cursor.
    assert.equal(res.limit, 2);
    assert.equal(res.offset, 0);
    assert.equal(res.nextCursor, undefined);
  });

  it('offset pages through the connectors', async () => {
    const nylas = g.nylas();
    const all = (await nylas.connectors.list({ queryParams: { limit: 50 } })).data.map((c) => c.provider);
    const p2 = await nylas.connectors.list({ queryParams: { limit: 2, offset: 2 } });
    assert.equal(new URLSearchParams(recorder.last().search).get('offset'), '2');
    assert.equal(p2.offset, 2);
    assert.deepEqual(p2.data.map((c) => c.provider), all.slice(2, 4));
  });

  it('for await over list() ends after one page (no next_cursor, no page_token requests)', async () => {
    const mark = recorder.mark();
    const pages = [];
    for await (const page of g.nylas().connectors.list({ queryParams: { limit: 3 } })) {
      pages.push(page.data.length);
      if (pages.length > 5) break;
    }
    assert.deepEqual(pages, [3]);
    const reqs = recorder.since(mark);
    // The SDK fetches page 1 twice here (eager first fetch + the iterator's own).
    assert.ok(reqs.length <= 2, `requests: ${reqs.map((r) => r.search).join(' ')}`);
    for (const r of reqs) assert.equal(new URLSearchParams(r.search).get('page_token'), null);
  });

  it('find returns one connector', async () => {
    const res = await g.nylas().connectors.find({ provider: 'google' });
    assertRequestId(res, 'connectors.find');
    assert.equal(res.data.provider, 'google');
    assert.equal(res.data.name, 'grantd dev google');
    assert.equal(res.data.settings.clientId, 'grantd-dev-google');
    assert.deepEqual(res.data.scope, g.identities.google.scope);
    assertNoSecret(res.data, undefined, 'find google');
  });

  it('find of a provider without a connector is a 404', async () => {
    await expectApiError(g.nylas().connectors.find({ provider: 'icloud' }), { status: 404, type: 'api.not_found_error', what: 'find icloud' });
  });

  it('creating a second connector for a provider is a 409', async () => {
    const err = await expectApiError(
      g.nylas().connectors.create({
        requestBody: { name: 'dup', provider: 'google', settings: { clientId: 'x', clientSecret: 'y' } },
      }),
      { status: 409, what: 'duplicate google connector' },
    );
    assert.match(err.type, /conflict/);
  });

  it('an unknown provider is a 400 that lists the supported providers', async () => {
    const err = await expectApiError(
      g.nylas().connectors.create({ requestBody: { name: 'n', provider: 'myspace', settings: { clientId: 'a', clientSecret: 'b' } } }),
      { status: 400, what: 'create myspace' },
    );
    assert.match(err.type, /^api\.invalid_request/);
    for (const p of OAUTH) assert.ok(err.message.includes(p), `the message should list ${p}: ${err.message}`);
  });

  it('an OAuth connector without client_secret is a 400', async () => {
    // Delete yahoo first so that a 409 (duplicate) cannot hide the 400.
    await g.nylas().connectors.destroy({ provider: 'yahoo' });
    try {
      const err = await expectApiError(
        g.nylas().connectors.create({ requestBody: { name: 'y', provider: 'yahoo', settings: { clientId: 'only-id' } } }),
        { status: 400, what: 'yahoo without client_secret' },
      );
      assert.match(err.message, /client_secret/);
    } finally {
      await restoreConnector('yahoo');
    }
  });
});

describe('connectors: lifecycle', () => {
  it('create/find/list/update/destroy a non-OAuth (imap) connector', async () => {
    const nylas = g.nylas();
    const created = await nylas.connectors.create({ requestBody: { name: 'My IMAP', provider: 'imap' } });
    assertRequestId(created, 'create imap');
    assert.equal(recorder.last().status, 201);
    assert.equal(created.data.provider, 'imap');
    assert.equal(created.data.name, 'My IMAP');

    const found = await nylas.connectors.find({ provider: 'imap' });
    assert.equal(found.data.name, 'My IMAP');

    const list = await nylas.connectors.list({});
    assert.ok(list.data.some((c) => c.provider === 'imap'));

    const updated = await nylas.connectors.update({ provider: 'imap', requestBody: { name: 'Renamed IMAP' } });
    assert.equal(recorder.last().method, 'PUT', 'connectors.update is a PUT');
    assert.equal(updated.data.name, 'Renamed IMAP');

    const del = await nylas.connectors.destroy({ provider: 'imap' });
    assert.equal(recorder.last().method, 'DELETE');
    assert.equal(typeof del.requestId, 'string');
    await expectApiError(nylas.connectors.find({ provider: 'imap' }), { status: 404, type: 'api.not_found_error', what: 'find after destroy' });
    await expectApiError(nylas.connectors.destroy({ provider: 'imap' }), { status: 404, type: 'api.not_found_error', what: 'destroy twice' });
  });

  it('create an OAuth connector: settings are snake_cased on the wire, client_secret never comes back', async () => {
    const nylas = g.nylas();
    await nylas.connectors.destroy({ provider: 'yahoo' });
    const clientId = `conf-yahoo-${randomUUID().slice(0, 8)}`;
    const secret = `s3cr3t-${randomUUID()}`;
    await g.sandbox.registerClient('yahoo', clientId, secret);
    const created = await nylas.connectors.create({
      requestBody: { name: 'Yahoo app', provider: 'yahoo', settings: { clientId, clientSecret: secret }, scope: ['openid', 'email', 'profile', 'mail-r'] },
    });
    const wire = JSON.parse(recorder.last().body);
    assert.equal(wire.settings.client_id, clientId);
    assert.equal(wire.settings.client_secret, secret);
    assert.equal(created.data.settings.clientId, clientId);
    assert.deepEqual(created.data.scope, ['openid', 'email', 'profile', 'mail-r']);
    assertUnixSecondsNow(created.data.createdAt, 'connector createdAt');
    assertNoSecret(created.data, secret, 'create');
    assertNoSecret((await nylas.connectors.find({ provider: 'yahoo' })).data, secret, 'find');
    assertNoSecret((await nylas.connectors.list({})).data, secret, 'list');

    // A partial PUT keeps what it does not name: the secret still works.
    const renamed = await nylas.connectors.update({ provider: 'yahoo', requestBody: { name: 'Yahoo renamed' } });
    assert.equal(renamed.data.name, 'Yahoo renamed');
    assert.equal(renamed.data.settings.clientId, clientId);
    assert.deepEqual(renamed.data.scope, ['openid', 'email', 'profile', 'mail-r']);
    const id = await g.newIdentity('yahoo', { label: 'partial-put', clientId });
    const grant = await nylas.auth.customAuthentication({ requestBody: { provider: 'yahoo', settings: { refreshToken: id.refreshToken } } });
    assert.equal(grant.data.email, id.email);

    // Rotating only the secret (PUT with settings.clientSecret) keeps the client id.
    const secret2 = `s3cr3t2-${randomUUID()}`;
    await g.sandbox.registerClient('yahoo', clientId, secret2);
    const rotated = await nylas.connectors.update({ provider: 'yahoo', requestBody: { settings: { clientSecret: secret2 } } });
    assert.equal(rotated.data.settings.clientId, clientId);
    assertNoSecret(rotated.data, secret2, 'update');
    const id2 = await g.newIdentity('yahoo', { label: 'rotated', clientId });
    const grant2 = await nylas.auth.customAuthentication({ requestBody: { provider: 'yahoo', settings: { refreshToken: id2.refreshToken } } });
    assert.equal(grant2.data.email, id2.email);

    // Scope replaced by PUT.
    const rescoped = await nylas.connectors.update({ provider: 'yahoo', requestBody: { scope: ['openid', 'email'] } });
    assert.deepEqual(rescoped.data.scope, ['openid', 'email']);
  });

  it('update sets activeCredentialId (sent as active_credential_id); grants then use that credential', async () => {
    const nylas = g.nylas();
    const clientId = `active-google-${randomUUID().slice(0, 8)}`;
    const secret = randomUUID();
    await g.sandbox.registerClient('google', clientId, secret);
    const cred = await nylas.connectors.credentials.create({
      provider: 'google',
      requestBody: { name: `active ${clientId}`, credentialType: 'connector', credentialData: { clientId, clientSecret: secret } },
    });
    const res = await nylas.connectors.update({ provider: 'google', requestBody: { activeCredentialId: cred.data.id } });
    assert.deepEqual(JSON.parse(recorder.last().body), { active_credential_id: cred.data.id });
    assert.equal(res.data.activeCredentialId, cred.data.id);
    assert.equal((await nylas.connectors.find({ provider: 'google' })).data.activeCredentialId, cred.data.id);

    const id = await g.newIdentity('google', { label: 'active-cred', clientId });
    const grant = await nylas.auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: id.refreshToken } } });
    assert.equal(grant.data.email, id.email);
    assert.equal(grant.data.credentialId, cred.data.id, 'the grant records the active credential');

    // Deleting the credential makes the connector fall back to its own client.
    await nylas.connectors.credentials.destroy({ provider: 'google', credentialsId: cred.data.id });
    const after = await nylas.connectors.find({ provider: 'google' });
    assert.ok(!after.data.activeCredentialId, `activeCredentialId cleared, got ${after.data.activeCredentialId}`);
    const own = await g.newIdentity('google', { label: 'own-client' });
    const grant2 = await nylas.auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: own.refreshToken } } });
    assert.equal(grant2.data.email, own.email);
  });

  it('one PUT with name, settings (topicName), scope and activeCredentialId, as the SDK example sends', async () => {
    const nylas = g.nylas();
    const before = (await nylas.connectors.find({ provider: 'google' })).data;
    const cred = await nylas.connectors.credentials.create({
      provider: 'google',
      requestBody: { name: `put-all ${randomUUID().slice(0, 8)}`, credentialType: 'connector', credentialData: { clientId: 'put-all-client', clientSecret: 'put-all-secret' } },
    });
    const body = { name: 'Google, all at once', settings: { topicName: 'projects/p/topics/t' }, scope: ['openid', 'https://www.googleapis.com/auth/userinfo.email'], activeCredentialId: cred.data.id };
    try {
      const res = await nylas.connectors.update({ provider: 'google', requestBody: body });
      assert.equal(recorder.last().method, 'PUT');
      assert.deepEqual(JSON.parse(recorder.last().body), {
        name: 'Google, all at once',
        settings: { topic_name: 'projects/p/topics/t' },
        scope: ['openid', 'https://www.googleapis.com/auth/userinfo.email'],
        active_credential_id: cred.data.id,
      });
      assertRequestId(res, 'connectors.update');
      assert.equal(res.data.name, body.name);
      assert.equal(res.data.settings.topicName, 'projects/p/topics/t', 'topic_name kept and returned (camelCased by the SDK)');
      assert.equal(res.data.settings.clientId, before.settings.clientId, 'client id kept');
      assert.deepEqual(res.data.scope, body.scope);
      assert.equal(res.data.activeCredentialId, cred.data.id);
      assertUnixSecondsNow(res.data.updatedAt, 'connector updatedAt');
      assertNoSecret(res.data, 'put-all-secret', 'update');
    } finally {
      // Put google back as it was (a null setting removes it; "" clears the active credential).
      const back = await nylas.connectors.update({
        provider: 'google',
        requestBody: { name: before.name, settings: { topicName: null }, scope: before.scope, activeCredentialId: '' },
      });
      assert.equal(back.data.settings.topicName, undefined, 'topicName removed');
      assert.ok(!back.data.activeCredentialId, 'active credential cleared');
      await nylas.connectors.credentials.destroy({ provider: 'google', credentialsId: cred.data.id });
    }
  });

  it('an activeCredentialId that is not a credential of the connector is a 400', async () => {
    await expectApiError(g.nylas().connectors.update({ provider: 'google', requestBody: { activeCredentialId: randomUUID() } }), {
      status: 400,
      what: 'unknown active credential',
    });
  });

  it('updating a missing connector is a 404', async () => {
    await expectApiError(g.nylas().connectors.update({ provider: 'icloud', requestBody: { name: 'x' } }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'update icloud',
    });
  });
});

describe('connectors: a grant needs its connector', () => {
  it('without a zoom connector, customAuthentication is a 400; it works again once recreated', async () => {
    const nylas = g.nylas();
    // A valid zoom grant first: deleting the connector must invalidate it.
    const before = await g.newIdentity('zoom', { label: 'before-delete' });
    const grant = await nylas.auth.customAuthentication({ requestBody: { provider: 'zoom', settings: { refreshToken: before.refreshToken } } });
    assert.equal(grant.data.grantStatus, 'valid');

    await nylas.connectors.destroy({ provider: 'zoom' });
    const after = await g.newIdentity('zoom', { label: 'no-connector' });
    const err = await expectApiError(
      nylas.auth.customAuthentication({ requestBody: { provider: 'zoom', settings: { refreshToken: after.refreshToken } } }),
      { status: 400, what: 'customAuthentication without a zoom connector' },
    );
    assert.match(err.message, /connector/i);
    assert.match(err.message, /zoom/);

    const invalid = await nylas.grants.find({ grantId: grant.data.id });
    assert.equal(invalid.data.grantStatus, 'invalid', 'deleting the connector invalidates its grants');

    // Restore with a freshly registered sandbox client.
    await restoreConnector('zoom');
    const fresh = await g.newIdentity('zoom', { label: 'restored', clientId: restored.zoom });
    const ok = await nylas.auth.customAuthentication({ requestBody: { provider: 'zoom', settings: { refreshToken: fresh.refreshToken } } });
    assert.equal(ok.data.grantStatus, 'valid');
    assert.equal(ok.data.email, fresh.email);
  });
});

/** Recreates a deleted connector with a new sandbox client. */
async function restoreConnector(provider) {
  const clientId = `conf-${provider}-${randomUUID().slice(0, 8)}`;
  const secret = randomUUID();
  await g.sandbox.registerClient(provider, clientId, secret);
  await g.nylas().connectors.create({
    requestBody: { name: `restored ${provider}`, provider, settings: { clientId, clientSecret: secret }, scope: g.identities[provider].scope },
  });
  restored[provider] = clientId;
}
