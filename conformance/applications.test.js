// applications.getDetails, authentication errors and transport details
// (an apiUri with a trailing slash).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow, Nylas } from './harness.js';

const g = useGrantd();

describe('applications.getDetails', () => {
  it('returns the development application', async () => {
    const res = await g.nylas().applications.getDetails();
    assertRequestId(res, 'getDetails');
    assert.equal(res.data.applicationId, g.applicationId);
    assert.equal(typeof res.data.branding, 'object');
    assert.equal(res.data.branding.name, 'grantd dev');
    assert.equal(typeof res.data.organizationId, 'string');
    assert.equal(typeof res.data.region, 'string');
    assert.equal(typeof res.data.environment, 'string');
    assert.ok(Array.isArray(res.data.callbackUris), 'callbackUris is an array');
    assert.ok(!('application_id' in res.data), 'the SDK camelCases the keys');
    const last = recorder.last();
    assert.equal(last.method, 'GET');
    assert.equal(last.path, '/v3/applications');
  });

  it('a wrong API key is a NylasApiError 401 api.authentication_error', async () => {
    const nylas = new Nylas({ apiKey: 'grantd_not_a_real_key', apiUri: g.apiUri });
    await expectApiError(nylas.applications.getDetails(), {
      status: 401,
      type: 'api.authentication_error',
      message: /key/i,
      what: 'getDetails with a wrong key',
    });
  });

  it('a wrong API key is refused on every resource', async () => {
    const nylas = new Nylas({ apiKey: 'grantd_not_a_real_key', apiUri: g.apiUri });
    await expectApiError(nylas.grants.list(), { status: 401, type: 'api.authentication_error', what: 'grants.list' });
    await expectApiError(nylas.connectors.list({}), { status: 401, type: 'api.authentication_error', what: 'connectors.list' });
    await expectApiError(
      nylas.auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: g.identities.google.refresh_token } } }),
      { status: 401, type: 'api.authentication_error', what: 'customAuthentication' },
    );
  });

  it('an empty API key is a 401 too (the SDK still sends "Bearer ")', async () => {
    const nylas = new Nylas({ apiKey: '', apiUri: g.apiUri });
    await expectApiError(nylas.applications.getDetails(), { status: 401, type: 'api.authentication_error', what: 'empty key' });
  });
});

describe('apiUri with a trailing slash (the SDK sends //v3/…)', () => {
  const slashed = () => new Nylas({ apiKey: g.apiKey, apiUri: g.apiUri + '/', timeout: 30 });

  it('GET works', async () => {
    const res = await slashed().applications.getDetails();
    assert.equal(recorder.last().path, '//v3/applications', 'the SDK really sent a double slash');
    assert.equal(recorder.last().redirected, false, 'served, not redirected (fetch would follow a redirect silently)');
    assert.equal(recorder.last().status, 200);
    assert.equal(res.data.applicationId, g.applicationId);
  });

  it('POST, GET, PATCH and DELETE on grants work', async () => {
    const nylas = slashed();
    const id = await g.newIdentity('google', { label: 'slash' });
    const created = await nylas.auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: id.refreshToken } } });
    assert.equal(recorder.last().path, '//v3/connect/custom');
    assert.equal(recorder.last().method, 'POST');
    assert.equal(recorder.last().redirected, false, 'POST served, not redirected');
    assert.equal(created.data.email, id.email);
    assert.equal(created.data.grantStatus, 'valid');
    assertUnixSecondsNow(created.data.createdAt, 'createdAt');

    const found = await nylas.grants.find({ grantId: created.data.id });
    assert.equal(recorder.last().path, `//v3/grants/${created.data.id}`);
    assert.equal(found.data.id, created.data.id);

    const updated = await nylas.grants.update({ grantId: created.data.id, requestBody: { scope: ['openid'] } });
    assert.equal(recorder.last().method, 'PATCH');
    assert.equal(recorder.last().redirected, false, 'PATCH served, not redirected');
    assert.deepEqual(updated.data.scope, ['openid']);

    const del = await nylas.grants.destroy({ grantId: created.data.id });
    assert.equal(recorder.last().method, 'DELETE');
    assert.equal(recorder.last().redirected, false, 'DELETE served, not redirected');
    assert.equal(recorder.last().status, 200);
    assert.equal(typeof del.requestId, 'string');
    await expectApiError(nylas.grants.find({ grantId: created.data.id }), { status: 404, type: 'api.not_found_error', what: 'find after destroy' });
  });

  it('PUT on connectors works', async () => {
    const nylas = slashed();
    const res = await nylas.connectors.update({ provider: 'yahoo', requestBody: { name: 'renamed through //' } });
    assert.equal(recorder.last().path, '//v3/connectors/yahoo');
    assert.equal(recorder.last().method, 'PUT');
    assert.equal(recorder.last().redirected, false, 'PUT served, not redirected');
    assert.equal(res.data.name, 'renamed through //');
  });
});

describe('per-call overrides.apiKey', () => {
  it('is the key grantd checks: a wrong override is a 401, a right one works with a wrong configured key', async () => {
    await expectApiError(g.nylas().applications.getDetails({ overrides: { apiKey: 'grantd_not_a_real_key' } }), {
      status: 401,
      type: 'api.authentication_error',
      what: 'getDetails with a wrong overrides.apiKey',
    });
    const nylas = new Nylas({ apiKey: 'grantd_not_a_real_key', apiUri: g.apiUri, timeout: 30 });
    const res = await nylas.connectors.list({ queryParams: {}, overrides: { apiKey: g.apiKey } });
    assertRequestId(res, 'connectors.list with overrides.apiKey');
    assert.ok(res.data.length > 0);
  });
});

describe('an oversized request body', () => {
  it('is a NylasApiError 413 api.request_too_large (not a reset connection the SDK cannot parse)', async () => {
    // grantd's default body limit is 1 MiB. Stay under 1 MiB + 256 KiB, the
    // part of an unread body net/http drains before it answers, so that the
    // test does not depend on how the client copes with a closed socket.
    const huge = 'x'.repeat((1 << 20) + (64 << 10));
    const err = await expectApiError(
      g.nylas().auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: huge } } }),
      { status: 413, type: 'api.request_too_large', message: /larger than/, what: 'customAuthentication with a 1.06 MiB body' },
    );
    assert.ok(!err.message.includes(huge.slice(0, 100)), 'the body is not echoed');
  });
});

describe('errors for unknown routes', () => {
  it('a path grantd does not serve is a NylasApiError 404, not an unparseable body', async () => {
    const nylas = g.nylas();
    // overrides.apiUri lets one call go elsewhere; use it to hit /v3/nope.
    await expectApiError(
      nylas.connectors.find({ provider: 'google', overrides: { apiUri: g.apiUri + '/v3/nope' } }),
      { status: 404, type: 'api.not_found_error', what: 'GET /v3/nope/v3/connectors/google' },
    );
  });
});
