#!/usr/bin/env node
// ensure.mjs: the idempotent install-and-build step behind `npm start` and `npm test`.
// - installs node_modules with `npm ci` when they are missing or were installed from a
//   different package-lock.json (a hash of the lock file is kept in node_modules);
// - compiles TypeScript (incremental, so a no-change run costs about a second);
// - makes the package's bin (dist/src/main.js, which starts with `#!/usr/bin/env node`)
//   executable: tsc writes files 0644, and an incremental run may not rewrite it at all.
// Only Node built-ins are used here: this runs before any dependency exists.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.provisiond-lock-hash');
const quiet = process.env.PROVISIOND_ENSURE_QUIET === '1';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : ['ignore', 2, 2] });
  if (r.error) {
    console.error(`ensure: cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`ensure: '${cmd} ${args.join(' ')}' failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

const lockHash = createHash('sha256').update(readFileSync(lock)).digest('hex');
const installed = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (installed !== lockHash || !existsSync(join(root, 'node_modules', 'typescript'))) {
  if (!quiet) console.error('ensure: installing dependencies (npm ci; this needs the npm registry)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  writeFileSync(stamp, lockHash + '\n');
}

run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root]);

const bin = join(root, 'dist', 'src', 'main.js');
if (!readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')) {
  console.error(`ensure: ${bin} does not start with '#!/usr/bin/env node' (src/main.ts must keep its shebang)`);
  process.exit(1);
}
// u+x, and g+x / o+x where the file is readable to them (0644 becomes 0755).
const mode = statSync(bin).mode & 0o777;
const exec = mode | ((mode & 0o444) >> 2);
if (exec !== mode) chmodSync(bin, exec);
