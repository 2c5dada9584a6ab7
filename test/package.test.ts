/**
 * The Debian package on a clean Debian 12 (issue 14, item 1): `npm run package` builds the
 * bundle and the .deb; a debootstrapped bookworm root (minbase: no Node.js, no compiler) gets it
 * with `dpkg -i` in a chroot; the daemon runs there as user provisiond (directly: PID 1 is not
 * systemd) in a network namespace of the test's own, answers a Jitsi DHCPINFORM (our client, from
 * outside the chroot) and a POST /jitsi (curl, HTTPS with a 0640 root:provisiond key) for a store
 * user added with the packaged CLI. Its stdout and stderr go to a real systemd-journald (the
 * host's, started in the daemon's private mount namespace: PID 1 is not systemd) through
 * systemd-cat with JOURNAL_STREAM set as systemd sets it, so `journalctl -p err` is checked for a
 * rejected reload; `provisiond reload` exits non-zero on a file the daemon rejects, and `bans
 * list` / `bans lift` work on the running daemon over its control socket in /run/provisiond.
 * Then `dpkg -r` keeps /var/lib/provisiond and `dpkg --purge` removes /etc/provisiond.
 *
 * The debootstrapped root is cached as a tarball in /var/cache/provisiond-test/ (or
 * $PROVISIOND_TEST_CACHE), so only the first run pays for debootstrap; it runs while the
 * package builds. Skips when not root, when SKIP_PACKAGE_TEST=1, without network namespaces,
 * without debootstrap/dpkg-deb/curl, or when the Debian archive cannot be reached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsSkipReason, run, runSync, LineProcess, killPid, waitFor, type RunResult } from './helpers/netns';

const ROOT = join(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const MIRROR = 'http://deb.debian.org/debian';
const CACHE = process.env['PROVISIOND_TEST_CACHE'] ?? '/var/cache/provisiond-test';
const ROOT_TARBALL = join(CACHE, 'bookworm-minbase.tar');
const PASSWORD = 'pkg test pw!';
const JOURNALD = '/lib/systemd/systemd-journald';

function skipReason(): string | false {
  if (process.env['SKIP_PACKAGE_TEST'] === '1') return 'SKIP_PACKAGE_TEST=1';
  const ns = netnsSkipReason();
  if (ns !== undefined) return ns;
  for (const [cmd, args, pkg] of [
    ['dpkg-deb', ['--version'], 'dpkg'],
    ['curl', ['--version'], 'curl'],
    ['debootstrap', ['--version'], 'debootstrap'],
    ['unshare', ['--version'], 'util-linux'],
    ['systemd-cat', ['--version'], 'systemd'],
    ['journalctl', ['--version'], 'systemd'],
    ['openssl', ['version'], 'openssl'],
  ] as const) {
    if (runSync(cmd, args, 5000).code !== 0) return `${cmd} is not installed (apt-get install ${pkg}; scripts/install-test-deps.sh does)`;
  }
  if (!existsSync(JOURNALD)) return `${JOURNALD} is missing (apt-get install systemd)`;
  if (!existsSync(ROOT_TARBALL)) {
    const r = runSync('curl', ['-sSfI', '-m', '10', '-o', '/dev/null', `${MIRROR}/dists/bookworm/Release`], 15_000);
    if (r.code !== 0) return `the Debian archive (${MIRROR}) cannot be reached to debootstrap a clean root: ${r.stderr.trim()}`;
  }
  return false;
}

/** must asserts a command's success, with its output in the message. */
function must(what: string, r: RunResult): string {
  assert.equal(r.code, 0, `${what} failed (exit ${String(r.code)}${r.timedOut ? ', timed out' : ''}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** inRoot runs a command chrooted in dir, in a private mount namespace with /proc mounted there. */
function inRoot(dir: string, args: readonly string[], timeoutMs = 120_000, input?: string): Promise<RunResult> {
  return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"', dir, ...args], { timeoutMs, input });
}

/** cleanRoot debootstraps a bookworm minbase root into the cache (once), then unpacks it into dir. */
async function cleanRoot(dir: string, diag: (m: string) => void): Promise<void> {
  if (!existsSync(ROOT_TARBALL)) {
    mkdirSync(CACHE, { recursive: true });
    const build = `${ROOT_TARBALL}.${process.pid}.d`;
    rmSync(build, { recursive: true, force: true });
    const t = Date.now();
    must('debootstrap', await run('debootstrap', ['--variant=minbase', 'bookworm', build, MIRROR], { timeoutMs: 15 * 60_000 }));
    must('tar of the root', await run('tar', ['--numeric-owner', '-C', build, '-cf', `${ROOT_TARBALL}.${process.pid}`, '.'], { timeoutMs: 120_000 }));
    renameSync(`${ROOT_TARBALL}.${process.pid}`, ROOT_TARBALL);
    rmSync(build, { recursive: true, force: true });
    diag(`debootstrap --variant=minbase bookworm: ${((Date.now() - t) / 1000).toFixed(1)} s (cached in ${ROOT_TARBALL})`);
  }
  must('untar the clean root', await run('tar', ['--numeric-owner', '-xpf', ROOT_TARBALL, '-C', dir], { timeoutMs: 120_000 }));
  chmodSync(dir, 0o755); // mkdtemp made it 0700: the daemon's user must reach its files
}

test('the .deb installs on a clean Debian 12, runs as provisiond (0640 config and TLS key), answers an INFORM and a POST, logs to journald (journalctl -p err shows a rejected reload; provisiond reload fails), bans list/lift work, and it removes cleanly', { skip: skipReason(), timeout: 30 * 60_000 }, async (t) => {
  const times: string[] = [];
  const t0 = Date.now();
  const lap = (what: string, since: number): void => {
    times.push(`${what} ${((Date.now() - since) / 1000).toFixed(1)} s`);
  };
  mkdirSync('/var/tmp', { recursive: true });
  const dir = mkdtempSync('/var/tmp/provisiond-pkgtest-');
  const ns = `pvdpkg${process.pid}`;
  let daemon: LineProcess | undefined;
  let journaldPid = 0;
  try {
    // The package build (CPU) and the first debootstrap (network) run side by side.
    const tp = Date.now();
    const [pkg] = await Promise.all([
      run(process.execPath, [join(ROOT, 'scripts', 'package.mjs')], { timeoutMs: 20 * 60_000, cwd: ROOT }).then((r) => {
        lap('npm run package', tp);
        return r;
      }),
      cleanRoot(dir, (m) => t.diagnostic(m)).then(() => lap('clean root ready', tp)),
    ]);
    must('npm run package', pkg);
    const deb = join(ROOT, 'release', `provisiond_${VERSION}_amd64.deb`);
    const bundle = join(ROOT, 'release', `provisiond-${VERSION}-linux-x64.tar.gz`);
    assert.ok(existsSync(deb) && existsSync(bundle), `release/ lacks the .deb or the bundle: ${readdirSync(join(ROOT, 'release')).join(', ')}`);

    // The bundle: production dependencies only, no tests, its own node 24 and the addon built for it.
    const list = must('tar -t of the bundle', runSync('tar', ['-tzf', bundle], 60_000)).split('\n');
    const top = `provisiond-${VERSION}-linux-x64/`;
    for (const f of ['node/bin/node', 'bin/provisiond', 'dist/src/main.js', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'phones/profiles/', 'config/provisiond.example.yaml', 'config/fail2ban/filter.d/provisiond.conf', 'config/logrotate/provisiond', 'systemd/provisiond.service'])
      assert.ok(list.includes(top + f), `the bundle lacks ${f}`);
    for (const bad of ['dist/test/', 'node_modules/typescript/', 'node_modules/fast-check/', 'node_modules/@types/']) assert.ok(!list.some((l) => l.startsWith(top + bad)), `the bundle holds ${bad}`);

    // The .deb's metadata: no dependency on nodejs, the config a conffile.
    const fields = must('dpkg-deb -f', runSync('dpkg-deb', ['-f', deb], 10_000));
    assert.doesNotMatch(fields, /^(Pre-)?Depends:.*node/im);
    const conffiles = must('dpkg-deb --ctrl-tarfile', runSync('sh', ['-c', `dpkg-deb --info "${deb}" conffiles`], 10_000));
    assert.match(conffiles, /^\/etc\/provisiond\/provisiond\.yaml$/m);

    // A clean Debian 12: no node, no compiler.
    const absent = await inRoot(dir, ['sh', '-c', 'for c in node nodejs cc gcc g++ make; do command -v $c; done; true']);
    assert.equal(must('command -v in the clean root', absent).trim(), '', 'the clean root has node or a compiler');
    assert.match(readFileSync(join(dir, 'etc', 'debian_version'), 'utf8'), /^12\./);

    const ti = Date.now();
    writeFileSync(join(dir, 'tmp', 'provisiond.deb'), readFileSync(deb));
    must('dpkg -i', await inRoot(dir, ['dpkg', '-i', '/tmp/provisiond.deb'], 300_000));
    lap('dpkg -i', ti);
    const stat = (p: string): string => must(`stat ${p}`, runSync('chroot', [dir, 'stat', '-c', '%a %U:%G', p], 10_000)).trim();
    assert.equal(stat('/etc/provisiond'), '750 root:provisiond');
    assert.equal(stat('/etc/provisiond/provisiond.yaml'), '640 root:provisiond');
    assert.equal(stat('/var/lib/provisiond'), '750 provisiond:provisiond');
    assert.equal(stat('/var/lib/provisiond/security.log'), '600 provisiond:provisiond'); // fail2ban's jail needs the file
    assert.match(must('getent', runSync('chroot', [dir, 'getent', 'passwd', 'provisiond'], 10_000)), /^provisiond:x:\d+:\d+:.*:\/var\/lib\/provisiond:\/usr\/sbin\/nologin$/m);
    const unit = readFileSync(join(dir, 'lib', 'systemd', 'system', 'provisiond.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/opt\/provisiond\/node\/bin\/node .*\/opt\/provisiond\/dist\/src\/main\.js run /m);
    for (const f of ['usr/lib/sysusers.d/provisiond.conf', 'etc/fail2ban/filter.d/provisiond.conf', 'etc/fail2ban/jail.d/provisiond.conf', 'etc/logrotate.d/provisiond'])
      assert.ok(existsSync(join(dir, f)), `${f} is not installed`);
    assert.equal(must('provisiond --version', await inRoot(dir, ['provisiond', '--version'])).trim(), VERSION);
    assert.match(must('the bundled node', await inRoot(dir, ['/opt/provisiond/node/bin/node', '--version'])), /^v24\./);
    // better-sqlite3 on the bundled node survives statements finalized by GCs run from timers (with
    // 24.19+ headers it aborted: `Assertion failed: (env) != nullptr`; scripts/package.mjs, headersSpec).
    const churn =
      "const D=require('/opt/provisiond/node_modules/better-sqlite3'); const d=new D(':memory:'); let i=0;" +
      "const t=setInterval(()=>{for(let k=0;k<2000;k++) d.prepare('select '+(i++)).get();},1);" +
      "setTimeout(()=>{clearInterval(t); console.log('churned '+i);},3000);";
    assert.match(must('statement churn on the bundled node', await inRoot(dir, ['/opt/provisiond/node/bin/node', '-e', churn], 60_000)), /^churned \d+$/m);
    // The shipped example passes check-config as the daemon's user (the 0640 file is group-readable).
    must('check-config of the shipped file as provisiond', await inRoot(dir, ['runuser', '-u', 'provisiond', '--', 'provisiond', 'check-config', '--config', '/etc/provisiond/provisiond.yaml']));

    // A site config beside it, a store user added by root with the packaged CLI (SQLite on node 24).
    const yaml = [
      'stateDir: /var/lib/provisiond',
      'mdns: {enabled: false}',
      'http: {tls: {cert: /etc/provisiond/tls.crt, key: /etc/provisiond/tls.key}}',
      'provisioning:',
      '  defaultDomain: example.com',
      '  passwords: {scryptCost: 10}',
      '  tenants:',
      '    example.com:',
      '      auth: credentials',
      '      rules:',
      '        - name: pkg',
      '          subject: default',
      '          properties:',
      '            net.java.sip.communicator.packaged: "{{ user.name }}"',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'etc', 'provisiond', 'site.yaml'), yaml);
    must('chown site.yaml', runSync('chroot', [dir, 'sh', '-c', 'chown root:provisiond /etc/provisiond/site.yaml && chmod 0640 /etc/provisiond/site.yaml'], 10_000));
    // TLS as the README says: the key 0640 root:provisiond (readable by the daemon's group only).
    const crt = join(dir, 'etc', 'provisiond', 'tls.crt');
    must('openssl req', runSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'etc', 'provisiond', 'tls.key'), '-out', crt, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], 20_000));
    must('chown the TLS pair', runSync('chroot', [dir, 'sh', '-c', 'chown root:provisiond /etc/provisiond/tls.key /etc/provisiond/tls.crt && chmod 0640 /etc/provisiond/tls.key && chmod 0644 /etc/provisiond/tls.crt'], 10_000));
    assert.equal(stat('/etc/provisiond/tls.key'), '640 root:provisiond');
    // systemd's RuntimeDirectory=provisiond, made as the unit would (0750, the daemon's user).
    must('/run/provisiond', runSync('chroot', [dir, 'sh', '-c', 'mkdir -p /run/provisiond && chown provisiond:provisiond /run/provisiond && chmod 0750 /run/provisiond'], 10_000));
    must('provisiond user add', await inRoot(dir, ['provisiond', 'user', 'add', 'alice@example.com', '--password-stdin', '--config', '/etc/provisiond/site.yaml'], 60_000, `${PASSWORD}\n`));

    // The daemon, as user provisiond, in the chroot, in our namespace (loopback only), its stdout
    // and stderr on a real journald: the host's systemd-journald runs in the daemon's private
    // mount namespace (a tmpfs on /run), systemd-cat connects the daemon to it, and
    // JOURNAL_STREAM names that stream as systemd does for a service (systemd-cat does not set it).
    runSync('ip', ['netns', 'add', ns]);
    must('lo up', runSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']));
    const journaldPidFile = join(dir, 'tmp', 'journald.pid');
    const launch = [
      'set -e',
      'mount -t proc proc "$0/proc"',
      // `ip netns exec` mounted a fresh /sys without cgroups, which journald needs to start.
      'mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup',
      'mount -t tmpfs -o mode=0755 tmpfs /run',
      'mkdir -p /run/systemd/journal',
      `${JOURNALD} </dev/null >/dev/null 2>&1 &`,
      `echo $! > "${journaldPidFile}"`,
      'i=0; while [ ! -S /run/systemd/journal/stdout ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      'exec systemd-cat -t provisiond sh -c \'exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) RUNTIME_DIRECTORY=/run/provisiond chroot --userspec=provisiond:provisiond "$0" /usr/bin/provisiond run --config /etc/provisiond/site.yaml\' "$0"',
    ].join('\n');
    const tr = Date.now();
    daemon = await LineProcess.spawn('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', launch, dir]);
    const started = daemon;
    journaldPid = Number(await waitFor('journald', () => (existsSync(journaldPidFile) ? readFileSync(journaldPidFile, 'utf8').trim() || undefined : undefined), 20_000));
    /** journal runs journalctl in the daemon's mount namespace (where its journald writes). */
    const journal = (...args: string[]): string => must(`journalctl ${args.join(' ')}`, runSync('nsenter', ['-t', String(journaldPid), '-m', 'journalctl', '--no-pager', '-t', 'provisiond', ...args], 20_000));
    await waitFor('provisiond started in the journal', () => (journal('-o', 'cat').includes('provisiond started') ? true : started.running ? undefined : Promise.reject(new Error(`the daemon exited: ${JSON.stringify(started.exit)} ${started.stderr}`))), 60_000, 200);
    lap('daemon start', tr);
    assert.equal(daemon.lines.join('\n'), '', 'the daemon wrote to the test\'s pipe instead of the journal');
    const uid = must('id -u provisiond', runSync('chroot', [dir, 'id', '-u', 'provisiond'], 10_000)).trim();
    const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`, 'm'), `the daemon does not run as provisiond (uid ${uid})`);
    assert.match(readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8'), /^\/opt\/provisiond\/node\/bin\/node\0/);
    // The journal got the message first (what `systemctl status` shows), then the JSON object.
    assert.match(journal('-o', 'cat'), /^provisiond started \{"level":"info"/m);

    // INFORM from outside the chroot, in the namespace: the URL is https now.
    const inform = await run('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'dist', 'test', 'helpers', 'dhcp-ask.js'), '127.0.0.1', '127.0.0.1'], { timeoutMs: 15_000 });
    assert.match(must('DHCPINFORM', inform), /^URL https:\/\/127\.0\.0\.1:8667\/jitsi\?username=\$\{username\}/m);

    // POST /jitsi over TLS (the certificate the daemon read from its 0640 key pair).
    const curl = (data: string, out: string[] = []): Promise<RunResult> =>
      run('ip', ['netns', 'exec', ns, 'curl', '-sS', '-m', '20', '--cacert', crt, '-A', 'Jitsi/2.10.5550', ...out, '-w', '\n%{http_code}', '--data', data, 'https://127.0.0.1:8667/jitsi'], { timeoutMs: 30_000 });
    const body = `user=alice%40example.com&password=${encodeURIComponent(PASSWORD)}&os=Linux&uuid=0f8fad5b-d9cb-469f-a165-70867728950e`;
    const post = must('curl POST', await curl(body));
    assert.match(post, /\n200$/, post);
    assert.match(post, /^net\.java\.sip\.communicator\.packaged=alice$/m, post);
    const code = async (data: string): Promise<string> => must('curl POST', await curl(data, ['-o', '/dev/null'])).trim();
    assert.equal(await code('user=alice%40example.com&password=nope&os=Linux'), '401');

    // Bans on the running daemon: 9 more wrong passwords for alice (10 in 60 s) ban the user; 9
    // other users' failures (a user counts once against an address) ban the address. The right
    // password then gets 429 until `bans lift` (root, over /run/provisiond/control.sock).
    for (let i = 0; i < 9; i++) await code('user=alice%40example.com&password=nope&os=Linux');
    for (let i = 1; i <= 9; i++) await code(`user=guess${i}%40example.com&password=nope&os=Linux`);
    assert.equal(await code(body), '429', 'the right password is served while banned');
    const bans = must('provisiond bans list', await inRoot(dir, ['provisiond', 'bans', 'list', '--json', '--config', '/etc/provisiond/site.yaml'], 30_000));
    const listed = (JSON.parse(bans) as { face: string; scope: string; subject: string }[]).map((b) => `${b.face} ${b.scope} ${b.subject}`).sort();
    assert.deepEqual(listed, ['http ip 127.0.0.1', 'http user alice@example.com'], bans);
    must('bans lift 127.0.0.1', await inRoot(dir, ['provisiond', 'bans', 'lift', '127.0.0.1', '--config', '/etc/provisiond/site.yaml'], 30_000));
    must('bans lift alice', await inRoot(dir, ['provisiond', 'bans', 'lift', 'alice@example.com', '--config', '/etc/provisiond/site.yaml'], 30_000));
    assert.equal(await code(body), '200', 'still refused after bans lift');
    assert.match(journal('-p', 'warning', '-o', 'cat'), /^address banned /m);

    // A reload the daemon rejects (every tenant removed): `provisiond reload` exits non-zero with the
    // daemon's reason, the daemon keeps serving, and `journalctl -p err` shows the rejection.
    const site = join(dir, 'etc', 'provisiond', 'site.yaml');
    const good = readFileSync(site, 'utf8');
    writeFileSync(site, good.slice(0, good.indexOf('  tenants:')));
    const rejected = await inRoot(dir, ['provisiond', 'reload', '--config', '/etc/provisiond/site.yaml'], 120_000);
    assert.notEqual(rejected.code, 0, `provisiond reload accepted a file without tenants:\n${rejected.stdout}${rejected.stderr}`);
    assert.match(rejected.stderr + rejected.stdout, /tenant/i);
    assert.match(journal('-p', 'err', '-o', 'cat'), /^reload rejected; still serving the previous configuration \{"level":"error"/m);
    assert.doesNotMatch(journal('-p', 'err', '-o', 'cat'), /provisiond started/, 'journalctl -p err shows info lines');
    assert.equal(await code(body), '200', 'the previous configuration is no longer served');
    // A file that does not even validate: refused by the command itself (exit 1), every problem named.
    writeFileSync(site, `${good}dhcp: {prot: 1}\n`);
    const invalid = await inRoot(dir, ['provisiond', 'reload', '--config', '/etc/provisiond/site.yaml'], 60_000);
    assert.equal(invalid.code, 1, `${invalid.stdout}${invalid.stderr}`);
    assert.match(invalid.stderr + invalid.stdout, /dhcp\.prot/);
    writeFileSync(site, good);
    must('provisiond reload (the good file again)', await inRoot(dir, ['provisiond', 'reload', '--config', '/etc/provisiond/site.yaml'], 120_000));

    await daemon.stop(8000);
    assert.equal(daemon.exit?.code, 0, `the daemon's exit: ${JSON.stringify(daemon.exit)}\n${daemon.stderr}`);
    // The store and the event log belong to the daemon's user.
    const state = readdirSync(join(dir, 'var', 'lib', 'provisiond'));
    assert.ok(state.some((f) => f.endsWith('.sqlite')), `no store in /var/lib/provisiond: ${state.join(', ')}`);
    for (const f of state) assert.match(stat(`/var/lib/provisiond/${f}`), / provisiond:provisiond$/, f);

    // Remove: the files go, the state and the config stay; purge: the config goes, the state stays.
    must('dpkg -r', await inRoot(dir, ['dpkg', '-r', 'provisiond'], 120_000));
    for (const gone of ['opt/provisiond', 'usr/bin/provisiond', 'lib/systemd/system/provisiond.service']) assert.ok(!existsSync(join(dir, gone)), `${gone} is left after dpkg -r`);
    assert.ok(existsSync(join(dir, 'etc', 'provisiond', 'provisiond.yaml')), 'dpkg -r removed the conffile');
    assert.ok(statSync(join(dir, 'var', 'lib', 'provisiond')).isDirectory());
    assert.deepEqual(readdirSync(join(dir, 'var', 'lib', 'provisiond')).sort(), [...state].sort());
    must('dpkg --purge', await inRoot(dir, ['dpkg', '--purge', 'provisiond'], 120_000));
    assert.ok(!existsSync(join(dir, 'etc', 'provisiond')), '/etc/provisiond is left after purge');
    assert.ok(existsSync(join(dir, 'var', 'lib', 'provisiond')), 'purge removed /var/lib/provisiond');
  } finally {
    if (daemon?.running) {
      killPid(daemon.pid, 'SIGKILL');
      await daemon.waitForExit(5000);
    }
    if (journaldPid > 0) killPid(journaldPid, 'SIGKILL');
    runSync('ip', ['netns', 'delete', ns]);
    rmSync(dir, { recursive: true, force: true });
    lap('total', t0);
    t.diagnostic(`times: ${times.join('; ')}`);
  }
});
