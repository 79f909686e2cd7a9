// Rate limits (429) as the SDK sees them. This file's grantd has tight
// limits (GRANTD_RATELIMIT_*): 1 request a second in bursts of 3 on the
// API, 1 a second in bursts of 4 for detection. A slow machine refills
// buckets between calls: the cases only ever look at the first refusal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NylasOAuthError } from 'nylas';
import { useGrantd, recorder, expectApiError } from './harness.js';

const g = useGrantd({
  env: {
    GRANTD_RATELIMIT_REQUESTS_PER_SECOND: '1',
    GRANTD_RATELIMIT_BURST: '3',
    GRANTD_RATELIMIT_DETECT_REQUESTS_PER_SECOND: '1',
    GRANTD_RATELIMIT_DETECT_BURST: '4',
    GRANTD_RATELIMIT_CONNECT_REQUESTS_PER_SECOND: '1',
    GRANTD_RATELIMIT_CONNECT_BURST: '3',
  },
});

/**
 * Calls fn until it raises (at most 50 times). Returns how many calls
 * succeeded, the error, and how many requests the failing call sent.
 */
async function untilRaises(fn) {
  for (let n = 0; n < 50; n++) {
    const mark = recorder.mark();
    try {
      await fn();
    } catch (err) {
      return { n, err, sent: recorder.since(mark).length };
    }
  }
  assert.fail('50 calls and no error');
}

describe('rate limits', () => {
  it('over the limit, a call raises NylasApiError 429 api.rate_limit_error with Retry-After, and the SDK does not retry', async () => {
    const nylas = g.nylas();
    const { n, err, sent } = await untilRaises(() => nylas.applications.getDetails());
    assert.ok(n >= 3, `the burst of 3 should pass, ${n} did`);
    await expectApiError(Promise.reject(err), {
      status: 429,
      type: 'api.rate_limit_error',
      message: /limit for the API is 1 per second .*retry in 1 s/,
      what: 'getDetails over the limit',
    });
    assert.equal(sent, 1, 'the SDK sent the call once: it does not retry a 429');
    // The SDK passes the response headers on: Retry-After is there to use.
    assert.equal(err.headers['retry-after'], '1');
  });

  it('detection has its own budget: it still answers while the API budget is spent', async () => {
    const nylas = g.nylas();
    const spent = await untilRaises(() => nylas.grants.list());
    assert.equal(spent.err.statusCode, 429, spent.err.message);
    const res = await nylas.auth.detectProvider({ email: 'a@gmail.com', allProviderTypes: true });
    assert.equal(res.data.provider, 'google');
    const { n, err } = await untilRaises(() => nylas.auth.detectProvider({ email: 'a@gmail.com', allProviderTypes: true }));
    assert.ok(n >= 3, `the rest of the detection burst of 4 should pass, ${n} did`);
    await expectApiError(Promise.reject(err), {
      status: 429,
      type: 'api.rate_limit_error',
      message: /limit for provider detection is 1 per second/,
      what: 'detectProvider over its limit',
    });
  });

  it('after Retry-After seconds the call succeeds', async () => {
    const nylas = g.nylas();
    const { err } = await untilRaises(() => nylas.applications.getDetails());
    assert.equal(err.statusCode, 429, err.message);
    const wait = Number(err.headers['retry-after']);
    assert.ok(wait >= 1, `Retry-After ${err.headers['retry-after']}`);
    await new Promise((r) => setTimeout(r, wait * 1000));
    const res = await nylas.applications.getDetails();
    assert.equal(res.data.applicationId, g.applicationId);
  });

  it('the token endpoint has its own budget; over it refreshAccessToken raises NylasOAuthError 429 rate_limit_exceeded', async () => {
    const nylas = g.nylas();
    let n = 0;
    let err;
    for (; n < 50; n++) {
      try {
        await nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri: 'http://localhost/cb', refreshToken: 'grt_unknown' });
        assert.fail('an unknown refresh token was accepted');
      } catch (e) {
        if (e?.code === 'ERR_ASSERTION') throw e;
        assert.ok(e instanceof NylasOAuthError, `expected NylasOAuthError, got ${e?.constructor?.name}: ${e?.message}`);
        if (e.statusCode === 429) { err = e; break; }
        assert.equal(e.error, 'invalid_grant', e.message);
      }
    }
    assert.ok(err, '50 token requests and no 429');
    assert.ok(n >= 3, `the burst of 3 should pass, ${n} did`);
    assert.equal(err.error, 'rate_limit_exceeded');
    assert.equal(err.errorCode, 429);
    assert.match(err.message, /limit of hosted OAuth for this client address is 1 per second .*retry in 1 s/);
  });
});
