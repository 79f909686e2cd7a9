// connectors.credentials.create/find/list/update/destroy for the
// `adminconsent` (microsoft) and `connector` (google) credential types.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();

function assertNoData(cred, secrets, what) {
  const json = JSON.stringify(cred);
  assert.equal(cred.credentialData, undefined, `${what}: credentialData must never come back`);
  for (const s of secrets) assert.ok(!json.includes(s), `${what}: secret ${s} leaked: ${json}`);
}

const uniq = (label) => `${label} ${randomUUID().slice(0, 8)}`;

describe('credentials: adminconsent (microsoft)', () => {
  it('create/find/list/update/destroy', async () => {
    const creds = g.nylas().connectors.credentials;
    const secret = `ms-secret-${randomUUID()}`;
    const name = uniq('ms consent');
    const created = await creds.create({
      provider: 'microsoft',
      requestBody: { name, credentialType: 'adminconsent', credentialData: { clientId: 'ms-client', clientSecret: secret, tenant: 'contoso.onmicrosoft.com' } },
    });
    assertRequestId(created, 'credentials.create');
    const wire = JSON.parse(recorder.last().body);
    assert.equal(recorder.last().path, '/v3/connectors/microsoft/creds');
    assert.equal(wire.credential_type, 'adminconsent');
    assert.deepEqual(Object.keys(wire.credential_data).sort(), ['client_id', 'client_secret', 'tenant']);
    assert.equal(recorder.last().status, 201);
    const c = created.data;
    assert.equal(typeof c.id, 'string');
    assert.ok(c.id.length > 0);
    assert.equal(c.name, name);
    assert.equal(c.credentialType, 'adminconsent');
    assertUnixSecondsNow(c.createdAt, 'credential createdAt');
    assertNoData(c, [secret, 'contoso.onmicrosoft.com'], 'create');

    const found = await creds.find({ provider: 'microsoft', credentialsId: c.id });
    assertRequestId(found, 'credentials.find');
    assert.equal(found.data.id, c.id);
    assert.equal(found.data.name, name);
    assert.equal(found.data.credentialType, 'adminconsent');
    assertNoData(found.data, [secret], 'find');

    const list = await creds.list({ provider: 'microsoft', queryParams: {} });
    assert.ok(Array.isArray(list.data));
    assert.ok(list.data.some((x) => x.id === c.id));
    for (const x of list.data) assertNoData(x, [secret], 'list');

    const renamed = uniq('ms consent renamed');
    const updated = await creds.update({ provider: 'microsoft', credentialsId: c.id, requestBody: { name: renamed } });
    assert.equal(recorder.last().method, 'PATCH', 'credentials.update is a PATCH');
    assert.equal(updated.data.name, renamed);
    assert.equal(updated.data.id, c.id);
    assert.ok(updated.data.updatedAt >= c.updatedAt);
    assertUnixSecondsNow(updated.data.updatedAt, 'credential updatedAt');

    const secret2 = `ms-secret2-${randomUUID()}`;
    const rotated = await creds.update({ provider: 'microsoft', credentialsId: c.id, requestBody: { credentialData: { clientSecret: secret2 } } });
    assert.deepEqual(JSON.parse(recorder.last().body), { credential_data: { client_secret: secret2 } });
    assert.equal(rotated.data.name, renamed, 'a data-only update keeps the name');
    assertNoData(rotated.data, [secret2], 'update');

    const del = await creds.destroy({ provider: 'microsoft', credentialsId: c.id });
    assert.equal(recorder.last().method, 'DELETE');
    assert.equal(typeof del.requestId, 'string');
    await expectApiError(creds.find({ provider: 'microsoft', credentialsId: c.id }), { status: 404, type: 'api.not_found_error', what: 'find after destroy' });
    await expectApiError(creds.destroy({ provider: 'microsoft', credentialsId: c.id }), { status: 404, type: 'api.not_found_error', what: 'destroy twice' });
  });

  it('an adminconsent credential without a tenant is a 400', async () => {
    const err = await expectApiError(
      g.nylas().connectors.credentials.create({
        provider: 'microsoft',
        requestBody: { name: uniq('no tenant'), credentialType: 'adminconsent', credentialData: { clientId: 'a', clientSecret: 'b' } },
      }),
      { status: 400, what: 'adminconsent without tenant' },
    );
    assert.match(err.message, /tenant/);
  });

  it('an adminconsent credential on the google connector is a 400', async () => {
    await expectApiError(
      g.nylas().connectors.credentials.create({
        provider: 'google',
        requestBody: { name: uniq('wrong connector'), credentialType: 'adminconsent', credentialData: { tenant: 't' } },
      }),
      { status: 400, what: 'adminconsent on google' },
    );
  });

  it('an unknown credential type is a 400', async () => {
    const err = await expectApiError(
      g.nylas().connectors.credentials.create({
        provider: 'microsoft',
        requestBody: { name: uniq('bad type'), credentialType: 'password', credentialData: { tenant: 't' } },
      }),
      { status: 400, what: 'credential type password' },
    );
    assert.match(err.message, /adminconsent/);
  });
});

describe('credentials: connector (google)', () => {
  it('create/find/destroy; credential_data never comes back', async () => {
    const creds = g.nylas().connectors.credentials;
    const secret = `g-secret-${randomUUID()}`;
    const name = uniq('google alt app');
    const created = await creds.create({
      provider: 'google',
      requestBody: { name, credentialType: 'connector', credentialData: { clientId: 'alt-client', clientSecret: secret } },
    });
    assert.equal(created.data.credentialType, 'connector');
    assertNoData(created.data, [secret], 'create');
    const found = await creds.find({ provider: 'google', credentialsId: created.data.id });
    assertNoData(found.data, [secret], 'find');
    // A credential belongs to its connector only.
    await expectApiError(creds.find({ provider: 'microsoft', credentialsId: created.data.id }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'find through the wrong connector',
    });
    await creds.destroy({ provider: 'google', credentialsId: created.data.id });
  });

  it('a connector credential without client_secret is a 400', async () => {
    const err = await expectApiError(
      g.nylas().connectors.credentials.create({
        provider: 'google',
        requestBody: { name: uniq('no secret'), credentialType: 'connector', credentialData: { clientId: 'x' } },
      }),
      { status: 400, what: 'connector credential without client_secret' },
    );
    assert.match(err.message, /client_secret/);
  });
});

describe('credentials: serviceaccount (google)', () => {
  // What a user passes: the service-account JSON file Google hands out, as
  // is (a real key of the sandbox's Google: grantd checks that it parses).
  let saKey;
  const saFile = () => ({ ...saKey });
  before(async () => {
    saKey = (await g.sandbox.addServiceAccount('conformance.example', ['https://www.googleapis.com/auth/gmail.readonly'])).key;
  });

  it('a full service-account JSON is accepted although the SDK renames its x509 keys; nothing comes back', async () => {
    const creds = g.nylas().connectors.credentials;
    const data = saFile();
    const created = await creds.create({ provider: 'google', requestBody: { name: uniq('sa'), credentialType: 'serviceaccount', credentialData: data } });
    const wire = JSON.parse(recorder.last().body);
    assert.equal(recorder.last().status, 201);
    // The SDK's snake_case puts "_" before every digit run, even in keys that are already snake_case.
    assert.equal(wire.credential_data.client_x_509_cert_url, data.client_x509_cert_url, 'the SDK sends client_x_509_cert_url');
    assert.equal(wire.credential_data.client_x509_cert_url, undefined);
    for (const k of ['private_key_id', 'private_key', 'client_email']) assert.equal(wire.credential_data[k], data[k], `${k} goes out unchanged`);
    assertRequestId(created, 'credentials.create serviceaccount');
    assert.equal(created.data.credentialType, 'serviceaccount');
    assertNoData(created.data, [data.private_key, data.private_key_id], 'create serviceaccount');
    const found = await creds.find({ provider: 'google', credentialsId: created.data.id });
    assertNoData(found.data, [data.private_key, data.private_key_id], 'find serviceaccount');

    // Bulk authentication for a user outside the service account's domain:
    // a 400 that says so, not a crash (bulk-auth.test.js has the rest).
    const err = await expectApiError(
      g.nylas().auth.customAuthentication({
        requestBody: { provider: 'google', settings: { emailAddress: 'someone@example.com', credentialId: created.data.id, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] } },
      }),
      { status: 400, type: 'api.invalid_request_error', what: 'google bulk authentication outside the domain' },
    );
    assert.match(err.message, /Workspace domain/);
    await creds.destroy({ provider: 'google', credentialsId: created.data.id });
  });

  it('a serviceaccount credential on the microsoft connector is a 400', async () => {
    await expectApiError(
      g.nylas().connectors.credentials.create({ provider: 'microsoft', requestBody: { name: uniq('sa on ms'), credentialType: 'serviceaccount', credentialData: saFile() } }),
      { status: 400, type: 'api.invalid_request_error', message: /google/, what: 'serviceaccount on microsoft' },
    );
  });

  it('a serviceaccount credential without private_key is a 400 naming it', async () => {
    const { private_key: _, ...data } = saFile();
    await expectApiError(
      g.nylas().connectors.credentials.create({ provider: 'google', requestBody: { name: uniq('sa no key'), credentialType: 'serviceaccount', credentialData: data } }),
      { status: 400, message: /private_key/, what: 'serviceaccount without private_key' },
    );
  });
});

describe('credentials: names are unique per connector', () => {
  it('creating a second credential with the same name is a 409; so is renaming onto it', async () => {
    const creds = g.nylas().connectors.credentials;
    const name = uniq('dup');
    const data = { clientId: 'c', clientSecret: 's', tenant: 't' };
    const a = await creds.create({ provider: 'microsoft', requestBody: { name, credentialType: 'adminconsent', credentialData: data } });
    const err = await expectApiError(
      creds.create({ provider: 'microsoft', requestBody: { name, credentialType: 'adminconsent', credentialData: data } }),
      { status: 409, what: 'duplicate credential name' },
    );
    assert.match(err.type, /conflict/);

    const b = await creds.create({ provider: 'microsoft', requestBody: { name: uniq('other'), credentialType: 'adminconsent', credentialData: data } });
    await expectApiError(creds.update({ provider: 'microsoft', credentialsId: b.data.id, requestBody: { name } }), {
      status: 409,
      what: 'rename onto an existing name',
    });
    assert.equal((await creds.find({ provider: 'microsoft', credentialsId: b.data.id })).data.name, b.data.name, 'the failed rename changed nothing');
    await creds.destroy({ provider: 'microsoft', credentialsId: a.data.id });
    await creds.destroy({ provider: 'microsoft', credentialsId: b.data.id });
  });
});

describe('credentials: list', () => {
  it('sort_by is sent as createdAt (the SDK does not convert values) and honoured', async () => {
    const creds = g.nylas().connectors.credentials;
    const data = { clientId: 'c', clientSecret: 's' };
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const c = await creds.create({ provider: 'yahoo', requestBody: { name: `yahoo cred ${i}`, credentialType: 'connector', credentialData: data } });
      ids.push(c.data.id);
      // created_at has one-second resolution on the wire; make the order observable.
      if (i < 2) await new Promise((r) => setTimeout(r, 1100));
    }
    const asc = await creds.list({ provider: 'yahoo', queryParams: { sortBy: 'createdAt', orderBy: 'asc' } });
    const q = new URLSearchParams(recorder.last().search);
    assert.equal(q.get('sort_by'), 'createdAt', 'wire value');
    assert.equal(q.get('order_by'), 'asc');
    assert.equal(recorder.last().status, 200);
    assert.deepEqual(asc.data.map((c) => c.id), ids);

    const desc = await creds.list({ provider: 'yahoo', queryParams: { sortBy: 'createdAt', orderBy: 'desc' } });
    assert.deepEqual(desc.data.map((c) => c.id), [...ids].reverse());

    const mark = recorder.mark();
    const page = await creds.list({ provider: 'yahoo', queryParams: { limit: 2, offset: 1, sortBy: 'createdAt', orderBy: 'asc' } });
    assert.deepEqual(page.data.map((c) => c.id), ids.slice(1, 3));
    assert.equal(recorder.since(mark).length, 1, 'one request');

    const one = await creds.list({ provider: 'yahoo', queryParams: { limit: 1 } });
    assert.equal(one.data.length, 1);
  });

  it('sort_by updatedAt: a renamed credential sorts first (desc); limit and offset come back in the envelope', async () => {
    const creds = g.nylas().connectors.credentials;
    const data = { clientId: 'c', clientSecret: 's' };
    const a = await creds.create({ provider: 'yahoo', requestBody: { name: uniq('upd a'), credentialType: 'connector', credentialData: data } });
    await creds.create({ provider: 'yahoo', requestBody: { name: uniq('upd b'), credentialType: 'connector', credentialData: data } });
    await creds.update({ provider: 'yahoo', credentialsId: a.data.id, requestBody: { name: uniq('upd a renamed') } });
    const desc = await creds.list({ provider: 'yahoo', queryParams: { sortBy: 'updatedAt', orderBy: 'desc', limit: 1 } });
    assert.equal(new URLSearchParams(recorder.last().search).get('sort_by'), 'updatedAt', 'wire value');
    assert.deepEqual(desc.data.map((c) => c.id), [a.data.id]);
    assert.equal(desc.limit, 1);
    assert.equal(desc.offset, 0);
    assert.equal(desc.nextCursor, undefined, 'no cursor: the SDK sends no page_token');
    const asc = await creds.list({ provider: 'yahoo', queryParams: { sortBy: 'updatedAt', orderBy: 'asc', limit: 50 } });
    assert.equal(asc.data[asc.data.length - 1].id, a.data.id);
  });

  it('an empty page with a limit is an empty array', async () => {
    const res = await g.nylas().connectors.credentials.list({ provider: 'yahoo', queryParams: { limit: 5, offset: 1000 } });
    assert.deepEqual(res.data, []);
  });

  it('an invalid sort_by is a 400', async () => {
    await expectApiError(g.nylas().connectors.credentials.list({ provider: 'yahoo', queryParams: { sortBy: 'name' } }), {
      status: 400,
      what: 'sort_by=name',
    });
  });

  it('credentials of a provider without a connector: 404', async () => {
    await expectApiError(g.nylas().connectors.credentials.list({ provider: 'icloud', queryParams: {} }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'list icloud creds',
    });
  });
});

describe('credentials: deleting a connector', () => {
  it('deletes its credentials too', async () => {
    const nylas = g.nylas();
    const cred = await nylas.connectors.credentials.create({
      provider: 'zoom',
      requestBody: { name: uniq('zoom cred'), credentialType: 'connector', credentialData: { clientId: 'zc', clientSecret: 'zs' } },
    });
    const conn = (await nylas.connectors.find({ provider: 'zoom' })).data;
    await nylas.connectors.destroy({ provider: 'zoom' });
    await nylas.connectors.create({ requestBody: { name: conn.name, provider: 'zoom', settings: { clientId: 'zoom-client', clientSecret: 'zoom-secret' } } });
    const list = await nylas.connectors.credentials.list({ provider: 'zoom', queryParams: {} });
    assert.deepEqual(list.data, [], 'a recreated connector starts without credentials');
    await expectApiError(nylas.connectors.credentials.find({ provider: 'zoom', credentialsId: cred.data.id }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'find a credential of a deleted connector',
    });
  });
});
