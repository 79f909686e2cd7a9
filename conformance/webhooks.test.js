// webhooks.create/list/find/update/destroy/rotateSecret/ipAddresses, and a
// delivery a receiver can verify.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { useGrantd, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();

/** A receiver on loopback: answers the challenge, records POSTs. */
function startReceiver({ challenge = (v) => v } = {}) {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url, 'http://x');
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(challenge(u.searchParams.get('challenge') ?? ''));
        return;
      }
      got.push({ raw: Buffer.concat(chunks), signature: req.headers['x-nylas-signature'] });
      res.writeHead(200);
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}/hooks`, got, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

const verified = (secret, d) =>
  d.signature === crypto.createHmac('sha256', secret).update(d.raw).digest('hex');

describe('webhooks', () => {
  let rcv;
  let bad;
  before(async () => {
    rcv = await startReceiver();
    bad = await startReceiver({ challenge: () => 'not the value' });
  });
  after(async () => {
    await rcv.close();
    await bad.close();
  });

  let id;
  let secret;
  it('create answers the challenge and returns the secret once', async () => {
    const res = await g.nylas().webhooks.create({
      requestBody: {
        triggerTypes: ['grant.created', 'grant.updated', 'grant.deleted', 'grant.expired'],
        webhookUrl: rcv.url,
        description: 'conformance',
        notificationEmailAddresses: ['ops@example.com'],
      },
    });
    assertRequestId(res, 'webhooks.create');
    const w = res.data;
    assert.equal(typeof w.id, 'string');
    assert.equal(w.webhookUrl, rcv.url);
    assert.equal(w.status, 'active');
    assert.deepEqual(w.triggerTypes, ['grant.created', 'grant.updated', 'grant.deleted', 'grant.expired']);
    assert.deepEqual(w.notificationEmailAddresses, ['ops@example.com']);
    assert.equal(w.description, 'conformance');
    assert.match(w.webhookSecret, /^[0-9a-f]{64}$/);
    assertUnixSecondsNow(w.createdAt, 'createdAt');
    assertUnixSecondsNow(w.updatedAt, 'updatedAt');
    assertUnixSecondsNow(w.statusUpdatedAt, 'statusUpdatedAt');
    id = w.id;
    secret = w.webhookSecret;
  });

  it('list and find never return the secret', async () => {
    const list = await g.nylas().webhooks.list();
    assertRequestId(list, 'webhooks.list');
    const mine = list.data.find((w) => w.id === id);
    assert.ok(mine, 'the new destination is listed');
    assert.equal(mine.webhookSecret, undefined);
    assert.ok(!JSON.stringify(list.data).includes(secret));
    const one = await g.nylas().webhooks.find({ webhookId: id });
    assertRequestId(one, 'webhooks.find');
    assert.equal(one.data.id, id);
    assert.equal(one.data.webhookSecret, undefined);
  });

  it('a grant event reaches the receiver, signed with the secret', async () => {
    const ident = await g.newIdentity('google', { label: 'hook' });
    const grant = await g.nylas().auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: ident.refreshToken } } });
    const deadline = Date.now() + 10_000;
    let d;
    while (!(d = rcv.got.find((x) => JSON.parse(x.raw).data.object.grant_id === grant.data.id))) {
      assert.ok(Date.now() < deadline, 'no delivery within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(verified(secret, d), 'x-nylas-signature is the HMAC-SHA256 of the raw body with webhook_secret');
    const ev = JSON.parse(d.raw);
    assert.equal(ev.type, 'grant.created');
    assert.equal(ev.specversion, '1.0');
    assert.equal(ev.webhook_delivery_attempt, 1);
    assert.equal(ev.data.application_id, g.applicationId);
    assert.equal(ev.data.object.email, ident.email);
    assert.equal(ev.data.object.provider, 'google');
    assert.ok(Array.isArray(ev.data.object.scope));
  });

  it('update is a PUT with a partial body', async () => {
    const res = await g.nylas().webhooks.update({ webhookId: id, requestBody: { description: 'new' } });
    assertRequestId(res, 'webhooks.update');
    assert.equal(res.data.description, 'new');
    assert.equal(res.data.webhookUrl, rcv.url);
    assert.equal(res.data.triggerTypes.length, 4);
  });

  it('update to a URL that fails the challenge is a 400 and changes nothing', async () => {
    await expectApiError(g.nylas().webhooks.update({ webhookId: id, requestBody: { webhookUrl: bad.url } }), {
      status: 400, type: 'api.invalid_request_error', message: /challenge/,
    });
    const one = await g.nylas().webhooks.find({ webhookId: id });
    assert.equal(one.data.webhookUrl, rcv.url);
  });

  it('rotateSecret returns a new secret', async () => {
    const res = await g.nylas().webhooks.rotateSecret({ webhookId: id });
    assertRequestId(res, 'webhooks.rotateSecret');
    assert.match(res.data.webhookSecret, /^[0-9a-f]{64}$/);
    assert.notEqual(res.data.webhookSecret, secret);
  });

  it('ipAddresses', async () => {
    const res = await g.nylas().webhooks.ipAddresses();
    assertRequestId(res, 'webhooks.ipAddresses');
    assert.ok(Array.isArray(res.data.ipAddresses));
    assertUnixSecondsNow(res.data.updatedAt, 'updatedAt', 3600);
  });

  it('create: bad input is a 400 NylasApiError', async () => {
    await expectApiError(g.nylas().webhooks.create({ requestBody: { triggerTypes: ['grant.created'], webhookUrl: bad.url } }), {
      status: 400, type: 'api.invalid_request_error', message: /challenge/,
    });
    await expectApiError(g.nylas().webhooks.create({ requestBody: { triggerTypes: ['message.created'], webhookUrl: rcv.url } }), {
      status: 400, message: /trigger type/,
    });
    await expectApiError(g.nylas().webhooks.create({ requestBody: { triggerTypes: ['grant.created'], webhookUrl: 'ftp://example.com/x' } }), {
      status: 400, message: /http/,
    });
  });

  it('destroy, then find is a 404', async () => {
    const res = await g.nylas().webhooks.destroy({ webhookId: id });
    assert.equal(res.data?.status, 'success');
    await expectApiError(g.nylas().webhooks.find({ webhookId: id }), { status: 404, type: 'api.not_found_error' });
  });
});
