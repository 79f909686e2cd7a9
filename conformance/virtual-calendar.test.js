// auth.customAuthentication with {provider: 'virtual-calendar', settings: {email}}:
// no provider to call, the identifier need not be an address.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { useGrantd, recorder, expectApiError, assertRequestId, assertUnixSecondsNow } from './harness.js';

const g = useGrantd();
const custom = (requestBody) => g.nylas().auth.customAuthentication({ requestBody });

describe('customAuthentication: virtual-calendar', () => {
  it('a valid grant with scope ["calendar"] for any identifier; the same identifier keeps its id', async () => {
    const ident = `Room ${randomUUID().slice(0, 8)}`;
    const res = await custom({ provider: 'virtual-calendar', settings: { email: ident }, scope: ['calendar'], state: 'vc' });
    assertRequestId(res, 'customAuthentication');
    assert.equal(recorder.last().status, 201);
    assert.deepEqual(JSON.parse(recorder.last().body), { provider: 'virtual-calendar', settings: { email: ident }, scope: ['calendar'], state: 'vc' });
    const gr = res.data;
    assert.equal(gr.provider, 'virtual-calendar');
    assert.equal(gr.grantStatus, 'valid');
    assert.equal(gr.email, ident);
    assert.deepEqual(gr.scope, ['calendar']);
    assert.equal(gr.state, 'vc');
    assertUnixSecondsNow(gr.createdAt, 'createdAt');
    const again = await custom({ provider: 'virtual-calendar', settings: { email: ident.toLowerCase() } });
    assert.equal(again.data.id, gr.id);
    const found = await g.nylas().grants.find({ grantId: gr.id });
    assert.equal(found.data.provider, 'virtual-calendar');
    await g.nylas().grants.destroy({ grantId: gr.id });
  });

  it('a missing or non-string identifier is a 400', async () => {
    for (const [what, settings] of [
      ['missing email', {}],
      ['email not a string', { email: 42 }],
    ]) {
      const err = await expectApiError(custom({ provider: 'virtual-calendar', settings }), { status: 400, type: 'api.invalid_request_error', what });
      assert.match(err.message, /settings\.email/, what);
    }
  });
});
