/**
 * tftp-thread.test.ts: the TFTP face's transfers run in its worker thread. The face runs in this
 * process on loopback (port 0); a raw Python client (test/helpers/tftp_client.py, a process of its
 * own) fetches a static file in 512-byte lock-step blocks; once its first block has come, this
 * (the main) thread is blocked for 4 s. The transfer needs the main thread only for its first
 * answer: the other 150 blocks go and their ACKs are answered while the main thread is blocked,
 * so the client finishes before the block ends. The transfer's log line, which goes through the
 * main thread, is written after the block. A thread that dies is restarted and serves again; 5
 * deaths in a row are fatal (PROVD_ERR_TFTP_WORKER), once.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TftpFace, MAX_DEATHS } from '../src/tftp/server';
import type { ProvError } from '../src/errors';
import { parseConfigText } from '../src/config/load';
import { captureLog } from './helpers/log';

const PY = '/usr/bin/python3';
const CLIENT = join(__dirname, '..', '..', 'test', 'helpers', 'tftp_client.py');
const skip = spawnSync(PY, ['-c', 'pass']).status === 0 ? false : `${PY} is not installed`;
const BLOCK_MS = 4000;

describe('TFTP face: a transfer keeps going while the main thread is blocked', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'provd-tftp-thread-'));
  const cap = captureLog('debug');
  let face: TftpFace;
  const file = Buffer.alloc(512 * 150 + 17);
  for (let i = 0; i < file.length; i++) file[i] = (i * 13 + (i >> 9)) & 0xff;

  before(async () => {
    mkdirSync(join(dir, 'profiles', 'yealink', 'files'), { recursive: true });
    writeFileSync(join(dir, 'profiles', 'yealink', 'files', 'fw.rom'), file);
    const yaml = `tftp: {enabled: true, port: 0, interfaces: [lo], rateLimit: {rate: 0}}
stateDir: ${join(dir, 'state')}
provisioning: {defaultDomain: lab.example, tenants: {lab.example: {auth: none}}}
phones: {enabled: true, profilesDir: ${join(dir, 'profiles')}}
`;
    face = new TftpFace({ config: parseConfigText(yaml, join(dir, 'p.yaml')), log: cap.log.child({ face: 'tftp' }), checkPortFree: false });
    await face.start();
  });
  after(async () => {
    await face.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the client gets the whole file before the main thread is free again', async () => {
    const port = face.port;
    assert.ok(port !== undefined && port > 0);
    // The client waits 0.5 s after the first block, so the rest of the transfer happens while this thread is blocked.
    const child = spawn(PY, [CLIENT, '127.0.0.1', String(port), 'fetch', 'fw.rom'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PAUSE_AFTER_FIRST: '0.5' } });
    const lines: Record<string, unknown>[] = [];
    const rl = createInterface({ input: child.stdout });
    const started = new Promise<void>((resolve, reject) => {
      rl.on('line', (l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        lines.push(o);
        if (o['started'] === true) resolve();
        if (o['ok'] === false) reject(new Error(l));
      });
      child.once('exit', () => resolve());
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await started;
    const logLinesBefore = cap.lines.length;
    const blockStart = Date.now() / 1000;
    const until = Date.now() + BLOCK_MS;
    while (Date.now() < until) {
      // the main thread is blocked: no ask, no log line, no timer of this thread runs
    }
    const blockEnd = Date.now() / 1000;
    // The transfer's own log line went through the main thread: it is written only now.
    for (let i = 0; i < 100 && !cap.lines.slice(logLinesBefore).some((l) => l['msg'] === 'TFTP transfer'); i++) await new Promise((r) => setTimeout(r, 20));
    const line = cap.lines.slice(logLinesBefore).find((l) => l['msg'] === 'TFTP transfer');
    assert.equal(line?.['reason'], 'complete', JSON.stringify(cap.lines.slice(logLinesBefore)));
    assert.equal(await exited, 0);
    const done = lines.find((l) => l['ok'] === true);
    assert.ok(done, JSON.stringify(lines));
    assert.equal(done['sha256'], createHash('sha256').update(file).digest('hex'));
    assert.ok(Number(done['done']) > blockStart + 0.4, `the transfer ended during the block, not before it (${String(done['done'])}, block from ${blockStart})`);
    assert.ok(Number(done['done']) < blockEnd, `the last block came at ${String(done['done'])}, the block ended at ${blockEnd}`);
  });
});

describe('TFTP face: its thread dies', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'provd-tftp-death-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = (): string => `tftp: {enabled: true, port: 0, interfaces: [lo], rateLimit: {rate: 0}}
stateDir: ${join(dir, 'state')}
provisioning: {defaultDomain: lab.example, tenants: {lab.example: {auth: none}}}
phones: {enabled: true, profilesDir: ${join(dir, 'profiles')}}
`;
  const waitFor = async (cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; !cond(); i++) {
      if (i > 500) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('a dead thread is restarted on the running configuration and serves again', async () => {
    mkdirSync(join(dir, 'profiles', 'yealink', 'files'), { recursive: true });
    writeFileSync(join(dir, 'profiles', 'yealink', 'files', 'fw.rom'), Buffer.alloc(3000, 5));
    const cap = captureLog('info');
    const face = new TftpFace({ config: parseConfigText(yaml(), join(dir, 'p.yaml')), log: cap.log, checkPortFree: false, restartBaseMs: 50 });
    try {
      await face.start();
      const first = face.thread;
      await first?.terminate(); // as an uncaught exception would end it
      await waitFor(() => cap.lines.some((l) => l['msg'] === 'TFTP thread restarted'), "'TFTP thread restarted'");
      assert.notEqual(face.thread, first);
      assert.equal(cap.lines.find((l) => l['msg'] === 'TFTP thread died')?.['restartInMs'], 50);
      // Not spawnSync: the answer needs this (the main) thread.
      const child = spawn(PY, [CLIENT, '127.0.0.1', String(face.port), 'fetch', 'fw.rom'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      await new Promise((resolve) => child.once('exit', resolve));
      const done = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      assert.equal(done['bytes'], 3000, stdout);
      assert.equal((await face.fetchStats())['thread-restarts'], 1);
    } finally {
      await face.close();
    }
  });

  test(`${MAX_DEATHS} deaths in a row are fatal (onFatal, PROVD_ERR_TFTP_WORKER), once`, async () => {
    const cap = captureLog('info');
    const fatal: ProvError[] = [];
    const face = new TftpFace({ config: parseConfigText(yaml(), join(dir, 'p.yaml')), log: cap.log, checkPortFree: false, restartBaseMs: 10, onFatal: (e) => fatal.push(e) });
    try {
      await face.start();
      for (let i = 0; i < MAX_DEATHS; i++) {
        await waitFor(() => face.thread !== undefined && (face.stats()['thread-restarts'] ?? 0) === i, `restart ${i}`);
        await face.thread?.terminate();
        await waitFor(() => cap.lines.filter((l) => l['msg'] === 'TFTP thread died').length === i + 1, `death ${i + 1}`);
      }
      assert.equal(fatal.length, 1);
      assert.equal(fatal[0]?.code, 'PROVD_ERR_TFTP_WORKER');
    } finally {
      await face.close();
    }
  });
});
