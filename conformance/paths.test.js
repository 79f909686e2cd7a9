// Path parameters as the SDK sends them. nylas@8.4.0 puts every id into the
// path as encodeURIComponent(decodeURIComponent(id)), so "a b/c" goes out as
// a%20b%2Fc: one path segment that grantd must treat as an opaque id. The
// SDK's fetch follows redirects silently, with the same method and body
// (307), so grantd must never answer a request by redirecting it somewhere
// else: the SDK would report the other resource's answer as its own.
//
// This file has its own grantd: the traversal cases below would change or
// delete its connectors if they failed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, Nylas } from './harness.js';

const g = useGrantd();

/** The imap connector the traversal cases aim at, (re)created when missing. */
async function ensureImapConnector() {
  const nylas = g.nylas();
  try {
    await nylas.connectors.destroy({ provider: 'imap' });
  } catch {}
  await nylas.connectors.create({ requestBody: { name: 'victim imap', provider: 'imap' } });
}

async function assertImapConnectorUntouched(what) {
  const found = await g.nylas().connectors.find({ provider: 'imap' }).catch((e) => e);
  assert.ok(!(found instanceof Error), `${what}: the imap connector is gone (${found?.message})`);
  assert.equal(found.data.name, 'victim imap', `${what}: the imap connector was changed`);
}

describe('path parameters: ids with reserved characters are one opaque segment', () => {
  it('connectors.find({provider: "a b/c"}) is a 404, sent as a%20b%2Fc', async () => {
    await expectApiError(g.nylas().connectors.find({ provider: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'connectors.find "a b/c"' });
    assert.equal(recorder.last().path, '/v3/connectors/a%20b%2Fc');
  });

  it('credentials.find/destroy with an id "a b/c" are 404s', async () => {
    const creds = g.nylas().connectors.credentials;
    await expectApiError(creds.find({ provider: 'google', credentialsId: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'credentials.find "a b/c"' });
    assert.equal(recorder.last().path, '/v3/connectors/google/creds/a%20b%2Fc');
    await expectApiError(creds.destroy({ provider: 'google', credentialsId: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'credentials.destroy "a b/c"' });
  });

  it('grants.destroy/update with an id "a b/c" are 404s', async () => {
    await expectApiError(g.nylas().grants.destroy({ grantId: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'grants.destroy "a b/c"' });
    assert.equal(recorder.last().path, '/v3/grants/a%20b%2Fc');
    await expectApiError(g.nylas().grants.update({ grantId: 'a b/c', requestBody: { scope: ['openid'] } }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'grants.update "a b/c"',
    });
  });

  it('an id "../connectors/imap" (sent as ..%2Fconnectors%2Fimap) stays a grant id', async () => {
    await ensureImapConnector();
    await expectApiError(g.nylas().grants.destroy({ grantId: '../connectors/imap' }), { status: 404, type: 'api.not_found_error', what: 'grants.destroy "../connectors/imap"' });
    assert.equal(recorder.last().path, '/v3/grants/..%2Fconnectors%2Fimap');
    await assertImapConnectorUntouched('grants.destroy "../connectors/imap"');
  });

  it('with a trailing slash on apiUri, an id "a b/c" is still a 404', async () => {
    const slashed = new Nylas({ apiKey: g.apiKey, apiUri: g.apiUri + '/', timeout: 30 });
    await expectApiError(slashed.grants.find({ grantId: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'find "a b/c" through //' });
    assert.equal(recorder.last().path, '//v3/grants/a%20b%2Fc');
  });
});

// Before the fix, grantd collapsed "//" in the *decoded* path, so %2F in
// an id became a real "/"; net/http's ServeMux then cleaned "/../" out of
// the path and answered 307 to the cleaned path, which fetch followed with
// the same method and body (grants.destroy deleted a connector). A "." or
// ".." id (encodeURIComponent leaves dots alone) was redirected the same
// way, even without "//".
describe('path parameters: an id holding "//" and "../" must not reach another resource', () => {
  it('grants.find({grantId: "x//../../connectors/google"}) is a 404, not the google connector', async () => {
    await expectApiError(g.nylas().grants.find({ grantId: 'x//../../connectors/google' }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'grants.find "x//../../connectors/google"',
    });
  });

  it('grants.destroy({grantId: "x//../../connectors/imap"}) is a 404 and deletes no connector', async () => {
    await ensureImapConnector();
    try {
      await expectApiError(g.nylas().grants.destroy({ grantId: 'x//../../connectors/imap' }), {
        status: 404,
        type: 'api.not_found_error',
        what: 'grants.destroy "x//../../connectors/imap"',
      });
    } finally {
      await assertImapConnectorUntouched('grants.destroy "x//../../connectors/imap"');
    }
  });

  it('grants.update({grantId: "x//../../connectors/imap"}) is a 404 and changes no connector', async () => {
    await ensureImapConnector();
    try {
      await expectApiError(g.nylas().grants.update({ grantId: 'x//../../connectors/imap', requestBody: { name: `hijacked ${randomUUID().slice(0, 8)}` } }), {
        status: 404,
        type: 'api.not_found_error',
        what: 'grants.update "x//../../connectors/imap"',
      });
    } finally {
      await assertImapConnectorUntouched('grants.update "x//../../connectors/imap"');
    }
  });

  it('credentials.destroy({credentialsId: "x//../../../imap"}) is a 404 and deletes no connector', async () => {
    await ensureImapConnector();
    try {
      await expectApiError(g.nylas().connectors.credentials.destroy({ provider: 'google', credentialsId: 'x//../../../imap' }), {
        status: 404,
        type: 'api.not_found_error',
        what: 'credentials.destroy "x//../../../imap"',
      });
    } finally {
      await assertImapConnectorUntouched('credentials.destroy "x//../../../imap"');
    }
  });

  it('with a trailing slash on apiUri, grants.find({grantId: "../connectors/google"}) is a 404', async () => {
    const slashed = new Nylas({ apiKey: g.apiKey, apiUri: g.apiUri + '/', timeout: 30 });
    await expectApiError(slashed.grants.find({ grantId: '../connectors/google' }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'grants.find "../connectors/google" through //',
    });
  });

  // fetch's URL parser resolves the ".." itself (the request goes out as
  // DELETE /v3/connectors/imap/): that must not delete the connector
  // either. (Clients that send ".." as is: internal/api TestPathsNeverRedirect.)
  it('credentials.destroy({credentialsId: ".."}) is a 404 and deletes no connector', async () => {
    await ensureImapConnector();
    try {
      await expectApiError(g.nylas().connectors.credentials.destroy({ provider: 'imap', credentialsId: '..' }), {
        status: 404,
        type: 'api.not_found_error',
        what: 'credentials.destroy ".."',
      });
      assert.equal(recorder.last().path, '/v3/connectors/imap/');
    } finally {
      await assertImapConnectorUntouched('credentials.destroy ".."');
    }
  });
});
