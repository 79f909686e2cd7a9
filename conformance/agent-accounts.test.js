// Agent accounts: auth.customAuthentication with {provider: 'nylas',
// settings: {email, appPassword}} on grantd dev's verified domain, and the
// SDK's domains API (nylas@8.4.0 has one; it asks for Nylas Service
// Account signing headers, which grantd does not check: it authenticates
// /v3/admin/domains with the application's API key, sent here as a header
// override).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });
const PASSWORD = 'Correct-Horse-42-Battery';
// The SDK's domains calls need the four signing headers to be present;
// grantd reads the API key.
const domainOverrides = () => ({
  headers: {
    Authorization: `Bearer ${g.apiKey}`,
    'X-Nylas-Kid': 'grantd-ignores-this',
    'X-Nylas-Timestamp': String(Math.floor(Date.now() / 1000)),
    'X-Nylas-Nonce': randomUUID(),
    'X-Nylas-Signature': 'grantd-ignores-this',
  },
});

describe('customAuthentication: nylas (agent accounts)', () => {
  it("a valid grant on dev's verified domain; the password never comes back; the same address keeps its id", async () => {
    const d = g.agentDomain;
    assert.ok(d?.id && d.domain_address, 'dev.json agent_domain');
    const email = `bot-${randomUUID().slice(0, 8)}@${d.domain_address}`;
    const res = await custom({ provider: 'nylas', name: 'Support Bot', settings: { email, appPassword: PASSWORD, policyId: 'pol-1' } });
    assertRequestId(res, 'customAuthentication');
    assert.equal(recorder.last().status, 201);
    const wire = JSON.parse(recorder.last().body);
    assert.deepEqual(wire.settings, { email, app_password: PASSWORD, policy_id: 'pol-1' }, 'the SDK sends snake_case settings');
    const gr = res.data;
    assert.equal(gr.provider, 'nylas');
    assert.equal(gr.grantStatus, 'valid');
    assert.equal(gr.email, email);
    assert.equal(gr.name, 'Support Bot');
    assertUnixSecondsNow(gr.createdAt, 'createdAt');
    const json = JSON.stringify(gr);
    assert.ok(!json.includes(PASSWORD) && !json.includes('$2a$') && !json.includes('appPassword'), `the password leaked: ${json}`);
    const again = await custom({ provider: 'nylas', settings: { email: email.toUpperCase().replace(d.domain_address.toUpperCase(), d.domain_address), appPassword: PASSWORD } });
    assert.equal(again.data.id, gr.id);
    const found = await g.nylas().grants.find({ grantId: gr.id });
    assert.equal(found.data.provider, 'nylas');
    assert.ok(!JSON.stringify(found.data).includes(PASSWORD));
    await g.nylas().grants.destroy({ grantId: gr.id });
  });

  it('a weak app password is a 400 naming the rule, without the password, and stores nothing', async () => {
    const d = g.agentDomain;
    const email = `weak-${randomUUID().slice(0, 8)}@${d.domain_address}`;
    for (const [what, pw, re] of [
      ['too short', 'Short1a', /18 to 40/],
      ['no digit', 'No-Digits-In-This-One', /lacks a digit/],
      ['no upper-case letter', 'all-lower-case-pass-1', /lacks an upper-case letter/],
      ['a space', 'Has Space In It 123', /not printable ASCII or is a space/],
    ]) {
      const err = await expectApiError(custom({ provider: 'nylas', settings: { email, appPassword: pw } }), { status: 400, type: 'api.invalid_request_error', what });
      assert.match(err.message, re, what);
      assert.ok(!err.message.includes(pw), `${what}: password echoed`);
    }
    const list = await g.nylas().grants.list({ queryParams: { email } });
    assert.equal(list.data.length, 0, 'nothing stored');
  });

  it('an address on a registered but unverified domain, or on no domain of the application, is a 400', async () => {
    const addr = `unverified-${randomUUID().slice(0, 8)}.example`;
    const created = await g.nylas().domains.create({ requestBody: { name: 'SDK domain', domainAddress: addr }, overrides: domainOverrides() });
    assert.equal(created.data.domainAddress, addr);
    assert.equal(created.data.verifiedOwnership, false);
    const err = await expectApiError(custom({ provider: 'nylas', settings: { email: `bot@${addr}`, appPassword: PASSWORD } }), { status: 400, type: 'api.invalid_request_error', what: 'unverified domain' });
    assert.match(err.message, new RegExp(`the domain ${addr.replace(/\./g, '\\.')} of settings\\.email is not verified`));
    const err2 = await expectApiError(custom({ provider: 'nylas', settings: { email: 'bot@nowhere.example', appPassword: PASSWORD } }), { status: 400, type: 'api.invalid_request_error', what: 'no such domain' });
    assert.match(err2.message, /is not on a domain of this application/);
    await g.nylas().domains.destroy({ domainId: created.data.id, overrides: domainOverrides() });
  });
});

describe('domains (SDK 8.4.0, API key as a header)', () => {
  it("find, list, info and verify of dev's domain", async () => {
    const d = g.agentDomain;
    const dom = g.nylas().domains;
    const found = await dom.find({ domainId: d.id, overrides: domainOverrides() });
    assertRequestId(found, 'domains.find');
    assert.equal(found.data.domainAddress, d.domain_address);
    assert.equal(found.data.verifiedOwnership, true);
    assert.equal(found.data.verifiedMx, true);
    const list = await dom.list({ overrides: domainOverrides() });
    assert.ok(list.data.some((x) => x.id === d.id), 'listed');
    const info = await dom.info({ domainId: d.id, requestBody: { type: 'ownership' }, overrides: domainOverrides() });
    assert.equal(info.data.attempt.options.type, 'TXT');
    assert.match(info.data.attempt.options.value, /^grantd-domain-verification=/);
    for (const type of ['ownership', 'mx']) {
      const v = await dom.verify({ domainId: d.id, requestBody: { type }, overrides: domainOverrides() });
      assert.equal(v.data.status, 'done', type);
    }
    await expectApiError(dom.verify({ domainId: d.id, requestBody: { type: 'dkim' }, overrides: domainOverrides() }), { status: 400, type: 'api.invalid_request_error', message: /does not send or receive mail/, what: 'dkim' });
  });
});
