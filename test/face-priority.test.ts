/**
 * face-priority.test.ts: the answering threads' scheduling priority (src/priority.ts).
 *
 * The daemon (the executable, in a namespace of its own) raises its DHCP face thread to
 * FACE_THREAD_NICE when it may (root here, CAP_SYS_NICE under the systemd unit); started without
 * CAP_SYS_NICE (util-linux `setpriv` drops it from the bounding set) it keeps every thread at the
 * process's priority and says so in one info line. The priorities are read from /proc, not from
 * the daemon's own report.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Running } from './helpers/daemon';
import { NetnsLab, netnsSkipReason } from './helpers/netns';
import { FACE_THREAD_NICE, setOwnThreadNice } from '../src/priority';

const SETPRIV = '/usr/bin/setpriv';

/** threadNices maps each thread of a process to its nice value (field 19 of /proc/PID/task/TID/stat). */
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('setOwnThreadNice', () => {
  test('lowering needs no privilege and changes only the calling thread; it never throws', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
    const { Worker } = await import('node:worker_threads');
    // In a worker thread, so that this test's own thread keeps its priority.
    const code = `const { parentPort } = require('node:worker_threads'); const p = require(${JSON.stringify(join(__dirname, '..', 'src', 'priority.js'))}); parentPort.postMessage([p.setOwnThreadNice(7), require('node:fs').readlinkSync('/proc/thread-self')]);`;
    const w = new Worker(code, { eval: true });
    const [r, self] = await new Promise<[unknown, string]>((resolve) => w.once('message', resolve));
    await w.terminate();
    assert.deepEqual(r, { ok: true, nice: 7 });
    assert.match(self, /^\d+\/task\/\d+$/);
    assert.ok(threadNices(process.pid).every((n) => n === 0 || n === 10), 'the worker thread is gone; no other thread changed');
    assert.deepEqual(setOwnThreadNice(0).ok, true, 'setting the value it has is allowed');
  });
});

describe('the daemon\'s DHCP face thread priority', { skip: netnsSkipReason() }, () => {
  const lab = new NetnsLab('prio');
  let ns = '';
  let dir = '';
  const running: Running[] = [];
  before(() => {
    ns = lab.addNamespace('p');
    dir = mkdtempSync(join(tmpdir(), 'provd-prio-'));
  });
  after(async () => {
    for (const d of running) {
      if (d.child.exitCode === null) {
        d.child.kill('SIGTERM');
        await d.exited;
      }
    }
    assert.deepEqual(await lab.destroy(), []);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (name: string, prefix: readonly string[]): Promise<Running> => {
    const cfg = join(dir, `${name}.yaml`);
    writeFileSync(cfg, `dhcp: {port: 0, interfaces: [lo]}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nlog: {level: debug}\nstateDir: ${join(dir, name)}\n`);
    const d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', ns, ...prefix]);
    running.push(d);
    await d.waitForLog('provisiond started', 20_000);
    return d;
  };

  test(`as root: one thread (the DHCP face's) at nice ${FACE_THREAD_NICE}, the event loop at 0`, async () => {
    const d = await start('root', []);
    const pid = d.child.pid ?? 0;
    const nices = threadNices(pid);
    assert.equal(nices.filter((n) => n === FACE_THREAD_NICE).length, 1, `thread nices: ${nices.join(' ')}`);
    assert.equal(threadNices(pid)[0], 0, 'the main thread keeps the process priority');
    await d.waitForLog('DHCP face thread: priority raised', 5000);
  });

  test('without CAP_SYS_NICE: every answering thread keeps the process priority, and one info line says why', { skip: existsSync(SETPRIV) ? false : `${SETPRIV} (util-linux) is not installed` }, async () => {
    const d = await start('nocap', [SETPRIV, '--bounding-set=-sys_nice', '--inh-caps=-sys_nice', '--']);
    const line = await d.waitForLog(/DHCP face thread keeps the process's priority/, 5000);
    assert.match(String(line['reason']), /CAP_SYS_NICE/);
    const nices = threadNices(d.child.pid ?? 0);
    assert.ok(nices.every((n) => n >= 0), `no raised thread: ${nices.join(' ')}`);
  });
});
