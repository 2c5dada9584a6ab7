#!/usr/bin/env node
// run-tests.mjs: runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Node 20's `node --test` takes no globs, so the files are listed here. Extra arguments are
// passed through (e.g. `npm test -- --test-name-pattern=codec`).
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
// A file that never exits (a leaked socket or timer) would hang CI: bound the whole run.
// 15 min: the suite takes about 9 min alone on the 2-core box; the rest is margin for a loaded
// machine, inside the 20 min CI budget (npm ci and the Debian packages take the other few).
const LIMIT_MS = 15 * 60_000;
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { cwd: root, stdio: 'inherit', timeout: LIMIT_MS, killSignal: 'SIGKILL' });
if (r.error || r.signal) console.error(`run-tests: the test run did not finish within ${LIMIT_MS / 60_000} min (${r.error?.message ?? r.signal}); a test file probably left a handle open`);
process.exit(r.status ?? 1);
