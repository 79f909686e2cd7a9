// Test harness for the Nylas SDK conformance suite.
//
// - buildGrantd(): builds ./cmd/grantd once per `node --test` run (the test
//   files run in separate processes; they share one binary through a lock
//   directory keyed by the test runner's pid). GRANTD_BIN=/path/to/grantd
//   skips the build.
// - startGrantd(): starts `grantd dev --listen 127.0.0.1:0 --data-dir <tmp>`,
//   waits for <tmp>/dev.json and returns its contents plus helpers; stop()
//   sends SIGTERM, then SIGKILL after a grace period.
// - useGrantd(): the same, wired into node:test before/after hooks. Every
//   test file gets its own grantd (it starts in well under a second), so
//   files cannot disturb each other; tests inside a file use distinct
//   emails.
// - Sandbox: the provider sandbox's admin API (clients, users, tokens,
//   revocation, failure injection).
// - recorder: wraps globalThis.fetch (which the SDK calls) to record what
//   went over the wire: method, URL, body, status and x-request-id.
// - expectApiError(): asserts on a NylasApiError the SDK raised.
import { spawn, execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import Nylas, { NylasApiError } from 'nylas';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');

const START_DEADLINE_MS = 60_000;
const BUILD_DEADLINE_MS = 300_000;
const STOP_GRACE_MS = 5_000;

// The real fetch, for harness traffic that must not show up in the recorder.
const realFetch = globalThis.fetch;

// ---------------------------------------------------------------- recorder

/**
 * Every request the SDK sends through globalThis.fetch:
 * {method, url, path, search, body, status, requestId, redirected, finalUrl}.
 * fetch follows redirects, so status is that of the last response;
 * redirected says whether grantd answered with a redirect first (it never
 * should: a followed redirect can land on another resource).
 */
export const recorder = {
  entries: [],
  /** The index to pass to since(). */
  mark() {
    return this.entries.length;
  },
  /** Entries recorded after mark. */
  since(mark) {
    return this.entries.slice(mark);
  },
  last() {
    return this.entries[this.entries.length - 1];
  },
};

globalThis.fetch = async function recordingFetch(input, init) {
  const isReq = typeof Request !== 'undefined' && input instanceof Request;
  const url = isReq ? input.url : String(input);
  const method = (init?.method ?? (isReq ? input.method : 'GET')).toUpperCase();
  let body;
  if (init?.body !== undefined && init?.body !== null) {
    body = typeof init.body === 'string' ? init.body : String(init.body);
  } else if (isReq && input.body) {
    body = await input.clone().text();
  }
  const u = new URL(url);
  const entry = { method, url, path: u.pathname, search: u.search, body, status: undefined, requestId: undefined, redirected: undefined, finalUrl: undefined };
  recorder.entries.push(entry);
  const res = await realFetch(input, init);
  entry.status = res.status;
  entry.requestId = res.headers.get('x-request-id') ?? undefined;
  entry.redirected = res.redirected;
  entry.finalUrl = res.url;
  return res;
};

// ------------------------------------------------------------------- build

function procStartTime(pid) {
  try {
    // Field 22 of /proc/<pid>/stat (after the ")" that ends the command).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

const BUILD_PREFIX = 'grantd-conformance-build-';

function removeStaleBuilds(keep) {
  let names = [];
  try {
    names = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(BUILD_PREFIX) || name === keep) continue;
    const pid = Number(name.slice(BUILD_PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

let builtPath;

/** Builds ./cmd/grantd once per test run and returns the binary's path. */
export async function buildGrantd() {
  if (process.env.GRANTD_BIN) return process.env.GRANTD_BIN;
  if (builtPath) return builtPath;
  // Under `node --test` every file is a child of the runner: key on it.
  const owner = process.env.NODE_TEST_CONTEXT ? process.ppid : process.pid;
  const name = `${BUILD_PREFIX}${owner}-${procStartTime(owner)}`;
  const dir = path.join(os.tmpdir(), name);
  const bin = path.join(dir, 'grantd');
  const ok = path.join(dir, 'ok');
  const failed = path.join(dir, 'failed');
  let builder = false;
  try {
    fs.mkdirSync(dir);
    builder = true;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  if (builder) {
    removeStaleBuilds(name);
    try {
      await new Promise((resolve, reject) => {
        execFile('go', ['build', '-o', bin + '.tmp', './cmd/grantd'], { cwd: repoRoot, timeout: BUILD_DEADLINE_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
          if (err) {
            const why = err.code === 'ENOENT' ? 'the go command was not found on PATH' : `${err.message}\n${stderr}`;
            reject(new Error(`go build ./cmd/grantd (in ${repoRoot}) failed: ${why}`));
          } else resolve();
        });
      });
      fs.renameSync(bin + '.tmp', bin);
      fs.writeFileSync(ok, '');
    } catch (e) {
      fs.writeFileSync(failed, e.message);
      throw e;
    }
  } else {
    const deadline = Date.now() + BUILD_DEADLINE_MS;
    for (;;) {
      if (fs.existsSync(ok)) break;
      if (fs.existsSync(failed)) throw new Error(fs.readFileSync(failed, 'utf8'));
      if (Date.now() > deadline) throw new Error(`timed out waiting for another test process to build grantd in ${dir}`);
      await sleep(100);
    }
  }
  builtPath = bin;
  return bin;
}

// ------------------------------------------------------------------ grantd

/**
 * Starts `grantd dev` in a fresh data directory; see the file comment.
 * opts.env adds environment variables (GRANTD_* configuration keys).
 */
export async function startGrantd(opts = {}) {
  const bin = await buildGrantd();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantd-conformance-data-'));
  const devFile = path.join(dataDir, 'dev.json');
  const child = spawn(bin, ['dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stderr = '';
  const keep = (chunk) => {
    stderr += chunk;
    if (stderr.length > 256 << 10) stderr = stderr.slice(-(128 << 10));
  };
  child.stderr.setEncoding('utf8').on('data', keep);
  child.stdout.resume(); // the banner; dev.json carries the same facts
  let exited = null;
  const exitP = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });
  const killOnExit = () => {
    try {
      child.kill('SIGKILL');
    } catch {}
  };
  process.on('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitP;
      clearTimeout(t);
    }
    if (!process.env.GRANTD_KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  let dev;
  const deadline = Date.now() + START_DEADLINE_MS;
  try {
    for (;;) {
      if (exited) {
        const how = exited.error ? `could not start: ${exited.error.message}` : `exited early (code ${exited.code}, signal ${exited.signal})`;
        throw new Error(`grantd dev ${how}; stderr:\n${stderr}`);
      }
      try {
        dev = JSON.parse(fs.readFileSync(devFile, 'utf8'));
        if (dev.api_url && dev.api_key && dev.sandbox_url && dev.identities) break;
      } catch {}
      if (Date.now() > deadline) {
        throw new Error(`grantd dev did not write ${devFile} within ${START_DEADLINE_MS / 1000}s; stderr:\n${stderr}`);
      }
      await sleep(50);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const sandbox = new Sandbox(dev.sandbox_url);
  return {
    apiUri: dev.api_url,
    apiKey: dev.api_key,
    applicationId: dev.application_id,
    sandboxUrl: dev.sandbox_url,
    identities: dev.identities,
    /** dev.json's google_service_account (docs/dev.md). */
    googleServiceAccount: dev.google_service_account,
    /** dev.json's microsoft_admin_consent (docs/dev.md). */
    microsoftAdminConsent: dev.microsoft_admin_consent,
    /** dev.json's agent_domain: a verified domain for agent accounts (docs/dev.md). */
    agentDomain: dev.agent_domain,
    /** dev.json's native_identities: the v2 native mail services' users of the mail stand-in (docs/dev.md). */
    nativeIdentities: dev.native_identities,
    dataDir,
    bin,
    sandbox,
    stop,
    stderr: () => stderr,
    /** An SDK client for this grantd (options override apiKey/apiUri/timeout). */
    nylas(opts = {}) {
      return new Nylas({ apiKey: dev.api_key, apiUri: dev.api_url, timeout: 30, ...opts });
    },
    /**
     * A new sandbox user of provider with a fresh refresh token issued to the
     * dev connector's client (or opts.clientId), with the dev scopes.
     */
    async newIdentity(provider, opts = {}) {
      const dev0 = dev.identities[provider];
      const email = opts.email ?? uniqueEmail(`${provider}-${opts.label ?? 'user'}`);
      if (!opts.existingUser) await sandbox.addUser(provider, email, opts.name ?? `Test ${provider} user`);
      const clientId = opts.clientId ?? dev0.client_id;
      const scope = opts.scope ?? dev0.scope;
      const refreshToken = await sandbox.mint(provider, clientId, email, scope);
      return { provider, email, refreshToken, scope, clientId };
    },
  };
}

/**
 * Starts one grantd for the current test file (before) and stops it (after).
 * Returns an object that is filled in once `before` has run.
 */
export function useGrantd(opts = {}) {
  const g = {};
  before(async () => {
    Object.assign(g, await startGrantd(opts));
  });
  after(async () => {
    if (g.stop) await g.stop();
  });
  return g;
}

export function uniqueEmail(label = 'user') {
  return `${label}.${randomUUID().slice(0, 8)}@example.com`.toLowerCase();
}

// ----------------------------------------------------------------- sandbox

/** The provider sandbox's admin API (docs/dev.md). */
export class Sandbox {
  constructor(url) {
    this.url = url.replace(/\/+$/, '');
  }

  async call(method, p, body) {
    const res = await realFetch(this.url + p, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`sandbox ${method} ${p} → ${res.status}: ${text}`);
    return text ? JSON.parse(text) : {};
  }

  registerClient(provider, clientId, clientSecret) {
    return this.call('POST', '/admin/clients', { provider, client_id: clientId, client_secret: clientSecret });
  }

  addUser(provider, email, name) {
    return this.call('POST', '/admin/users', { provider, email, name });
  }

  async mint(provider, clientId, email, scopes) {
    const r = await this.call('POST', '/admin/tokens', { provider, client_id: clientId, email, scopes });
    return r.refresh_token;
  }

  revokeToken(provider, refreshToken) {
    return this.call('POST', '/admin/tokens/revoke', { provider, refresh_token: refreshToken });
  }

  revokeUser(provider, email) {
    return this.call('POST', '/admin/tokens/revoke', { provider, email });
  }

  async isValid(provider, refreshToken) {
    const r = await this.call('POST', '/admin/tokens/introspect', { provider, refresh_token: refreshToken });
    return r.valid;
  }

  /** Injects failures: {provider, endpoint: 'token'|'identity'|'', status, delay_ms, count, retry_after}. */
  injectFailure(f) {
    return this.call('POST', '/admin/failures', f);
  }

  clearFailures() {
    return this.call('DELETE', '/admin/failures');
  }

  setProvider(provider, settings) {
    return this.call('PUT', `/admin/providers/${provider}`, settings);
  }

  /** A Google service account of domain delegated scopes → {client_email, key}. */
  addServiceAccount(domain, scopes) {
    return this.call('POST', '/admin/google/service-accounts', { domain, scopes });
  }

  setDelegation(clientEmail, scopes) {
    return this.call('PUT', `/admin/google/service-accounts/${encodeURIComponent(clientEmail)}`, { scopes });
  }

  ledger(provider) {
    return this.call('GET', `/admin/ledger${provider ? `?provider=${encodeURIComponent(provider)}` : ''}`);
  }
}

// ------------------------------------------------------------- assertions

/**
 * Awaits promise, which must reject with a NylasApiError of the given status
 * and type, a meaningful message (matching `message` when given) and a
 * requestId equal to the x-request-id header of the response (the last
 * request recorded). Returns the error.
 */
export async function expectApiError(promise, { status, type, message, what = 'the SDK call' }) {
  let err;
  try {
    const v = await promise;
    assert.fail(`${what} resolved (${JSON.stringify(v)?.slice(0, 300)}) but should have raised NylasApiError ${status} ${type ?? ''}`);
  } catch (e) {
    if (e?.code === 'ERR_ASSERTION') throw e;
    err = e;
  }
  assert.ok(err instanceof NylasApiError, `${what}: expected a NylasApiError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.statusCode, status, `${what}: statusCode (message: ${err.message})`);
  if (type !== undefined) assert.equal(err.type, type, `${what}: type (message: ${err.message})`);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length >= 10, `${what}: message should be meaningful, got ${JSON.stringify(err.message)}`);
  if (message) assert.match(err.message, message, `${what}: message`);
  assert.ok(err.requestId, `${what}: requestId should be set from x-request-id`);
  // Tests in a file run one after another: the SDK's request is the last one.
  const last = recorder.last();
  assert.equal(last?.redirected, false, `${what}: grantd redirected ${last?.method} ${last?.url} to ${last?.finalUrl}`);
  assert.equal(last?.status, status, `${what}: last recorded response status`);
  assert.equal(err.requestId, last.requestId, `${what}: requestId must equal the x-request-id header`);
  return err;
}

/** Asserts that a successful SDK response's requestId matches x-request-id. */
export function assertRequestId(res, what = 'response') {
  const last = recorder.last();
  assert.equal(last?.redirected, false, `${what}: grantd redirected ${last?.method} ${last?.url} to ${last?.finalUrl}`);
  assert.equal(typeof res.requestId, 'string', `${what}: requestId`);
  assert.ok(res.requestId.length > 0, `${what}: requestId non-empty`);
  assert.equal(res.requestId, recorder.last()?.requestId, `${what}: body request_id should equal the x-request-id header`);
}

/** Asserts t is a Unix time in seconds within slack of now. */
export function assertUnixSecondsNow(t, what, slack = 300) {
  assert.equal(typeof t, 'number', `${what} should be a number, got ${JSON.stringify(t)}`);
  assert.ok(Number.isInteger(t), `${what} should be an integer`);
  const now = Date.now() / 1000;
  assert.ok(Math.abs(t - now) < slack, `${what} = ${t} should be Unix seconds near now (${Math.round(now)})`);
}

export { Nylas, NylasApiError };
