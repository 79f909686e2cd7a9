// nylas.auth.detectProvider (POST /v3/providers/detect, query only).
//
// grantd dev uses the system resolver, so these cases stay on domains of
// the provider table and on special-use names (.invalid is never looked
// up, RFC 6761): no case needs the network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useGrantd, recorder, expectApiError, assertRequestId } from './harness.js';

const g = useGrantd();

const detect = (params) => g.nylas().auth.detectProvider(params);

function assertWire(email, allProviderTypes) {
  const last = recorder.last();
  assert.equal(last.method, 'POST');
  assert.equal(last.path, '/v3/providers/detect');
  assert.equal(last.body, undefined, 'the SDK sends no body');
  const q = new URLSearchParams(last.search);
  assert.equal(q.get('email'), email, 'email in the query');
  assert.equal(q.get('all_provider_types'), allProviderTypes === undefined ? null : String(allProviderTypes), 'all_provider_types in the query');
  assert.equal(last.status, 200);
}

describe('detectProvider: known domains', () => {
  it('gmail.com → google, with allProviderTypes', async () => {
    const res = await detect({ email: 'someone@gmail.com', allProviderTypes: true });
    assertRequestId(res, 'detectProvider');
    assertWire('someone@gmail.com', true);
    assert.equal(res.data.emailAddress, 'someone@gmail.com');
    assert.equal(res.data.detected, true);
    assert.equal(res.data.provider, 'google');
    assert.equal(res.data.type, undefined, 'type is only for IMAP providers');
    // grantd's extra fields come through camelCased.
    assert.equal(res.data.detectedBy, 'known_domain');
    assert.equal(res.data.settings.imapHost, 'imap.gmail.com');
  });

  it('gmail.com → google without allProviderTypes (the dev app has a google connector)', async () => {
    const res = await detect({ email: 'Someone@GMail.com' });
    assertWire('Someone@GMail.com', undefined);
    assert.equal(res.data.emailAddress, 'Someone@GMail.com');
    assert.equal(res.data.detected, true);
    assert.equal(res.data.provider, 'google');
  });

  it('an address with "+" goes out as %2B and comes back unchanged', async () => {
    const res = await detect({ email: 'some.one+tag@gmail.com', allProviderTypes: true });
    assertWire('some.one+tag@gmail.com', true);
    assert.ok(recorder.last().search.includes('some.one%2Btag%40gmail.com'), `wire: ${recorder.last().search}`);
    assert.equal(res.data.emailAddress, 'some.one+tag@gmail.com');
    assert.equal(res.data.detected, true);
    assert.equal(res.data.provider, 'google');
  });

  it('hotmail.co.uk → microsoft, yahoo.com → yahoo', async () => {
    for (const [email, provider] of [['a@hotmail.co.uk', 'microsoft'], ['a@yahoo.com', 'yahoo'], ['a@live.com', 'microsoft']]) {
      const res = await detect({ email, allProviderTypes: false });
      assertWire(email, false);
      assert.equal(res.data.detected, true, email);
      assert.equal(res.data.provider, provider, email);
    }
  });

  it('icloud.com: only connected providers count unless allProviderTypes; type names the IMAP family of imap answers only', async () => {
    // The answer depends on the dev app's connectors (icloud, else imap).
    const conns = (await g.nylas().connectors.list({})).data.map((c) => c.provider);
    const expected = ['icloud', 'imap'].find((p) => conns.includes(p));
    const without = await detect({ email: 'a@icloud.com' });
    if (expected) {
      assert.equal(without.data.detected, true);
      assert.equal(without.data.provider, expected);
      assert.equal(without.data.type, expected === 'imap' ? 'icloud' : undefined);
    } else {
      assert.equal(without.data.detected, false);
      assert.equal(without.data.provider, undefined);
      assert.match(without.data.reason, /no connector for icloud/);
    }
    const all = await detect({ email: 'a@icloud.com', allProviderTypes: true });
    assert.equal(all.data.detected, true);
    assert.equal(all.data.provider, 'icloud');
    assert.equal(all.data.type, undefined); // the reference: type only when the provider is imap
    assert.equal(all.data.appPasswordRequired, true);
  });

  it('proton.me is known but not IMAP: never detected', async () => {
    const res = await detect({ email: 'a@proton.me', allProviderTypes: true });
    assert.equal(res.data.detected, false);
    assert.equal(res.data.provider, undefined);
    assert.match(res.data.reason, /Bridge/);
  });
});

describe('detectProvider: unknown domain', () => {
  it('a domain with no DNS → detected false', async () => {
    const res = await detect({ email: 'nobody@nowhere.invalid', allProviderTypes: true });
    assertRequestId(res, 'detectProvider');
    assert.equal(res.data.emailAddress, 'nobody@nowhere.invalid');
    assert.equal(res.data.detected, false);
    assert.equal(res.data.provider, undefined);
    assert.equal(res.data.type, undefined);
  });
});

describe('detectProvider: bad input', () => {
  for (const [label, email, message] of [
    ['not an address', 'not-an-email', /not an email address/],
    ['a display name', 'Someone <someone@gmail.com>', /bare address/],
    ['a control character', 'someone\n@gmail.com', /control character/],
    ['10 KB long', 'a'.repeat(10 * 1024) + '@gmail.com', /bytes long/],
  ]) {
    it(`${label} → NylasApiError 400`, async () => {
      const err = await expectApiError(detect({ email, allProviderTypes: true }), {
        status: 400, type: 'api.invalid_request_error', message, what: `detectProvider(${label})`,
      });
      assert.match(err.message, /email/);
    });
  }

  it('no email → NylasApiError 400', async () => {
    await expectApiError(detect({ allProviderTypes: true }), {
      status: 400, type: 'api.invalid_request_error', message: /email is required/, what: 'detectProvider()',
    });
  });
});
