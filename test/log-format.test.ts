/**
 * log-format.test.ts: the line format follows stdout: the journal (JOURNAL_STREAM names stdout's
 * device:inode) gets `<priority>msg {json}`, a terminal a human line, anything else JSON.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { journalLine, humanLine } from '../src/log';
import { startDaemon, MAIN } from './helpers/daemon';
import { captureLog } from './helpers/log';

describe('line formats', () => {
  test('journalLine: each pino level gets its syslog priority, the message first, the JSON kept whole', () => {
    const cap = captureLog('trace');
    cap.log.fatal('f');
    cap.log.error({ code: 'PROVD_ERR_X' }, 'e');
    cap.log.warn('w');
    cap.log.info('i');
    cap.log.debug('d');
    cap.log.trace('t');
    const raw = cap.text().split('\n').filter((l) => l !== '');
    const want = [2, 3, 4, 6, 7, 7];
    assert.equal(raw.length, want.length);
    raw.forEach((line, i) => {
      const out = journalLine(`${line}\n`);
      const msg = String(cap.lines[i]?.['msg']);
      assert.equal(out, `<${want[i]}>${msg} ${line}\n`);
      assert.deepEqual(JSON.parse(out.slice(`<${want[i]}>${msg} `.length)), cap.lines[i]);
    });
    // A message with a newline stays one journal record; a line that is not JSON is info.
    assert.equal(journalLine('{"level":"error","msg":"a\\nb"}\n'), '<3>a b {"level":"error","msg":"a\\nb"}\n');
    assert.equal(journalLine('not json\n'), '<6>not json\n');
  });

  test('humanLine: time, level, face, message, then key=value', () => {
    const line = '{"level":"warn","time":"2026-01-02T03:04:05.678Z","pid":1,"name":"provisiond","face":"http","user":"alice","tenant":"acme corp","n":3,"msg":"banned"}';
    assert.equal(humanLine(`${line}\n`), '03:04:05.678 WARN  [http] banned user=alice tenant="acme corp" n=3\n');
  });
});

const dir = mkdtempSync(join(tmpdir(), 'provisiond-logfmt-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const cfg = (name: string, extra = ''): string => {
  const p = join(dir, name);
  writeFileSync(p, `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'state')}\n${extra}`);
  return p;
};

/** AS_JOURNAL runs the command with JOURNAL_STREAM set to the shell's stdout (the test's pipe), as systemd does. */
const AS_JOURNAL = ['sh', '-c', 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) exec "$@"', 'sh'];

async function until(f: () => boolean, what: string, out: () => string): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(f(), `${what}; stdout:\n${out()}`);
}

describe('the daemon with stdout on the journal', () => {
  test('each line carries its priority: info, warn, and err for a rejected reload', async () => {
    const p = cfg('j.yaml');
    const d = startDaemon(['run', '--config', p], AS_JOURNAL);
    try {
      await until(() => d.stdout().includes('<6>provisiond started {'), 'no <6>provisiond started', d.stdout);
      // No tenant configured: the HTTP face's warning.
      assert.match(d.stdout(), /^<4>no provisioning\.tenants configured[^\n]* \{"level":"warn"/m);
      writeFileSync(p, 'dhcp:\n  prot: 1\n');
      d.child.kill('SIGHUP');
      await until(() => d.stdout().includes('<3>reload rejected; still serving the previous configuration {'), 'no <3> reload rejected', d.stdout);
      assert.match(d.stdout(), /^<3>configuration problem \{"level":"error"[^\n]*dhcp\.prot: unknown key/m);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
      const lines = d.stdout().split('\n').filter((l) => l !== '');
      for (const l of lines) {
        const m = /^<([2-7])>(.*?) (\{.*\})$/.exec(l);
        assert.ok(m, `not a journal line: ${l}`);
        const o = JSON.parse(m[3] ?? '') as Record<string, unknown>;
        assert.equal(m[2], o['msg']);
        assert.equal(Number(m[1]), { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 }[String(o['level'])]);
      }
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });

  test('a JOURNAL_STREAM that is not stdout (another file) leaves JSON lines', async () => {
    const d = startDaemon(['run', '--config', cfg('j2.yaml')], ['env', 'JOURNAL_STREAM=1:1']);
    try {
      await d.waitForLog('provisiond started');
      assert.match(d.stdout(), /^\{"level":"info"/);
      assert.doesNotMatch(d.stdout(), /^</m);
      // (Right after 'provisiond started' the SIGTERM handler may not be in yet: the exit code is not this test's point.)
      d.child.kill('SIGTERM');
      await d.exited;
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});

const PY = '/usr/bin/python3';
describe('the daemon on a terminal', { skip: existsSync(PY) ? false : `${PY} is not installed` }, () => {
  test('a pty gets human lines: INFO starting, FATAL startup failed', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const addr = holder.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      const p = cfg('t.yaml').replace(/$/, '');
      writeFileSync(p, `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: ${port}}\nstateDir: ${join(dir, 'state')}\n`);
      const script = [
        'import os, sys, pty',
        'pid, fd = pty.fork()',
        'if pid == 0:',
        '    os.execv(sys.argv[1], sys.argv[1:])',
        'out = b""',
        'while True:',
        '    try:',
        '        d = os.read(fd, 4096)',
        '    except OSError:',
        '        break',
        '    if not d:',
        '        break',
        '    out += d',
        '_, st = os.waitpid(pid, 0)',
        'sys.stdout.write(out.decode())',
        'sys.exit(os.waitstatus_to_exitcode(st))',
      ].join('\n');
      const r = spawnSync(PY, ['-c', script, process.execPath, MAIN, 'run', '--config', p], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 3, r.stdout + r.stderr);
      assert.match(r.stdout, /^\d\d:\d\d:\d\d\.\d{3} INFO  provisiond starting version=\S+ config=\S+t\.yaml/m);
      assert.match(r.stdout, /^\d\d:\d\d:\d\d\.\d{3} FATAL startup failed err="[^"\n]*" code=PROVD_ERR_HTTP_BIND/m);
      assert.doesNotMatch(r.stdout, /\{"level"/);
    } finally {
      holder.close();
    }
  });
});
