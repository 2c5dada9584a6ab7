/**
 * config-default.test.ts: the CLI finds the right store (issue 14, item 7): without --config it
 * uses $PROVISIOND_CONFIG (or /etc/provisiond/provisiond.yaml when it exists), a relative
 * stateDir is relative to the configuration file, and with no configuration at all an
 * administration command names the store it would create and asks for --init first.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, startDaemon } from './helpers/daemon';
import { SYSTEM_CONFIG, defaultConfigPath } from '../src/cli/common';

const dir = mkdtempSync(join(tmpdir(), 'provisiond-cfgdefault-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** cli runs the executable in `cwd` with `env` added to this process's (PROVISIOND_CONFIG removed unless given). */
function cli(args: readonly string[], cwd: string, env: Record<string, string>, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = { ...process.env };
  delete base['PROVISIOND_CONFIG'];
  delete base['STATE_DIRECTORY'];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe('the default configuration', () => {
  test('defaultConfigPath: $PROVISIOND_CONFIG, else the system file when it exists, else none', () => {
    const sys = join(dir, 'system.yaml');
    assert.equal(defaultConfigPath({ PROVISIOND_CONFIG: '/x/p.yaml' }, sys), '/x/p.yaml');
    assert.equal(defaultConfigPath({}, sys), undefined);
    writeFileSync(sys, '{}\n');
    assert.equal(defaultConfigPath({}, sys), sys);
    assert.equal(defaultConfigPath({ PROVISIOND_CONFIG: '' }, sys), sys);
    assert.equal(SYSTEM_CONFIG, '/etc/provisiond/provisiond.yaml');
  });

  test('PROVISIOND_CONFIG with a relative stateDir: the store is beside the file, not in the working directory', async () => {
    const etc = join(dir, 'etc');
    const work = join(dir, 'work1');
    mkdirSync(etc);
    mkdirSync(work);
    const cfg = join(etc, 'provisiond.yaml');
    writeFileSync(cfg, 'stateDir: lib/state\nprovisioning: {tenants: {example.com: {auth: credentials}}}\n');
    const r = await cli(['user', 'add', 'dora@example.com', '--password-stdin'], work, { PROVISIOND_CONFIG: cfg }, 'dora pw\n');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(etc, 'lib', 'state', 'provisiond.sqlite')), 'the store is under the configuration file\'s folder');
    assert.ok(!existsSync(join(work, 'state')) && !existsSync(join(work, 'lib')), 'nothing in the working directory');
    const list = await cli(['user', 'list'], work, { PROVISIOND_CONFIG: cfg });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /dora@example\.com/);
  });

  test('a PROVISIOND_CONFIG that does not exist is an error naming it (exit 1)', async () => {
    const r = await cli(['user', 'list'], dir, { PROVISIOND_CONFIG: join(dir, 'absent.yaml') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read configuration file .*absent\.yaml.*\[PROVD_ERR_CONFIG_READ\]/);
  });

  test('run without --config uses PROVISIOND_CONFIG (and reloads it)', async () => {
    const cfg = join(dir, 'run.yaml');
    writeFileSync(cfg, `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: run-state\n`);
    const env = { ...process.env, PROVISIOND_CONFIG: cfg };
    const d = startDaemon(['run'], [], env);
    try {
      const starting = await d.waitForLog('provisiond starting');
      assert.equal(starting['config'], cfg);
      const started = await d.waitForLog('provisiond started');
      assert.equal(started['stateDir'], join(dir, 'run-state'));
      d.child.kill('SIGHUP');
      await d.waitForLog('configuration reloaded');
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});

describe('no configuration named', { skip: existsSync(SYSTEM_CONFIG) ? `${SYSTEM_CONFIG} exists on this machine` : false }, () => {
  test('an administration command that would create a store names it and asks for --init (exit 5); with --init it does', async () => {
    const work = join(dir, 'work2');
    mkdirSync(work);
    const r = await cli(['user', 'add', 'erin@example.com', '--password-stdin'], work, {}, 'erin pw\n');
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`no store at ${join(work, 'state', 'provisiond.sqlite').replaceAll('/', '\\/')}: this command would create a new store there; .*--init.*\\[PROVD_ERR_NO_STORE\\]`));
    assert.equal(existsSync(join(work, 'state')), false, 'nothing created');
    const ok = await cli(['user', 'add', 'erin@example.com', '--password-stdin', '--init'], work, {}, 'erin pw\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(existsSync(join(work, 'state', 'provisiond.sqlite')));
    // The store exists now: the next command needs no --init.
    const list = await cli(['user', 'list'], work, {});
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /erin@example\.com/);
  });

  test('a reading command creates nothing and needs no --init', async () => {
    const work = join(dir, 'work3');
    mkdirSync(work);
    const r = await cli(['user', 'list'], work, {});
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(work, 'state')), false);
  });
});
