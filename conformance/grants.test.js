// grants.list/find/update/destroy.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();

async function newGrant(provider, label) {
  const id = await g.newIdentity(provider, { label });
  const res = await g.nylas().auth.customAuthentication({ requestBody: { provider, settings: { refreshToken: id.refreshToken } } });
  return { identity: id, grant: res.data };
}

describe('grants.list', () => {
  // 7 grants: 3 google, 2 yahoo, 2 zoom, created one after another.
  const made = [];
  before(async () => {
    for (const [provider, n] of [['google', 3], ['yahoo', 2], ['zoom', 2]]) {
      for (let i = 0; i < n; i++) made.push(await newGrant(provider, `list${i}`));
    }
  });

  it('without parameters returns an array of grants', async () => {
    const res = await g.nylas().grants.list();
    assertRequestId(res, 'grants.list');
    assert.ok(Array.isArray(res.data));
    assert.ok(res.data.length >= 1 && res.data.length <= 10, `default page is at most 10, got ${res.data.length}`);
    for (const gr of res.data) {
      assert.equal(typeof gr.id, 'string');
      assert.ok(Array.isArray(gr.scope));
      assertUnixSecondsNow(gr.createdAt, 'createdAt');
    }
  });

  for (const limit of [1, 2, 5]) {
    it(`limit ${limit} returns exactly ${limit} grants in exactly one request`, async () => {
      const mark = recorder.mark();
      const res = await g.nylas().grants.list({ queryParams: { limit } });
      const reqs = recorder.since(mark);
      assert.equal(reqs.length, 1, `the SDK sent ${reqs.length} requests (it loops when a server over-returns): ${reqs.map((r) => r.search).join(' ')}`);
      assert.equal(res.data.length, limit);
      assert.equal(new URLSearchParams(reqs[0].search).get('limit'), String(limit));
    });
  }

  // nylas@8.4.0's grants.list is an `async` method, so unlike the other
  // list methods its result is a plain Promise and not async-iterable; the
  // for-await case is in connectors.test.js.

  it('a limit above the number of grants returns them all, in one request', async () => {
    const mark = recorder.mark();
    const res = await g.nylas().grants.list({ queryParams: { limit: 200 } });
    assert.equal(recorder.since(mark).length, 1, 'one request');
    for (const m of made) assert.ok(res.data.some((x) => x.id === m.grant.id), `grant ${m.grant.email} listed`);
    assert.ok(res.data.length <= 200);
  });

  it('a limit above the maximum never returns more than asked, in one request', async () => {
    const mark = recorder.mark();
    const res = await g.nylas().grants.list({ queryParams: { limit: 1000 } });
    assert.equal(recorder.since(mark).length, 1, 'one request');
    assert.ok(res.data.length <= 1000);
  });

  it('limit and offset page without overlap', async () => {
    const nylas = g.nylas();
    const q = { provider: 'google', sortBy: 'created_at', orderBy: 'asc' };
    const all = (await nylas.grants.list({ queryParams: { ...q, limit: 50 } })).data.map((x) => x.id);
    assert.ok(all.length >= 3);
    const p1 = (await nylas.grants.list({ queryParams: { ...q, limit: 2, offset: 0 } })).data.map((x) => x.id);
    const p2 = (await nylas.grants.list({ queryParams: { ...q, limit: 2, offset: 2 } })).data.map((x) => x.id);
    assert.deepEqual(p1, all.slice(0, 2));
    assert.deepEqual(p2, all.slice(2, 4));
    const beyond = await nylas.grants.list({ queryParams: { ...q, limit: 2, offset: 1000 } });
    assert.deepEqual(beyond.data, [], 'past the end: an empty array');
  });

  it('sort_by created_at asc/desc', async () => {
    const nylas = g.nylas();
    const asc = (await nylas.grants.list({ queryParams: { limit: 200, sortBy: 'created_at', orderBy: 'asc' } })).data;
    const desc = (await nylas.grants.list({ queryParams: { limit: 200, sortBy: 'created_at', orderBy: 'desc' } })).data;
    assert.deepEqual(desc.map((x) => x.id), asc.map((x) => x.id).reverse());
    for (let i = 1; i < asc.length; i++) assert.ok(asc[i - 1].createdAt <= asc[i].createdAt, 'ascending createdAt');
  });

  it('filters by provider', async () => {
    const res = await g.nylas().grants.list({ queryParams: { provider: 'zoom', limit: 50 } });
    assert.ok(res.data.length >= 2);
    for (const x of res.data) assert.equal(x.provider, 'zoom');
  });

  it('filters by email', async () => {
    const target = made[3];
    const res = await g.nylas().grants.list({ queryParams: { email: target.identity.email } });
    assert.equal(new URLSearchParams(recorder.last().search).get('email'), target.identity.email);
    assert.equal(res.data.length, 1);
    assert.equal(res.data[0].id, target.grant.id);
  });

  it('filters by grant_status', async () => {
    const valid = await g.nylas().grants.list({ queryParams: { grantStatus: 'valid', limit: 200 } });
    assert.equal(new URLSearchParams(recorder.last().search).get('grant_status'), 'valid');
    assert.ok(valid.data.length >= made.length);
    for (const x of valid.data) assert.equal(x.grantStatus, 'valid');
    const invalid = await g.nylas().grants.list({ queryParams: { grantStatus: 'invalid', limit: 200 } });
    for (const x of invalid.data) assert.equal(x.grantStatus, 'invalid');
  });

  it('filters by since/before (Unix seconds)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const recent = await g.nylas().grants.list({ queryParams: { since: now - 3600, limit: 200 } });
    for (const m of made) assert.ok(recent.data.some((x) => x.id === m.grant.id));
    const old = await g.nylas().grants.list({ queryParams: { before: now - 3600, limit: 200 } });
    assert.deepEqual(old.data, []);
  });

  it('filters by account_id, account_ids, workspace_id and ip, sent snake_case (BYO grants have none of them)', async () => {
    const nylas = g.nylas();
    for (const [qp, wire, value] of [
      [{ accountId: 'acct-none' }, 'account_id', 'acct-none'],
      [{ accountIds: 'acct-none,acct-other' }, 'account_ids', 'acct-none,acct-other'],
      [{ workspaceId: 'ws-none' }, 'workspace_id', 'ws-none'],
      [{ ip: '192.0.2.7' }, 'ip', '192.0.2.7'],
    ]) {
      const res = await nylas.grants.list({ queryParams: { ...qp, limit: 200 } });
      assert.equal(new URLSearchParams(recorder.last().search).get(wire), value, `${wire} on the wire`);
      assert.deepEqual(res.data, [], `${wire}=${value} matches no grant`);
    }
    // The same filter with a provider that has grants is still empty: the
    // filters combine, none is dropped.
    const res = await nylas.grants.list({ queryParams: { provider: 'google', workspaceId: 'ws-none', limit: 200 } });
    assert.deepEqual(res.data, []);
  });

  it('combined filters: provider and email', async () => {
    const target = made[0];
    const hit = await g.nylas().grants.list({ queryParams: { provider: 'google', email: target.identity.email, limit: 5 } });
    assert.deepEqual(hit.data.map((x) => x.id), [target.grant.id]);
    const miss = await g.nylas().grants.list({ queryParams: { provider: 'yahoo', email: target.identity.email, limit: 5 } });
    assert.deepEqual(miss.data, []);
  });

  it('the envelope keys limit and offset pass through; a full page has a next_cursor but the SDK sends no page_token request', async () => {
    const mark = recorder.mark();
    const res = await g.nylas().grants.list({ queryParams: { limit: 3, offset: 1 } });
    assert.equal(recorder.since(mark).length, 1, 'one request (the page is full, so the SDK does not follow the cursor)');
    assert.equal(res.limit, 3, 'limit from the envelope');
    assert.equal(res.offset, 1, 'offset from the envelope');
    assert.equal(typeof res.nextCursor, 'string', 'next_cursor on a full page');
    const big = await g.nylas().grants.list({ queryParams: { limit: 1000 } });
    assert.ok(big.limit <= 1000 && big.data.length <= big.limit, `limit ${big.limit}, ${big.data.length} items`);
  });

  it('without sort_by/order_by the order is created_at desc', async () => {
    const nylas = g.nylas();
    const dflt = (await nylas.grants.list({ queryParams: { limit: 200 } })).data.map((x) => x.id);
    const desc = (await nylas.grants.list({ queryParams: { limit: 200, sortBy: 'created_at', orderBy: 'desc' } })).data.map((x) => x.id);
    assert.deepEqual(dflt, desc);
  });

  it('sort_by updated_at: a re-authenticated grant sorts first (desc) and last (asc)', async () => {
    const nylas = g.nylas();
    const target = made[1]; // an older google grant
    const rt2 = await g.sandbox.mint('google', target.identity.clientId, target.identity.email, target.identity.scope);
    await nylas.auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: rt2 } } });
    const desc = await nylas.grants.list({ queryParams: { limit: 200, sortBy: 'updated_at', orderBy: 'desc' } });
    assert.equal(new URLSearchParams(recorder.last().search).get('sort_by'), 'updated_at');
    assert.equal(desc.data[0].id, target.grant.id, 'most recently updated first');
    for (let i = 1; i < desc.data.length; i++) assert.ok(desc.data[i - 1].updatedAt >= desc.data[i].updatedAt, 'descending updatedAt');
    const asc = await nylas.grants.list({ queryParams: { limit: 200, sortBy: 'updated_at', orderBy: 'asc' } });
    assert.equal(asc.data[asc.data.length - 1].id, target.grant.id, 'most recently updated last');
  });

  it('filters by ip (BYO grants have no ip, so none match)', async () => {
    const res = await g.nylas().grants.list({ queryParams: { ip: '203.0.113.7', limit: 200 } });
    assert.equal(new URLSearchParams(recorder.last().search).get('ip'), '203.0.113.7');
    assert.deepEqual(res.data, []);
  });

  it('filters by an email holding "+" (URLSearchParams sends %2B, not a space)', async () => {
    const { grant, identity } = await newGrant('google', 'plus+tag');
    assert.ok(identity.email.includes('+'));
    const res = await g.nylas().grants.list({ queryParams: { email: identity.email } });
    assert.ok(recorder.last().search.includes('%2B'), `wire: ${recorder.last().search}`);
    assert.deepEqual(res.data.map((x) => x.id), [grant.id]);
  });

  it('filters by workspace_id, account_id and account_ids (none match: BYO grants have neither)', async () => {
    const nylas = g.nylas();
    for (const q of [{ workspaceId: 'ws-none' }, { accountId: 'acct-none' }, { accountIds: 'acct-a,acct-b' }]) {
      const res = await nylas.grants.list({ queryParams: { ...q, limit: 200 } });
      assert.deepEqual(res.data, [], JSON.stringify(q));
      assert.equal(res.nextCursor, undefined);
    }
    assert.equal(new URLSearchParams(recorder.last().search).get('account_ids'), 'acct-a,acct-b');
  });

  it('every filter at once', async () => {
    const target = made[0];
    const now = Math.floor(Date.now() / 1000);
    const res = await g.nylas().grants.list({ queryParams: {
      provider: 'google', email: target.identity.email, grantStatus: 'valid', since: now - 3600, before: now + 3600,
      sortBy: 'updated_at', orderBy: 'asc', limit: 5,
    } });
    assert.deepEqual(res.data.map((x) => x.id), [target.grant.id]);
  });

  it('a full page carries nextCursor; the iterator walks every page with page_token, in order', async () => {
    const nylas = g.nylas();
    for (const orderBy of ['asc', 'desc']) {
      const q = { sortBy: 'created_at', orderBy };
      const all = (await nylas.grants.list({ queryParams: { ...q, limit: 200 } })).data.map((x) => x.id);
      assert.ok(all.length >= 7, `${all.length} grants`);
      const mark = recorder.mark();
      const first = await nylas.grants.list({ queryParams: { ...q, limit: 2 } });
      assert.equal(first.data.length, 2);
      assert.equal(typeof first.nextCursor, 'string', 'a full page has a cursor');
      const got = first.data.map((x) => x.id);
      for (let page = first; page.nextCursor;) {
        const step = await first.next();
        if (step.done) break;
        page = step.value;
        assert.ok(page.data.length <= 2);
        got.push(...page.data.map((x) => x.id));
      }
      assert.deepEqual(got, all, `pages in ${orderBy} order`);
      const tokens = recorder.since(mark).map((r) => new URLSearchParams(r.search).get('page_token')).filter(Boolean);
      assert.ok(tokens.length >= 3, `the iterator sent page_token (${tokens.length} times)`);
    }
  });

  it('the iterator keeps the filters on every page', async () => {
    const first = await g.nylas().grants.list({ queryParams: { provider: 'google', limit: 1 } });
    const got = [...first.data];
    for (;;) {
      const step = await first.next();
      if (step.done) break;
      got.push(...step.value.data);
    }
    assert.ok(got.length >= 3);
    assert.ok(got.every((x) => x.provider === 'google'), got.map((x) => x.provider).join(','));
    assert.equal(new Set(got.map((x) => x.id)).size, got.length, 'no grant twice');
  });

  it('a page_token from another order is a 400', async () => {
    const res = await g.nylas().grants.list({ queryParams: { limit: 1, orderBy: 'asc' } });
    await expectApiError(g.nylas().grants.list({ queryParams: { limit: 1, orderBy: 'desc', pageToken: res.nextCursor } }), { status: 400, what: 'page_token of asc with desc' });
  });

  it('bad query values are 400s', async () => {
    await expectApiError(g.nylas().grants.list({ queryParams: { limit: 'ten' } }), { status: 400, what: 'limit=ten' });
    await expectApiError(g.nylas().grants.list({ queryParams: { grantStatus: 'bogus' } }), { status: 400, what: 'grant_status=bogus' });
  });

  it('without a limit the page is exactly 10 grants once there are more', async () => {
    for (let i = 0; i < 4; i++) await newGrant('google', `more${i}`);
    const all = await g.nylas().grants.list({ queryParams: { limit: 200 } });
    assert.ok(all.data.length > 10, `${all.data.length} grants`);
    const res = await g.nylas().grants.list();
    assert.equal(res.data.length, 10);
    assert.equal(res.limit, 10);
    assert.equal(res.offset, 0);
  });
});

describe('grants.find', () => {
  it('returns the grant', async () => {
    const { grant, identity } = await newGrant('microsoft', 'find');
    const res = await g.nylas().grants.find({ grantId: grant.id });
    assertRequestId(res, 'grants.find');
    assert.equal(recorder.last().path, `/v3/grants/${grant.id}`);
    assert.equal(res.data.id, grant.id);
    assert.equal(res.data.email, identity.email);
    assert.equal(res.data.provider, 'microsoft');
    assert.equal(res.data.grantStatus, 'valid');
    assert.deepEqual(res.data.scope, grant.scope);
    assert.equal(res.data.createdAt, grant.createdAt);
  });

  it('an unknown id is a 404 api.not_found_error', async () => {
    await expectApiError(g.nylas().grants.find({ grantId: randomUUID() }), { status: 404, type: 'api.not_found_error', what: 'find unknown' });
  });

  it('an id with a space and a slash (sent as a%20b%2Fc) is a 404, not a routing error', async () => {
    await expectApiError(g.nylas().grants.find({ grantId: 'a b/c' }), { status: 404, type: 'api.not_found_error', what: 'find "a b/c"' });
    assert.equal(new URL(recorder.last().url).pathname, '/v3/grants/a%20b%2Fc');
  });
});

describe('grants.update', () => {
  it('scope replaces the stored scope (PATCH)', async () => {
    const { grant } = await newGrant('google', 'scope');
    const res = await g.nylas().grants.update({ grantId: grant.id, requestBody: { scope: ['openid', 'https://www.googleapis.com/auth/userinfo.email'] } });
    assert.equal(recorder.last().method, 'PATCH');
    assert.deepEqual(JSON.parse(recorder.last().body), { scope: ['openid', 'https://www.googleapis.com/auth/userinfo.email'] });
    assertRequestId(res, 'grants.update');
    assert.equal(res.data.id, grant.id);
    assert.deepEqual(res.data.scope, ['openid', 'https://www.googleapis.com/auth/userinfo.email']);
    assert.equal(res.data.grantStatus, 'valid');
    assert.ok(res.data.updatedAt >= grant.updatedAt);
    const found = await g.nylas().grants.find({ grantId: grant.id });
    assert.deepEqual(found.data.scope, res.data.scope);
  });

  it('a new valid settings.refreshToken is accepted', async () => {
    for (const provider of ['google', 'microsoft', 'yahoo', 'zoom']) {
      const { grant, identity } = await newGrant(provider, 'rotate');
      const rt2 = await g.sandbox.mint(provider, identity.clientId, identity.email, identity.scope);
      const res = await g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: rt2 } } });
      assert.deepEqual(JSON.parse(recorder.last().body), { settings: { refresh_token: rt2 } }, 'wire body');
      assert.equal(res.data.id, grant.id, provider);
      assert.equal(res.data.grantStatus, 'valid', provider);
      assert.equal(res.data.email, identity.email, provider);
      assert.ok(!JSON.stringify(res.data).includes(rt2), `${provider}: the token must not come back`);
    }
  });

  it('settings and scope together (the SDK example body): the token is checked, the scope replaced', async () => {
    const { grant, identity } = await newGrant('google', 'both');
    // A revoked token next to a scope: the settings are still checked, and nothing changes.
    const revoked = await g.sandbox.mint('google', identity.clientId, identity.email, identity.scope);
    await g.sandbox.revokeToken('google', revoked);
    const err = await expectApiError(g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: revoked }, scope: ['openid'] } }), {
      status: 400,
      what: 'update with a revoked token and a scope',
    });
    assert.equal(err.providerError?.error, 'invalid_grant', `providerError: ${JSON.stringify(err.providerError)}`);
    assert.deepEqual((await g.nylas().grants.find({ grantId: grant.id })).data.scope, grant.scope, 'the scope is unchanged after a rejected PATCH');

    const rt2 = await g.sandbox.mint('google', identity.clientId, identity.email, identity.scope);
    const res = await g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: rt2 }, scope: ['openid'] } });
    assert.deepEqual(JSON.parse(recorder.last().body), { settings: { refresh_token: rt2 }, scope: ['openid'] }, 'wire body');
    assertRequestId(res, 'grants.update');
    assert.equal(res.data.id, grant.id);
    assert.equal(res.data.grantStatus, 'valid');
    assert.deepEqual(res.data.scope, ['openid']);
    assert.ok(!JSON.stringify(res.data).includes(rt2), 'the token must not come back');
  });

  it('a revoked settings.refreshToken is a 400 with providerError and leaves the grant as it was', async () => {
    const { grant, identity } = await newGrant('google', 'badrotate');
    const bad = await g.sandbox.mint('google', identity.clientId, identity.email, identity.scope);
    await g.sandbox.revokeToken('google', bad);
    const err = await expectApiError(g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: bad } } }), {
      status: 400,
      what: 'update with a revoked token',
    });
    assert.equal(err.providerError?.error, 'invalid_grant', `providerError: ${JSON.stringify(err.providerError)}`);
    const found = await g.nylas().grants.find({ grantId: grant.id });
    assert.equal(found.data.grantStatus, 'valid');
    assert.equal(found.data.updatedAt, grant.updatedAt, 'unchanged');
  });

  it('a garbage settings.refreshToken is a 400', async () => {
    const { grant } = await newGrant('yahoo', 'garbage');
    await expectApiError(g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: 'garbage' } } }), {
      status: 400,
      what: 'update with a garbage token',
    });
  });

  it("a token of another account is a 400 (a grant's account cannot change)", async () => {
    const { grant } = await newGrant('google', 'owner');
    const other = await g.newIdentity('google', { label: 'intruder' });
    const err = await expectApiError(g.nylas().grants.update({ grantId: grant.id, requestBody: { settings: { refreshToken: other.refreshToken } } }), {
      status: 400,
      what: 'update with another account token',
    });
    assert.ok(err.message.includes(other.email), err.message);
  });

  it('an unknown grant is a 404', async () => {
    await expectApiError(g.nylas().grants.update({ grantId: randomUUID(), requestBody: { scope: ['openid'] } }), {
      status: 404,
      type: 'api.not_found_error',
      what: 'update unknown',
    });
  });

  it('a non-array scope is a 400 naming the field', async () => {
    const { grant } = await newGrant('google', 'badscope');
    const err = await expectApiError(g.nylas().grants.update({ grantId: grant.id, requestBody: { scope: { a: 1 } } }), {
      status: 400,
      what: 'scope as an object',
    });
    assert.match(err.message, /scope/);
  });
});

describe('grants.destroy', () => {
  it('returns without throwing; a later find is a 404 NylasApiError; re-auth creates a new id', async () => {
    const { grant, identity } = await newGrant('google', 'destroy');
    const res = await g.nylas().grants.destroy({ grantId: grant.id });
    assert.equal(recorder.last().method, 'DELETE');
    assert.equal(recorder.last().status, 200);
    assert.equal(recorder.last().body, undefined, 'DELETE has no body');
    assertRequestId(res, 'grants.destroy');
    await expectApiError(g.nylas().grants.find({ grantId: grant.id }), { status: 404, type: 'api.not_found_error', what: 'find after destroy' });
    await expectApiError(g.nylas().grants.destroy({ grantId: grant.id }), { status: 404, type: 'api.not_found_error', what: 'destroy twice' });
    const list = await g.nylas().grants.list({ queryParams: { email: identity.email } });
    assert.deepEqual(list.data, []);

    const rt2 = await g.sandbox.mint('google', identity.clientId, identity.email, identity.scope);
    const again = await g.nylas().auth.customAuthentication({ requestBody: { provider: 'google', settings: { refreshToken: rt2 } } });
    assert.notEqual(again.data.id, grant.id, 'a new grant id after delete');
    assert.equal(again.data.email, identity.email);
  });
});
