/**
 * Issue 16 item 1 with the real executable: a warm restart (the daemon stops, starts again, and
 * the same users log in without any KDF run, read from its SIGUSR1 counters), the CLI's password
 * change and deletion, a replaced key file, and a wrong password against a remembered user.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startDaemon, cliWithInput, type Running } from './helpers/daemon';
import { hashPassword } from '../src/identity/passwords';

const USERS = ['alice', 'bob', 'carol', 'dave'];
const pw = (u: string): string => `${u}-secret`;

/** post sends one login and resolves with the status. */
function post(port: number, user: string, password: string): Promise<number> {
  const body = `username=${encodeURIComponent(user)}&password=${encodeURIComponent(password)}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/jitsi', method: 'POST', agent: false, timeout: 30_000, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

async function start(cfg: string): Promise<{ d: Running; port: number }> {
  const d = startDaemon(['run', '--config', cfg]);
  const serving = await d.waitForLog('HTTP face serving', 30_000);
  return { d, port: Number(serving['port']) };
}

/** counters asks the daemon for its counters (SIGUSR1) and returns the HTTP face's. */
async function counters(d: Running): Promise<Record<string, number>> {
  d.child.kill('SIGUSR1');
  const line = await d.waitForLog('counters');
  return (line['stats'] as { http: Record<string, number> }).http;
}

async function stop(d: Running): Promise<void> {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
  await d.exited;
}

describe('remembered logins across a restart (the executable)', () => {
  test('warm restart: no KDF run for the same logins; wrong password 401; CLI passwd/del and a new key file make the KDF run again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provd-remember-'));
    const state = join(dir, 'state');
    const cfg = join(dir, 'p.yaml');
    writeFileSync(
      cfg,
      `stateDir: ${state}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nsip: {enabled: false}\ntftp: {enabled: false}\nlog: {level: info}\n` +
        'http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}, bans: {maxRetry: 0}}\n' +
        'provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: 10}\n  tenants:\n    example.com:\n      auth: credentials\n',
    );
    let d: Running | undefined;
    try {
      for (const u of USERS) {
        const r = await cliWithInput(['user', 'add', `${u}@example.com`, '--password-stdin', '--config', cfg], `${pw(u)}\n`);
        assert.equal(r.code, 0, r.stderr);
      }
      // First run: every login runs the KDF, and is remembered.
      let s = await start(cfg);
      d = s.d;
      for (const u of USERS) assert.equal(await post(s.port, u, pw(u)), 200);
      let c = await counters(d);
      assert.equal(c['kdf-runs'], USERS.length, JSON.stringify(c));
      await stop(d); // close writes what waits
      assert.equal(statSync(join(state, 'remember.key')).mode & 0o777, 0o600, 'the key file is 0600');

      // Second run: warm.
      s = await start(cfg);
      d = s.d;
      for (const u of USERS) assert.equal(await post(s.port, u, pw(u)), 200);
      c = await counters(d);
      assert.equal(c['kdf-runs'], 0, `no KDF run after the restart: ${JSON.stringify(c)}`);
      assert.equal(c['remembered-hits'], USERS.length);
      // A wrong password against a remembered user still fails (and runs the KDF).
      assert.equal(await post(s.port, 'alice', 'not-her-password'), 401);
      await stop(d);

      // The CLI changes bob's password and deletes carol (the daemon stopped or running alike).
      const r1 = await cliWithInput(['user', 'passwd', 'bob@example.com', '--password-stdin', '--config', cfg], 'bob-new\n');
      assert.equal(r1.code, 0, r1.stderr);
      const r2 = await cliWithInput(['user', 'del', 'carol@example.com', '--config', cfg]);
      assert.equal(r2.code, 0, r2.stderr);
      s = await start(cfg);
      d = s.d;
      assert.equal(await post(s.port, 'alice', pw('alice')), 200);
      assert.equal(await post(s.port, 'bob', pw('bob')), 401);
      assert.equal(await post(s.port, 'bob', 'bob-new'), 200);
      assert.equal(await post(s.port, 'carol', pw('carol')), 401);
      c = await counters(d);
      assert.equal(c['remembered-hits'], 1, `only alice was remembered: ${JSON.stringify(c)}`);
      await stop(d);

      // A new key file: every remembered row is unusable and purged; the KDF runs again.
      writeFileSync(join(state, 'remember.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      s = await start(cfg);
      d = s.d;
      await d.waitForLog('remembered logins purged');
      assert.equal(await post(s.port, 'alice', pw('alice')), 200);
      assert.equal(await post(s.port, 'dave', pw('dave')), 200);
      c = await counters(d);
      assert.equal(c['remembered-hits'], 0, JSON.stringify(c));
      assert.equal(c['kdf-runs'], 2);
      assert.ok((c['remembered-purged'] ?? 0) >= 3, JSON.stringify(c));
      const keyText = readFileSync(join(state, 'remember.key'), 'utf8').trim();
      assert.equal(d.stdout().includes(keyText) || d.stderr().includes(keyText), false, 'the key is never logged');
      await stop(d);

      // A key others may read: an error naming the code, and logins still work through the KDF.
      const loose = join(state, 'remember.key');
      chmodSync(loose, 0o644);
      s = await start(cfg);
      d = s.d;
      const err = await d.waitForLog('remembered logins are off: logins are checked by the KDF alone');
      assert.equal(err['code'], 'PROVD_ERR_REMEMBER_KEY');
      assert.equal(await post(s.port, 'alice', pw('alice')), 200);
    } finally {
      if (d) await stop(d);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a hash from `provisiond user hash` in the configuration file is remembered too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provd-remember-'));
    const state = join(dir, 'state');
    const cfg = join(dir, 'p.yaml');
    const h = await hashPassword('cfg-pw', 10);
    writeFileSync(
      cfg,
      `stateDir: ${state}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nsip: {enabled: false}\ntftp: {enabled: false}\nlog: {level: info}\n` +
        'http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}\n' +
        `provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: 10}\n  tenants:\n    example.com:\n      auth: credentials\n      users:\n        erin: {password: "${h}"}\n`,
    );
    let d: Running | undefined;
    try {
      let s = await start(cfg);
      d = s.d;
      assert.equal(await post(s.port, 'erin', 'cfg-pw'), 200);
      await stop(d);
      s = await start(cfg);
      d = s.d;
      assert.equal(await post(s.port, 'erin', 'cfg-pw'), 200);
      const c = await counters(d);
      assert.equal(c['kdf-runs'], 0, JSON.stringify(c));
      assert.equal(c['remembered-hits'], 1);
    } finally {
      if (d) await stop(d);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
