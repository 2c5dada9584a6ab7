/**
 * Issue 10, defects 6, 13 and 18b-d: provisioning keys kept in `urlKey` across `key rotate`,
 * reload refusals (empty file, every tenant removed), EPIPE on a closed stdout, the executable
 * bin, and check-config's host and template checks. Everything runs the built executable.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, startDaemon, cliWithInput as cli, logLines, type Running } from './helpers/daemon';
import { BODY_HEAD, DOC_PASSWORD, hashPassword, provisioningYaml } from './helpers/prov';
import { openSqliteStore } from '../src/store/sqlite';
import { makeCert, opensslMissing } from './helpers/tls';
import { NetnsLab, netnsSkipReason } from './helpers/netns';

const dir = mkdtempSync(join(tmpdir(), 'provisiond-cfgcli-'));
after(() => rmSync(dir, { recursive: true, force: true }));


function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** post sends a form to the daemon on loopback and resolves with the status. */
function post(port: number, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}


describe('defect 18c: the built bin is executable', () => {
  test('dist/src/main.js has the exec bit and a node shebang, and runs --version directly', async () => {
    const mode = statSync(MAIN).mode;
    assert.ok((mode & 0o111) !== 0, `mode is ${(mode & 0o777).toString(8)}`);
    assert.match(readFileSync(MAIN, 'utf8').split('\n')[0] ?? '', /^#!\/usr\/bin\/env node$/);
    const r = spawnSync(MAIN, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});

describe('defect 18b: a closed stdout pipe (| head) ends a command quietly', () => {
  let conf: string;
  before(async () => {
    const state = join(dir, 'epipe-state');
    conf = file('epipe.yaml', `stateDir: ${state}\n`);
    const s = openSqliteStore(state);
    const at = new Date().toISOString();
    for (let i = 0; i < 3000; i++) {
      await s.devices.upsert({ key: `uuid:device-${i}`, uuid: `device-${i}`, hwaddr: null, ip: '10.0.0.1', hostname: `host-${i}`, osname: 'Linux', arch: 'amd64', build: '2.10.5550', userAgent: 'Jitsi/2.10.5550', username: null, tenant: 'localdomain', outcome: '200 ok', at });
    }
    s.close();
  });

  for (const args of [['devices', 'list'], ['devices', 'list', '--json']]) {
    test(`provisiond ${args.join(' ')} | head -n 1: exit 0, no stack trace`, async () => {
      // head exits after one line; the daemon's further writes meet a closed pipe (EPIPE).
      const sh = `"${process.execPath}" "${MAIN}" ${args.join(' ')} --config "${conf}" | head -n 1; echo "status=\${PIPESTATUS[0]}" >&2`;
      const r = spawnSync('bash', ['-c', sh], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split('\n').filter(Boolean).length, 1);
      assert.doesNotMatch(r.stderr, /EPIPE|Error|at /, r.stderr);
      assert.match(r.stderr, /status=0\n/);
    });
  }
});

describe('defect 13: an empty configuration file, or one with no tenant, is refused', () => {
  // An accepted empty file means the embedded defaults: DHCP and mDNS on every interface. The
  // daemon therefore runs in a network namespace this test creates (only its loopback), and curl
  // runs there too.
  const skip = netnsSkipReason();
  const lab = new NetnsLab('pvcfg');
  let ns = '';
  let hashes: { alice: string; bob: string };
  before(async () => {
    hashes = { alice: await hashPassword(DOC_PASSWORD, 10), bob: await hashPassword('bob pw', 10) };
    if (!skip) ns = lab.addNamespace('a');
  });
  after(async () => {
    if (!skip) await lab.destroy();
  });

  /** curlStatus POSTs a form with curl inside the namespace and returns the HTTP status. */
  async function curlStatus(port: number, path: string, body: string): Promise<number> {
    const r = await lab.exec(ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '-H', 'User-Agent: Jitsi/2.10.5550', '--data-binary', body, `http://127.0.0.1:${port}${path}`], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    return Number(r.stdout);
  }

  test('at start and in check-config, an empty or comment-only file exits 1 naming the problem', { skip }, async () => {
    for (const [name, text] of [['empty.yaml', ''], ['comments.yaml', '# provisiond\n\n   # nothing here\n'], ['blank.yaml', '\n  \n'], ['null.yaml', '~\n']] as const) {
      const p = file(name, text);
      const check = await cli(['check-config', '--config', p]);
      assert.equal(check.code, 1, `${name}: ${check.stdout}${check.stderr}`);
      assert.match(check.stderr, /is empty.*\[PROVD_ERR_CONFIG_INVALID\]/);
      const run = await lab.exec(ns, process.execPath, [MAIN, 'run', '--config', p], { timeoutMs: 20_000 });
      assert.equal(run.code, 1, `${name}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /is empty.*\[PROVD_ERR_CONFIG_INVALID\]/);
    }
    const explicit = await cli(['check-config', '--config', file('braces.yaml', '{}\n')]);
    assert.equal(explicit.code, 0, explicit.stderr);
  });

  test('SIGHUP with an empty file, a comment-only file or a file without tenants is refused; the old configuration keeps serving', { skip, timeout: 60_000 }, async () => {
    const state = join(dir, 'hup-state');
    const base = `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${state}\nhttp: {host: 127.0.0.1, port: 0}\n`;
    const cfgPath = file('hup.yaml', `${base}${provisioningYaml(hashes)}`);
    const d = startDaemon(['run', '--config', cfgPath], ['ip', 'netns', 'exec', ns]);
    try {
      const serving = await d.waitForLog('HTTP face serving');
      const port = Number(serving['port']);
      assert.equal(await curlStatus(port, '/jitsi', BODY_HEAD), 200);
      const refusals = (): Record<string, unknown>[] => logLines(d).filter((l) => l['msg'] === 'reload rejected; still serving the previous configuration');
      const steps: [string, RegExp][] = [
        ['', /is empty/],
        ['# all commented out\n#provisioning:\n#  tenants: {}\n', /is empty/],
        [`${base}provisioning: {tenants: {}}\n`, /removes every tenant/],
      ];
      for (const [i, [text, why]] of steps.entries()) {
        writeFileSync(cfgPath, text);
        d.child.kill('SIGHUP');
        for (let n = 0; n < 200 && refusals().length <= i; n++) await new Promise((r) => setTimeout(r, 50));
        const line = refusals()[i];
        assert.ok(line, `reload ${i} was not refused; log:\n${d.stdout()}`);
        assert.equal(line['level'], 'error');
        assert.equal(line['code'], 'PROVD_ERR_CONFIG_INVALID');
        assert.match(String(line['err']), why);
        assert.equal(await curlStatus(port, '/jitsi', BODY_HEAD), 200, `reload ${i}: the previous tenants still answer`);
      }
      assert.ok(!logLines(d).some((l) => l['msg'] === 'configuration reloaded'));
      // Forced: provisioning.allowNoTenants lets a reload remove every tenant.
      writeFileSync(cfgPath, `${base}provisioning: {allowNoTenants: true, tenants: {}}\n`);
      d.child.kill('SIGHUP');
      await d.waitForLog('configuration reloaded');
      assert.equal(await curlStatus(port, '/jitsi', BODY_HEAD), 404);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});

describe('defect 6: key rotate and a key kept in urlKey', () => {
  test('rotate prints the exact urlKey line; the rotated-out urlKey stops opening the tenant; start, reload, check-config and key list warn', { timeout: 90_000 }, async () => {
    const state = join(dir, 'key-state');
    const base = `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${state}\nhttp: {host: 127.0.0.1, port: 0}\nprovisioning:\n  keyGracePeriod: 0\n  tenants:\n    a.example:\n      auth: url_key\n      rules: [{subject: default, properties: {k.who: A}}]\n`;
    const cfgPath = file('keys.yaml', base);
    const r1 = await cli(['key', 'rotate', '--tenant', 'a.example', '--config', cfgPath]);
    assert.equal(r1.code, 0, r1.stderr);
    const k1 = r1.stdout.split('\n')[0] ?? '';
    assert.match(k1, /^[A-Za-z0-9_-]{32}$/);
    // The exact line to put in the file.
    assert.match(r1.stderr, new RegExp(`provisioning\\.tenants\\.a\\.example\\.urlKey: ${k1}\\n`));
    writeFileSync(cfgPath, `${base}      urlKey: ${k1}\n`);
    const ok = await cli(['check-config', '--config', cfgPath]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /urlKey/);
    const l1 = await cli(['key', 'list', '--config', cfgPath]);
    assert.equal(l1.code, 0, l1.stderr);
    assert.doesNotMatch(l1.stderr, /warning/);

    // Rotate with the configured urlKey = the current key: the output says the old urlKey keeps
    // working only for the grace period, and which line to change.
    const r2 = await cli(['key', 'rotate', '--tenant', 'a.example', '--config', cfgPath]);
    assert.equal(r2.code, 0, r2.stderr);
    const k2 = r2.stdout.split('\n')[0] ?? '';
    assert.notEqual(k2, k1);
    assert.match(r2.stderr, new RegExp(`provisioning\\.tenants\\.a\\.example\\.urlKey: ${k2}\\n`));
    assert.match(r2.stderr, /configured urlKey of a\.example .*until/);
    const l2 = await cli(['key', 'list', '--config', cfgPath, '--json']);
    assert.equal(l2.code, 0, l2.stderr);
    const rows = JSON.parse(l2.stdout) as { tenant: string; state: string; urlKey?: boolean }[];
    assert.deepEqual(rows.map((r) => `${r.state}${r.urlKey ? ' urlKey' : ''}`).sort(), ['current', 'expired urlKey']);
    assert.match(l2.stderr, /warning: provisioning\.tenants\.a\.example\.urlKey is an expired key/);
    assert.ok(!l2.stdout.includes(k1) && !l2.stdout.includes(k2) && !l2.stderr.includes(k1) && !l2.stderr.includes(k2), 'key list never shows a key');
    const warnCheck = await cli(['check-config', '--config', cfgPath]);
    assert.equal(warnCheck.code, 0, warnCheck.stderr);
    assert.match(warnCheck.stderr, /warning: provisioning\.tenants\.a\.example\.urlKey is an expired key/);

    // The daemon warns at start, refuses the expired urlKey, and accepts the current key.
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      const serving = await d.waitForLog('HTTP face serving');
      const port = Number(serving['port']);
      const warned = await d.waitForLog(/urlKey/);
      assert.equal(warned['level'], 'error');
      assert.equal(warned['tenant'], 'a.example');
      assert.equal(await post(port, `/${k1}/jitsi`, 'x=1'), 404, 'a rotated-out key in urlKey no longer opens the tenant');
      assert.equal(await post(port, `/${k2}/jitsi`, 'x=1'), 200);
      // Fixed and reloaded: the warning goes; a reload back to the stale key warns again.
      writeFileSync(cfgPath, `${base}      urlKey: ${k2}\n`);
      d.child.kill('SIGHUP');
      await d.waitForLog('configuration reloaded');
      const before = logLines(d).filter((l) => /urlKey/.test(String(l['msg']))).length;
      writeFileSync(cfgPath, `${base}      urlKey: ${k1}\n`);
      d.child.kill('SIGHUP');
      // The finding is logged after the 'configuration reloaded' line (the store is read then), and
      // may reach stdout in a later chunk: wait for the reload, then for the line (bounded).
      const urlKeyLines = (): number => logLines(d).filter((l) => /urlKey/.test(String(l['msg']))).length;
      for (let n = 0; n < 200 && logLines(d).filter((l) => l['msg'] === 'configuration reloaded').length < 2; n++) await new Promise((r) => setTimeout(r, 50));
      for (let n = 0; n < 200 && urlKeyLines() < before + 1; n++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // and no second one
      assert.equal(urlKeyLines(), before + 1, d.stdout());
      assert.ok(!d.stdout().includes(k1) && !d.stdout().includes(k2), 'no key in the log');
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });

  test('a hand-made urlKey is revoked by the first rotation after the grace period, not kept forever', { timeout: 60_000 }, async () => {
    const state = join(dir, 'key-state-2');
    const mine = 'MyOwnHandMadeKey_0123456789abcdef';
    const cfgPath = file('keys2.yaml', `dhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${state}\nhttp: {host: 127.0.0.1, port: 0}\nprovisioning:\n  keyGracePeriod: 0\n  tenants:\n    b.example:\n      auth: url_key\n      urlKey: ${mine}\n      rules: [{subject: default, properties: {k.who: B}}]\n`);
    const r = await cli(['key', 'rotate', '--tenant', 'b.example', '--config', cfgPath]);
    assert.equal(r.code, 0, r.stderr);
    const k = r.stdout.split('\n')[0] ?? '';
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      const port = Number((await d.waitForLog('HTTP face serving'))['port']);
      assert.equal(await post(port, `/${mine}/jitsi`, 'x=1'), 404);
      assert.equal(await post(port, `/${k}/jitsi`, 'x=1'), 200);
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});

describe('defect 18d: check-config checks TLS files, interfaces and template variables', () => {
  test('a missing TLS file and an unknown interface are warnings (exit 0)', async () => {
    const p = file('host.yaml', `dhcp: {interfaces: [nosuchif0]}\nmdns: {enabled: false}\nhttp: {tls: {cert: ${join(dir, 'missing.crt')}, key: ${join(dir, 'missing.key')}}}\n`);
    const r = await cli(['check-config', '--config', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*dhcp\.interfaces.*nosuchif0.*does not exist on this host/);
    assert.match(r.stderr, /warning: .*http\.tls.*missing\.crt/);
    assert.match(r.stdout, /valid/);
  });

  test('a mismatched TLS pair is a warning', { skip: opensslMissing() }, async () => {
    const a = makeCert(dir, 'pa', 'a.example');
    const b = makeCert(dir, 'pb', 'b.example');
    const p = file('pair.yaml', `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {tls: {cert: ${a.cert}, key: ${b.key}}}\n`);
    const r = await cli(['check-config', '--config', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*not a usable pair/);
    const good = file('goodpair.yaml', `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {tls: {cert: ${a.cert}, key: ${a.key}}}\n`);
    const g = await cli(['check-config', '--config', good]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stderr, '');
  });

  test('an mdns interface that does not exist is a warning', async () => {
    const p = file('mif.yaml', `dhcp: {enabled: false, interfaces: [lo]}\nmdns: {enabled: true, interfaces: [nosuchif1]}\nhttp: {port: 8667}\n`);
    const r = await cli(['check-config', '--config', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*mdns\.interfaces.*nosuchif1/);
  });

  test('a template variable that does not exist is an error (exit 1) naming the rule and property', async () => {
    const bad = file(
      'tpl.yaml',
      `dhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning:\n  rules:\n    - name: top\n      subject: default\n      properties:\n        a.x: "{{ usr.name }}"\n        a.y: "{{ device.serial }}"\n  tenants:\n    a.example:\n      rules:\n        - name: r1\n          subject: default\n          properties:\n            a.z: "{% if client.agent %}{{ tenant.domian }}{% endif %}"\n`,
    );
    const r = await cli(['check-config', '--config', bad]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /provisioning\.rules\[0\]\.properties\.a\.x.*'usr'/);
    assert.match(r.stderr, /provisioning\.rules\[0\]\.properties\.a\.y.*'device\.serial'/);
    assert.match(r.stderr, /provisioning\.tenants\.a\.example\.rules\[0\]\.properties\.a\.z.*'client\.agent'/);
    assert.match(r.stderr, /'tenant\.domian'/);
    const good = file(
      'tplok.yaml',
      `dhcp: {enabled: false}\nmdns: {enabled: false}\nprovisioning:\n  rules:\n    - subject: default\n      properties:\n        a.x: "{{ user.name if user else 'anon' }} {{ params.whatever | default('') }} {{ user.attributes.ext | default('') }}"\n        a.y: "{% set n = device.osname | default('?') %}{{ n }}{% for p in ['a', 'b'] %}{{ p }}{{ loop.index }}{% endfor %} {{ client.version }} {{ tenant.attributes.x }}"\n        a.z: "{{ device.key }} {{ device.uuid }} {{ device.hwaddr }} {{ device.hostname }} {{ device.arch }} {{ device.build }} {{ device.ipaddr }} {{ client.ip }} {{ client.userAgent }} {{ client.product }} {{ user.id }} {{ user.domain }} {{ tenant.domain }}"\n`,
    );
    const g = await cli(['check-config', '--config', good]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stderr, '');
  });

  test('the shipped example passes check-config without an error', async () => {
    const r = await cli(['check-config', '--config', join(__dirname, '..', '..', 'config', 'provisiond.example.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /error/);
  });
});
