/**
 * Issue 12: the `phones` configuration section and the profiles it loads, through the built
 * executable (check-config, `phones profiles`, the daemon's SIGHUP) and the loader itself.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, startDaemon, cliWithInput as cli, logLines } from './helpers/daemon';
import { defaultConfig, loadConfigFile } from '../src/config/load';
import { isProvError } from '../src/errors';

const dir = mkdtempSync(join(tmpdir(), 'provisiond-phones-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SHIPPED = join(MAIN, '..', '..', '..', 'phones', 'profiles');
const FANVIL = readFileSync(join(SHIPPED, 'fanvil', 'profile.yaml'), 'utf8');
/** BROKEN is the shipped Fanvil profile with an unknown key on line 5 (after `vendor:` on line 4). */
const BROKEN = FANVIL.replace(/^(vendor: fanvil\n)/m, "$1ouiz: ['00:11:22']\n");
const BROKEN_LINE = FANVIL.split('\n').findIndex((l) => l === 'vendor: fanvil') + 2;

function file(path: string, text: string): string {
  const p = join(dir, path);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

/** site writes a site profiles folder under `name` holding a fanvil profile with `text`. */
function site(name: string, text: string): string {
  file(join(name, 'fanvil', 'profile.yaml'), text);
  return join(dir, name);
}

describe('phones section: defaults and paths', () => {
  test('the defaults change nothing: disabled, autoprovision off, no site folders', () => {
    const c = defaultConfig({ env: {}, cwd: '/srv' });
    assert.deepEqual({ ...c.phones }, { enabled: false, autoprovision: 'off', natMode: false, passwordWindow: 30, uploads: 'discard', maxUploadBytes: 1 << 20, configs: [], devices: [], resync: { via: 'direct' } });
  });

  test('relative profilesDir and templatesDir are resolved against the configuration file\'s folder', () => {
    const p = file(join('rel', 'conf', 'p.yaml'), 'phones: {profilesDir: site, templatesDir: ../tpl}\n');
    const c = loadConfigFile(p, { env: {}, cwd: '/elsewhere' });
    assert.equal(c.phones.profilesDir, join(dir, 'rel', 'conf', 'site'));
    assert.equal(c.phones.templatesDir, join(dir, 'rel', 'tpl'));
    const abs = loadConfigFile(file('abs.yaml', 'phones: {profilesDir: /opt/p}\n'), { env: {} });
    assert.equal(abs.phones.profilesDir, '/opt/p');
  });

  const refused: [string, RegExp][] = [
    ['phones: {autoprovision: some}\n', /phones\.autoprovision/],
    ['phones: {passwordWindow: -1}\n', /phones\.passwordWindow/],
    ['phones: {natmode: true}\n', /unknown key 'natmode'; did you mean 'natMode'/],
    ['phones: {profilesDir: ""}\n', /phones\.profilesDir/],
  ];
  for (const [text, why] of refused) {
    test(`refused: ${text.trim()}`, () => {
      assert.throws(() => loadConfigFile(file('bad.yaml', text), { env: {} }), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_CONFIG_INVALID' && e.details.some((d) => why.test(d)));
    });
  }

  test('a broken site profile is a configuration problem only while phones.enabled is true', () => {
    const s = site('loader-site', BROKEN);
    const off = loadConfigFile(file('loader-off.yaml', `phones: {profilesDir: ${s}}\n`), { env: {} });
    assert.equal(off.phones.enabled, false);
    assert.throws(
      () => loadConfigFile(file('loader-on.yaml', `phones: {enabled: true, profilesDir: ${s}}\n`), { env: {} }),
      (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_CONFIG_INVALID' && e.details.length === 1 && e.details[0]?.startsWith(`${join(s, 'fanvil', 'profile.yaml')}:${BROKEN_LINE}:`) === true,
    );
  });
});

describe('phones through the executable', () => {
  test('check-config: a bad site profile exits 1 naming its file:line; a good one passes', async () => {
    const s = site('cc-site', BROKEN);
    const bad = await cli(['check-config', '--config', file('cc-bad.yaml', `phones: {enabled: true, profilesDir: ${s}}\n`)]);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /phone profile problem.*\[PROVD_ERR_CONFIG_INVALID\]/);
    assert.ok(bad.stderr.includes(`${join(s, 'fanvil', 'profile.yaml')}:${BROKEN_LINE}:`), bad.stderr);
    assert.match(bad.stderr, /unknown key 'ouiz'/);
    const good = await cli(['check-config', '--config', file('cc-good.yaml', `phones: {enabled: true, profilesDir: ${site('cc-good-site', FANVIL)}}\n`)]);
    assert.equal(good.code, 0, good.stderr);
    // A site folder that does not exist is no problem (it is optional).
    const none = await cli(['check-config', '--config', file('cc-none.yaml', 'phones: {enabled: true, profilesDir: nowhere}\n')]);
    assert.equal(none.code, 0, none.stderr);
  });

  test('run: a bad site profile exits 1 at start naming its file:line', async () => {
    const s = site('run-site', BROKEN);
    const d = startDaemon(['run', '--config', file('run-bad.yaml', `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'run-state')}\nphones: {enabled: true, profilesDir: ${s}}\n`)]);
    assert.equal(await d.exited, 1);
    assert.ok(d.stderr().includes(`${join(s, 'fanvil', 'profile.yaml')}:${BROKEN_LINE}:`), d.stderr());
  });

  test('phones profiles lists the 7 shipped profiles, and a site override as site', async () => {
    const plain = await cli(['phones', 'profiles']);
    assert.equal(plain.code, 0, plain.stderr);
    const lines = plain.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^VENDOR\s+FAMILY\s+MODELS\s+SOURCE\s+FILE$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['cisco-spa', 'fanvil', 'gigaset', 'grandstream', 'polycom', 'snom', 'yealink']);
    assert.ok(lines.slice(1).every((l) => /\s\d+\s+shipped\s/.test(l)), plain.stdout);

    const override = FANVIL.replace(/^family: .*$/m, 'family: Our Fanvils').replace(/^models:\n/m, 'models:\n  ZZ9:\n');
    const s = site('list-site', override);
    const conf = file('list.yaml', `phones: {profilesDir: ${s}}\n`);
    const r = await cli(['phones', 'profiles', '--config', conf, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { enabled: boolean; siteDir: string; profiles: { vendor: string; family: string; models: number; source: string; file: string }[]; problems: string[] };
    assert.equal(j.enabled, false);
    assert.equal(j.siteDir, s);
    assert.equal(j.profiles.length, 7);
    assert.deepEqual(j.problems, []);
    const fanvil = j.profiles.find((p) => p.vendor === 'fanvil');
    const shippedModels = (JSON.parse((await cli(['phones', 'profiles', '--json'])).stdout) as typeof j).profiles.find((p) => p.vendor === 'fanvil')?.models ?? 0;
    assert.deepEqual(fanvil, { vendor: 'fanvil', family: 'Our Fanvils', models: shippedModels + 1, source: 'site', file: join(s, 'fanvil', 'profile.yaml') });
    assert.ok(j.profiles.filter((p) => p.vendor !== 'fanvil').every((p) => p.source === 'shipped' && p.file.startsWith(SHIPPED)));
  });

  test('phones profiles with a broken site profile: the others listed, the problem with file:line, exit 1', async () => {
    const s = site('list-bad-site', BROKEN);
    const r = await cli(['phones', 'profiles', '--config', file('list-bad.yaml', `phones: {profilesDir: ${s}}\n`)]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1 + 6, r.stdout);
    assert.doesNotMatch(r.stdout, /^fanvil/m);
    assert.ok(r.stderr.includes(`${join(s, 'fanvil', 'profile.yaml')}:${BROKEN_LINE}:`), r.stderr);
    assert.match(r.stderr, /\[PROVD_ERR_CONFIG_INVALID\]/);
  });

  test('SIGHUP with a broken site profile is refused and the old configuration kept; fixed, it applies', { timeout: 60_000 }, async () => {
    const s = site('hup-site', FANVIL);
    const base = `dhcp: {enabled: false}\nmdns: {enabled: false}\nhttp: {host: 127.0.0.1, port: 0}\nstateDir: ${join(dir, 'hup-state')}\nphones: {enabled: true, profilesDir: ${s}}\n`;
    const cfgPath = file('hup.yaml', base);
    const d = startDaemon(['run', '--config', cfgPath]);
    try {
      await d.waitForLog('provisiond started');
      writeFileSync(join(s, 'fanvil', 'profile.yaml'), BROKEN);
      writeFileSync(cfgPath, `${base}log: {level: debug}\n`);
      d.child.kill('SIGHUP');
      const rejected = await d.waitForLog('reload rejected; still serving the previous configuration');
      assert.equal(rejected['code'], 'PROVD_ERR_CONFIG_INVALID');
      assert.equal(rejected['problems'], 1);
      const problem = logLines(d).find((l) => l['msg'] === 'configuration problem');
      assert.ok(String(problem?.['problem']).includes(`${join(s, 'fanvil', 'profile.yaml')}:${BROKEN_LINE}:`), d.stdout());
      assert.ok(!logLines(d).some((l) => l['msg'] === 'configuration reloaded'));
      assert.equal(d.child.exitCode, null, 'the daemon keeps running on the old configuration');
      writeFileSync(join(s, 'fanvil', 'profile.yaml'), FANVIL);
      d.child.kill('SIGHUP');
      await d.waitForLog('configuration reloaded');
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    } finally {
      if (d.child.exitCode === null) d.child.kill('SIGKILL');
    }
  });
});
