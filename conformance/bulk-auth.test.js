// Bulk authentication through the SDK: connectors.credentials.create with
// a `serviceaccount` credential (the Google JSON key) and
// auth.customAuthentication with {provider:'google', settings:{emailAddress,
// credentialId, scopes}} against grantd dev's Google service account.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const GMAIL = 'https://www.googleapis.com/auth/gmail.readonly';
const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });
const uniq = (label) => `${label} ${randomUUID().slice(0, 8)}`;

describe('credentials: serviceaccount (google)', () => {
  it('create/find/list/destroy; the key never comes back', async () => {
    const sa = await g.sandbox.addServiceAccount('sdk.example', [GMAIL]);
    const creds = g.nylas().connectors.credentials;
    const name = uniq('workspace');
    const created = await creds.create({ provider: 'google', requestBody: { name, credentialType: 'serviceaccount', credentialData: sa.key } });
    assertRequestId(created, 'credentials.create');
    assert.equal(recorder.last().status, 201);
    const wire = JSON.parse(recorder.last().body);
    assert.equal(wire.credential_type, 'serviceaccount');
    for (const k of ['type', 'client_email', 'private_key_id', 'private_key']) assert.ok(k in wire.credential_data, `SDK sends ${k}`);
    const c = created.data;
    assert.equal(c.name, name);
    assert.equal(c.credentialType, 'serviceaccount');
    assertUnixSecondsNow(c.createdAt, 'createdAt');
    const secretPart = sa.key.private_key.slice(40, 80);
    for (const x of [c, (await creds.find({ provider: 'google', credentialsId: c.id })).data, ...(await creds.list({ provider: 'google', queryParams: {} })).data]) {
      const json = JSON.stringify(x);
      assert.equal(x.credentialData, undefined);
      assert.ok(!json.includes(secretPart) && !json.includes('PRIVATE KEY'), `the key leaked: ${json}`);
    }
    await creds.destroy({ provider: 'google', credentialsId: c.id });
  });

  it('a key that is not a service account key, or whose private key does not parse, is a 400', async () => {
    const sa = await g.sandbox.addServiceAccount('sdk.example', [GMAIL]);
    const creds = g.nylas().connectors.credentials;
    for (const [what, data, re] of [
      ['user credentials file', { ...sa.key, type: 'authorized_user' }, /service_account/],
      ['damaged private key', { ...sa.key, private_key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, /does not parse/],
      ['not PEM', { ...sa.key, private_key: 'MIIEvQ' }, /PEM/],
    ]) {
      const err = await expectApiError(creds.create({ provider: 'google', requestBody: { name: uniq(what), credentialType: 'serviceaccount', credentialData: data } }), {
        status: 400,
        type: 'api.invalid_request_error',
        what,
      });
      assert.match(err.message, re, what);
      assert.ok(!err.message.includes(sa.key.private_key.slice(40, 80)), `${what}: key echoed`);
    }
  });
});

describe('customAuthentication: google service account (bulk)', () => {
  it("dev's service account: a valid grant for a workspace user; the same email keeps its grant id", async () => {
    const sa = g.googleServiceAccount;
    assert.ok(sa && sa.credential_id, 'dev.json has google_service_account');
    const settings = { emailAddress: sa.users[1], credentialId: sa.credential_id, scopes: [GMAIL] };
    const first = await custom({ provider: 'google', settings });
    assertRequestId(first, 'customAuthentication');
    assert.equal(recorder.last().status, 201);
    assert.deepEqual(JSON.parse(recorder.last().body), {
      provider: 'google',
      settings: { email_address: sa.users[1], credential_id: sa.credential_id, scopes: [GMAIL] },
    });
    const gr = first.data;
    assert.equal(gr.provider, 'google');
    assert.equal(gr.grantStatus, 'valid');
    assert.equal(gr.email, sa.users[1]);
    assert.deepEqual(gr.scope, [GMAIL]);
    assert.equal(gr.credentialId, sa.credential_id);
    assert.ok(!/refresh_?token|access_?token|PRIVATE KEY/i.test(JSON.stringify(gr)));
    const again = await custom({ provider: 'google', settings: { ...settings, scopes: sa.scopes } });
    assert.equal(again.data.id, gr.id, 'same grant id');
    assert.deepEqual(again.data.scope, sa.scopes);
  });

  it('a user outside the workspace, missing scopes and withdrawn delegation are 400s', async () => {
    const sa = g.googleServiceAccount;
    for (const [what, settings, re] of [
      ['user outside the domain', { emailAddress: 'dev.google@example.com', credentialId: sa.credential_id, scopes: [GMAIL] }, /Workspace domain/],
      ['scopes missing', { emailAddress: sa.users[2], credentialId: sa.credential_id }, /settings\.scopes is required/],
      ['scopes not a list', { emailAddress: sa.users[2], credentialId: sa.credential_id, scopes: GMAIL }, /list/],
    ]) {
      const err = await expectApiError(custom({ provider: 'google', settings }), { status: 400, type: 'api.invalid_request_error', what });
      assert.match(err.message, re, what);
    }
    await g.sandbox.setDelegation(sa.client_email, []);
    try {
      const err = await expectApiError(custom({ provider: 'google', settings: { emailAddress: sa.users[2], credentialId: sa.credential_id, scopes: [GMAIL] } }), {
        status: 400,
        what: 'withdrawn delegation',
      });
      assert.match(err.message, /domain-wide delegation/);
    } finally {
      await g.sandbox.setDelegation(sa.client_email, sa.scopes);
    }
    const list = await g.nylas().grants.list({ queryParams: { email: sa.users[2] } });
    assert.equal(list.data.length, 0, 'nothing stored');
  });
});

describe('credentials and customAuthentication: microsoft app permissions (adminconsent)', () => {
  it("dev's consented tenant: a valid grant with the user's primary address; the same email keeps its id", async () => {
    const ac = g.microsoftAdminConsent;
    assert.ok(ac && ac.credential_id, 'dev.json has microsoft_admin_consent');
    const first = await custom({ provider: 'microsoft', settings: { emailAddress: ac.users[1].toUpperCase(), credentialId: ac.credential_id } });
    assertRequestId(first, 'customAuthentication');
    assert.equal(recorder.last().status, 201);
    assert.deepEqual(JSON.parse(recorder.last().body), { provider: 'microsoft', settings: { email_address: ac.users[1].toUpperCase(), credential_id: ac.credential_id } });
    const gr = first.data;
    assert.equal(gr.provider, 'microsoft');
    assert.equal(gr.grantStatus, 'valid');
    assert.equal(gr.email, ac.users[1]);
    assert.deepEqual(gr.scope, ['https://graph.microsoft.com/.default']);
    assert.equal(gr.credentialId, ac.credential_id);
    assert.ok(gr.providerUserId);
    const again = await custom({ provider: 'microsoft', settings: { emailAddress: ac.users[1], credentialId: ac.credential_id } });
    assert.equal(again.data.id, gr.id);
  });

  it('consent not given, a user outside the tenant and a tenant of common are 400s; nothing is stored', async () => {
    const ac = g.microsoftAdminConsent;
    const creds = g.nylas().connectors.credentials;
    // A tenant whose administrator never consented.
    const other = '0f0f0f0f-0000-4000-8000-0f0f0f0f0f0f';
    await g.sandbox.call('POST', '/admin/users', { provider: 'microsoft', email: 'eve@other.example', tenant: other });
    const cred = await creds.create({ provider: 'microsoft', requestBody: { name: uniq('other tenant'), credentialType: 'adminconsent', credentialData: { tenant: other } } });
    let err = await expectApiError(custom({ provider: 'microsoft', settings: { emailAddress: 'eve@other.example', credentialId: cred.data.id } }), { status: 400, what: 'no consent' });
    assert.match(err.message, /consent/);
    err = await expectApiError(custom({ provider: 'microsoft', settings: { emailAddress: 'eve@other.example', credentialId: ac.credential_id } }), { status: 400, what: 'user outside the tenant' });
    assert.match(err.message, /no user/);
    err = await expectApiError(creds.create({ provider: 'microsoft', requestBody: { name: uniq('common'), credentialType: 'adminconsent', credentialData: { tenant: 'common' } } }), { status: 400, what: 'tenant common' });
    assert.match(err.message, /tenant/);
    const list = await g.nylas().grants.list({ queryParams: { email: 'eve@other.example' } });
    assert.equal(list.data.length, 0);
  });
});
