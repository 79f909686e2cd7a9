// Hosted OAuth and the token endpoints through the Node SDK:
// applications.redirectUris.*, auth.urlForOAuth2 / urlForOAuth2PKCE (the
// URLs are walked through the sandbox's consent page as a browser would),
// exchangeCodeForToken, refreshAccessToken, accessTokenInfo, revoke, and
// the grant of an access token (grants.find({grantId: 'me'}) with the
// access token as the key: GET /v3/grants/me); auth.urlForAdminConsent
// (response_type=adminconsent, walked through the sandbox's admin consent
// endpoint). Errors of the token endpoints must come out as
// NylasOAuthError with a message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NylasOAuthError } from 'nylas';
import { useGrantd, recorder, expectApiError, assertRequestId, uniqueEmail } from './harness.js';

const g = useGrantd();

/** The sandbox consent page, submitted like a browser: returns the query grantd sends the redirect URI. */
async function signIn(authUrl, email, { deny = false } = {}) {
  let res = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(res.status, 302, `GET /v3/connect/auth: ${res.status} ${await res.text()}`);
  const consent = new URL(res.headers.get('location'));
  assert.ok(consent.href.startsWith(g.sandboxUrl), `redirected to the sandbox, not ${consent}`);
  res = await fetch(consent);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<form/);
  const form = new URLSearchParams(consent.search);
  if (deny) form.set('action', 'deny');
  else form.set('email', email);
  res = await fetch(consent.origin + consent.pathname, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(res.status, 302);
  res = await fetch(res.headers.get('location'), { redirect: 'manual' });
  assert.equal(res.status, 302, `callback: ${res.status}`);
  return new URL(res.headers.get('location'));
}

async function expectOAuthError(promise, { status, error, what }) {
  let err;
  try {
    const v = await promise;
    assert.fail(`${what} resolved (${JSON.stringify(v)?.slice(0, 200)}) but should have raised NylasOAuthError ${status} ${error}`);
  } catch (e) {
    if (e?.code === 'ERR_ASSERTION') throw e;
    err = e;
  }
  assert.ok(err instanceof NylasOAuthError, `${what}: expected a NylasOAuthError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.statusCode, status, `${what}: statusCode (${err.message})`);
  assert.equal(err.error, error, `${what}: error`);
  assert.ok(err.message.length >= 10, `${what}: the message must not be empty, got ${JSON.stringify(err.message)}`);
  assert.equal(err.errorCode, status, `${what}: errorCode`);
  assert.equal(err.requestId, recorder.last().requestId, `${what}: requestId from x-request-id`);
  return err;
}

let redirectUri;

describe('applications.redirectUris', () => {
  it('create, list, find, update, destroy', async () => {
    const ru = g.nylas().applications.redirectUris;
    const created = await ru.create({ requestBody: { url: 'http://localhost:5173/sdk/cb', platform: 'web' } });
    assertRequestId(created, 'create');
    assert.equal(created.data.url, 'http://localhost:5173/sdk/cb');
    assert.equal(created.data.platform, 'web');
    const id = created.data.id;
    const list = await ru.list();
    assert.ok(list.data.some((u) => u.id === id && u.url === 'http://localhost:5173/sdk/cb'));
    const found = await ru.find({ redirectUriId: id });
    assert.equal(found.data.id, id);
    const android = await ru.create({ requestBody: { url: 'com.example.app:/cb', platform: 'android', settings: { packageName: 'com.example.app', sha1CertificateFingerprint: 'ff:ee' } } });
    assert.equal(android.data.settings.packageName, 'com.example.app');
    assert.equal(android.data.settings.sha1CertificateFingerprint, 'ff:ee', 'round-trips the SDK\'s sha_1_… key');
    const updated = await ru.update({ redirectUriId: id, requestBody: { url: 'http://localhost:5173/sdk/cb2' } });
    assert.equal(updated.data.url, 'http://localhost:5173/sdk/cb2');
    const details = await g.nylas().applications.getDetails();
    assert.ok(details.data.callbackUris.some((u) => u.id === id && u.url === 'http://localhost:5173/sdk/cb2'), 'getDetails lists it');
    const del = await ru.destroy({ redirectUriId: android.data.id });
    assert.equal(typeof del.requestId, 'string');
    redirectUri = updated.data.url;
  });

  it('refuses http off loopback, an unknown id and a duplicate', async () => {
    const ru = g.nylas().applications.redirectUris;
    await expectApiError(ru.create({ requestBody: { url: 'http://app.example/cb' } }), { status: 400, type: 'api.invalid_request_error', message: /https/, what: 'http URL' });
    await expectApiError(ru.find({ redirectUriId: 'nope' }), { status: 404, type: 'api.not_found_error', what: 'find unknown' });
    const u = 'https://app.example/dup';
    await ru.create({ requestBody: { url: u } });
    await expectApiError(ru.create({ requestBody: { url: u } }), { status: 409, what: 'duplicate' });
  });
});

describe('auth: hosted OAuth', () => {
  it('urlForOAuth2 → consent → exchangeCodeForToken (client secret = the API key)', async () => {
    const nylas = g.nylas();
    const email = uniqueEmail('hosted');
    await g.sandbox.addUser('google', email, 'Hosted User');
    const url = nylas.auth.urlForOAuth2({ clientId: g.applicationId, redirectUri, provider: 'google', accessType: 'offline', loginHint: email, state: 'st-1' });
    const back = await signIn(url, email);
    assert.equal(back.origin + back.pathname, redirectUri);
    assert.equal(back.searchParams.get('state'), 'st-1');
    const code = back.searchParams.get('code');
    const tok = await nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code });
    assert.equal(recorder.last().path, '/v3/connect/token');
    assert.equal(tok.email, email);
    assert.equal(tok.provider, 'google');
    assert.equal(tok.tokenType, 'Bearer');
    assert.equal(tok.expiresIn, 3600);
    assert.equal(typeof tok.accessToken, 'string');
    assert.equal(typeof tok.refreshToken, 'string', 'offline access gives a refresh token');
    assert.equal(typeof tok.scope, 'string');
    const grant = await nylas.grants.find({ grantId: tok.grantId });
    assert.equal(grant.data.email, email);

    // The grant of the access token: GET /v3/grants/me.
    const me = await nylas.grants.find({ grantId: 'me', overrides: { apiKey: tok.accessToken } });
    assert.equal(recorder.last().path, '/v3/grants/me');
    assert.equal(me.data.id, tok.grantId);

    const info = await nylas.auth.accessTokenInfo(tok.accessToken);
    assert.equal(info.data.sub, tok.grantId);
    assert.equal(info.data.aud, g.applicationId);
    assert.equal(info.data.email, email);
    assert.equal(info.data.exp - info.data.iat, 3600);

    // The id_token grantd signed: idTokenInfo verifies it and answers its claims.
    assert.equal(typeof tok.idToken, 'string');
    assert.equal(tok.idToken.split('.').length, 3);
    const idInfo = await nylas.auth.idTokenInfo(tok.idToken);
    assert.equal(recorder.last().path, '/v3/connect/tokeninfo');
    assert.equal(idInfo.data.sub, tok.grantId);
    assert.equal(idInfo.data.aud, g.applicationId);
    assert.equal(idInfo.data.email, email);
    assert.equal(idInfo.data.exp - idInfo.data.iat, 3600);
    const header = JSON.parse(Buffer.from(tok.idToken.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'ES256');
    // Claims swapped under the same signature, and alg none: refused.
    const [h, , s] = tok.idToken.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: idInfo.data.iss, aud: g.applicationId, sub: 'other', iat: idInfo.data.iat, exp: idInfo.data.exp })).toString('base64url');
    await expectOAuthError(nylas.auth.idTokenInfo(`${h}.${forged}.${s}`), { status: 400, error: 'invalid_token', what: 'a forged id_token' });
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: header.kid })).toString('base64url');
    await expectOAuthError(nylas.auth.idTokenInfo(`${none}.${forged}.`), { status: 400, error: 'invalid_token', what: 'an alg none id_token' });

    const refreshed = await nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: tok.refreshToken });
    assert.equal(refreshed.grantId, tok.grantId);
    assert.equal((await nylas.auth.idTokenInfo(refreshed.idToken)).data.sub, tok.grantId, 'the refresh answers a new id_token');
    assert.notEqual(refreshed.refreshToken, tok.refreshToken, 'refresh tokens rotate');
    await expectOAuthError(nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: tok.refreshToken }),
      { status: 400, error: 'invalid_grant', what: 'a reused refresh token' });
    await expectOAuthError(nylas.auth.accessTokenInfo(refreshed.accessToken), { status: 401, error: 'invalid_token', what: 'an access token of a family revoked by reuse' });

    // A used code.
    await expectOAuthError(nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code }),
      { status: 400, error: 'invalid_grant', what: 'a used code' });
  });

  it('urlForOAuth2PKCE: the SDK\'s s256 challenge (base64 of the hex digest) and its UUID verifier', async () => {
    const nylas = g.nylas();
    const email = uniqueEmail('pkce');
    await g.sandbox.addUser('microsoft', email, 'PKCE User');
    const { url, secret, secretHash } = nylas.auth.urlForOAuth2PKCE({ clientId: g.applicationId, redirectUri, provider: 'microsoft', loginHint: email });
    assert.equal(new URL(url).searchParams.get('code_challenge_method'), 's256');
    assert.equal(new URL(url).searchParams.get('code_challenge'), secretHash);
    const code = (await signIn(url, email)).searchParams.get('code');
    const tok = await nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code, codeVerifier: secret });
    assert.equal(tok.email, email);
    assert.equal(tok.provider, 'microsoft');
    assert.equal(tok.refreshToken, undefined, 'access_type online (the SDK default): no refresh token');

    const again = nylas.auth.urlForOAuth2PKCE({ clientId: g.applicationId, redirectUri, provider: 'microsoft', loginHint: email });
    const code2 = (await signIn(again.url, email)).searchParams.get('code');
    await expectOAuthError(nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code: code2, codeVerifier: secret }),
      { status: 400, error: 'invalid_grant', what: 'the verifier of another authorization' });
  });

  it('a public client (no API key: PKCE only) refreshes without a client secret; a confidential refresh token still needs one', async () => {
    const spa = g.nylas({ apiKey: '' });
    const email = uniqueEmail('spa');
    await g.sandbox.addUser('google', email, 'SPA User');
    const { url, secret } = spa.auth.urlForOAuth2PKCE({ clientId: g.applicationId, redirectUri, provider: 'google', accessType: 'offline', loginHint: email });
    const code = (await signIn(url, email)).searchParams.get('code');
    const tok = await spa.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code, codeVerifier: secret });
    assert.equal(typeof tok.refreshToken, 'string');
    const refreshed = await spa.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: tok.refreshToken });
    assert.equal(recorder.last().path, '/v3/connect/token');
    assert.equal(refreshed.grantId, tok.grantId);
    assert.notEqual(refreshed.refreshToken, tok.refreshToken, 'refresh tokens rotate');
    await expectOAuthError(spa.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: tok.refreshToken }),
      { status: 400, error: 'invalid_grant', what: 'a reused public refresh token' });

    const nylas = g.nylas();
    const url2 = nylas.auth.urlForOAuth2({ clientId: g.applicationId, redirectUri, provider: 'google', accessType: 'offline', loginHint: email });
    const conf = await nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code: (await signIn(url2, email)).searchParams.get('code') });
    await expectOAuthError(spa.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: conf.refreshToken }),
      { status: 401, error: 'invalid_client', what: 'a confidential refresh token without the secret' });
    assert.equal((await nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: conf.refreshToken })).grantId, tok.grantId);
  });

  it('revoke: the token and its authorization, not the grant', async () => {
    const nylas = g.nylas();
    const email = uniqueEmail('revoke');
    await g.sandbox.addUser('yahoo', email, 'Revoke User');
    const url = nylas.auth.urlForOAuth2({ clientId: g.applicationId, redirectUri, provider: 'yahoo', accessType: 'offline' });
    const code = (await signIn(url, email)).searchParams.get('code');
    const tok = await nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code });
    // The client authenticates first (the SDK's Bearer API key): a wrong
    // key revokes nothing, for a live token as for an unknown one.
    const wrongKey = g.nylas({ apiKey: 'grantd_wrong' });
    await expectOAuthError(wrongKey.auth.revoke(tok.accessToken), { status: 401, error: 'invalid_client', what: 'revoke with a wrong API key' });
    await expectOAuthError(wrongKey.auth.revoke('gat_not_issued'), { status: 401, error: 'invalid_client', what: 'revoke an unknown token with a wrong API key' });
    assert.equal((await nylas.auth.accessTokenInfo(tok.accessToken)).data.sub, tok.grantId, 'the token survives a refused revocation');
    assert.equal(await nylas.auth.revoke(tok.accessToken), true);
    assert.equal(recorder.last().path, '/v3/connect/revoke');
    await expectOAuthError(nylas.auth.accessTokenInfo(tok.accessToken), { status: 401, error: 'invalid_token', what: 'tokeninfo of a revoked token' });
    await expectOAuthError(nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: tok.refreshToken }),
      { status: 400, error: 'invalid_grant', what: 'the refresh token of a revoked authorization' });
    await expectApiError(nylas.grants.find({ grantId: 'me', overrides: { apiKey: tok.accessToken } }),
      { status: 401, type: 'api.authentication_error', what: 'grants/me with a revoked token' });
    const grant = await nylas.grants.find({ grantId: tok.grantId });
    assert.equal(grant.data.grantStatus, 'valid', 'the grant stays');
    await expectOAuthError(nylas.auth.revoke('gat_not_issued'), { status: 400, error: 'invalid_token', what: 'revoke an unknown token' });
  });

  it('errors of the token endpoint are NylasOAuthError with a message', async () => {
    const nylas = g.nylas();
    await expectOAuthError(nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code: 'gac_bad' }),
      { status: 400, error: 'invalid_grant', what: 'an unknown code' });
    await expectOAuthError(nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code: 'x', clientSecret: 'grantd_wrong' }),
      { status: 401, error: 'invalid_client', what: 'a wrong client secret' });
    await expectOAuthError(nylas.auth.refreshAccessToken({ clientId: g.applicationId, redirectUri, refreshToken: 'grt_nope' }),
      { status: 400, error: 'invalid_grant', what: 'an unknown refresh token' });
    await expectOAuthError(nylas.auth.accessTokenInfo('gat_nope'), { status: 401, error: 'invalid_token', what: 'tokeninfo of an unknown token' });
    await expectOAuthError(nylas.auth.idTokenInfo('eyJ.x.y'), { status: 400, error: 'invalid_token', what: 'idTokenInfo of a malformed id_token' });
  });

  it('an unregistered redirect URI is a 400 and never a redirect', async () => {
    const url = g.nylas().auth.urlForOAuth2({ clientId: g.applicationId, redirectUri: 'https://evil.example/cb', provider: 'google' });
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    const body = await res.json();
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /not registered/);
  });

  it('a user who denies comes back with error=access_denied and the state', async () => {
    const url = g.nylas().auth.urlForOAuth2({ clientId: g.applicationId, redirectUri, provider: 'zoom', state: 'st-deny' });
    const back = await signIn(url, '', { deny: true });
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'st-deny');
    assert.equal(back.searchParams.get('code'), null);
  });
});

/** Follows the admin consent redirects as a browser would: grantd → the sandbox's Entra admin consent endpoint → grantd's callback → the redirect URI. */
async function adminConsent(authUrl) {
  let res = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(res.status, 302, `GET /v3/connect/auth: ${res.status} ${await res.text()}`);
  const consent = new URL(res.headers.get('location'));
  assert.ok(consent.href.startsWith(g.sandboxUrl) && consent.pathname.endsWith('/v2.0/adminconsent'), `redirected to the admin consent endpoint, not ${consent}`);
  res = await fetch(consent, { redirect: 'manual' });
  assert.equal(res.status, 302);
  res = await fetch(res.headers.get('location'), { redirect: 'manual' });
  assert.equal(res.status, 302, `callback: ${res.status}`);
  return new URL(res.headers.get('location'));
}

describe('auth.urlForAdminConsent: response_type=adminconsent', () => {
  it("the administrator consents: admin_consent=true, the tenant and the state come back; the tenant's users can then be connected", async () => {
    const nylas = g.nylas();
    const tenant = 'ad0c0115-0000-4000-8000-' + String(Date.now()).slice(-12).padStart(12, '0');
    const email = uniqueEmail('consent').replace(/@.*/, '@consent.example');
    await g.sandbox.call('POST', '/admin/users', { provider: 'microsoft', email, tenant });
    const cred = await nylas.connectors.credentials.create({ provider: 'microsoft',
      requestBody: { name: `consent ${tenant}`, credentialType: 'adminconsent', credentialData: { tenant } } });
    const bulk = () => nylas.auth.customAuthentication({ requestBody: { provider: 'microsoft', settings: { emailAddress: email, credentialId: cred.data.id } } });
    await expectApiError(bulk(), { status: 400, what: 'bulk grant before consent' });
    const url = nylas.auth.urlForAdminConsent({ clientId: g.applicationId, redirectUri, credentialId: cred.data.id, state: 'st-consent' });
    const back = await adminConsent(url);
    assert.equal(back.origin + back.pathname, redirectUri);
    assert.equal(back.searchParams.get('admin_consent'), 'true');
    assert.equal(back.searchParams.get('tenant'), tenant);
    assert.equal(back.searchParams.get('state'), 'st-consent');
    assert.equal(back.searchParams.get('code'), null, 'admin consent creates no grant and no code');
    const gr = await bulk();
    assert.equal(gr.data.email, email);
    assert.equal(gr.data.grantStatus, 'valid');
  });

  it('an unknown credential is a 400 and never a redirect', async () => {
    const url = g.nylas().auth.urlForAdminConsent({ clientId: g.applicationId, redirectUri, credentialId: '4e0d0000-0000-4000-8000-000000000000' });
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    const body = await res.json();
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /does not exist/);
  });
});

describe('grants.list: ip', () => {
  it('a hosted OAuth grant records the IP that signed in; the ip filter finds it', async () => {
    const nylas = g.nylas();
    const email = uniqueEmail('hosted-ip');
    await g.sandbox.addUser('google', email, 'Hosted IP');
    const back = await signIn(nylas.auth.urlForOAuth2({ clientId: g.applicationId, redirectUri, provider: 'google', loginHint: email }), email);
    const tok = await nylas.auth.exchangeCodeForToken({ clientId: g.applicationId, redirectUri, code: back.searchParams.get('code') });
    const grant = await nylas.grants.find({ grantId: tok.grantId });
    assert.match(grant.data.ip, /^(127\.0\.0\.1|::1)$/, 'the loopback address the sign-in came from');
    const hit = await nylas.grants.list({ queryParams: { ip: grant.data.ip, limit: 200 } });
    assert.equal(new URLSearchParams(recorder.last().search).get('ip'), grant.data.ip);
    assert.ok(hit.data.some((x) => x.id === tok.grantId), 'the grant is listed');
    for (const x of hit.data) assert.equal(x.ip, grant.data.ip);
    const both = await nylas.grants.list({ queryParams: { ip: grant.data.ip, email, limit: 5 } });
    assert.deepEqual(both.data.map((x) => x.id), [tok.grantId]);
    const miss = await nylas.grants.list({ queryParams: { ip: '192.0.2.7', email, limit: 5 } });
    assert.deepEqual(miss.data, []);
  });
});
