import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfigText, loadConfigFile, defaultConfig, suggest } from '../src/config/load';
import { ProvError } from '../src/errors';
import { configProblems } from './helpers/config';

const ROOT = join(__dirname, '..', '..');

function problems(yaml: string): string[] {
  const found = configProblems(yaml);
  assert.ok(found.length > 0, 'expected the configuration to be rejected');
  return found;
}

describe('configuration', () => {
  test('embedded defaults carry the public contract values', () => {
    const c = defaultConfig({ env: {}, cwd: '/srv' });
    assert.equal(c.dhcp.enabled, true);
    assert.equal(c.dhcp.port, 6767);
    assert.equal(c.dhcp.replyPort, 6768);
    assert.deepEqual(c.dhcp.interfaces, []);
    assert.equal(c.dhcp.url, undefined);
    assert.deepEqual(c.dhcp.networks, []);
    assert.equal(c.http.host, '0.0.0.0');
    assert.equal(c.mdns.enabled, true);
    assert.equal(c.log.level, 'info');
    assert.equal(c.stateDir, '/srv/state');
  });

  test('stateDir follows systemd STATE_DIRECTORY when not configured', () => {
    assert.equal(defaultConfig({ env: { STATE_DIRECTORY: '/var/lib/provisiond' } }).stateDir, '/var/lib/provisiond');
  });

  test('the result is deeply frozen', () => {
    const c = parseConfigText('dhcp:\n  networks:\n    - { subnet: 10.0.0.0/8, url: "http://a/b" }\n', 'c.yaml');
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.dhcp));
    assert.ok(Object.isFrozen(c.dhcp.networks));
    assert.ok(Object.isFrozen(c.dhcp.networks[0]));
    assert.throws(() => {
      (c.dhcp as { port: number }).port = 1;
    });
  });

  test('config/provisiond.example.yaml is valid and sets every documented key', () => {
    const c = loadConfigFile(join(ROOT, 'config', 'provisiond.example.yaml'));
    assert.equal(c.dhcp.networks.length, 2);
    assert.equal(c.stateDir, '/var/lib/provisiond');
    assert.equal(c.http.enabled, true);
    assert.equal(c.http.tls, undefined);
    const p = c.provisioning;
    assert.deepEqual(Object.keys(p.tenants), ['example.org']);
    const t = p.tenants['example.org'];
    assert.deepEqual(Object.keys(t?.users ?? {}), ['alice', 'bob']);
    assert.ok((t?.rules.length ?? 0) >= 3, 'accounts, a per-user and a per-MAC rule');
    assert.ok(t?.rules.some((r) => r.subject !== 'default' && r.subject['hwaddr'] !== undefined));
    assert.ok(p.allowPrefix.length > 0 && p.wipe.length > 0 && p.enforcePrefix.length > 0);
  });

  test('HTTP and provisioning defaults', () => {
    const c = defaultConfig({ env: {}, cwd: '/srv' });
    assert.equal(c.http.enabled, true);
    assert.equal(c.http.port, 8667);
    assert.equal(c.http.bodyLimit, 16384);
    assert.equal(c.provisioning.defaultDomain, 'localdomain');
    assert.equal(c.provisioning.passwords.scryptCost, 15);
    assert.deepEqual(c.provisioning.tenants, {});
  });

  test('a template syntax error fails the load with the file, the line and the template position', () => {
    const yaml = [
      'provisioning:',
      '  tenants:',
      '    t.example:',
      '      rules:',
      '        - subject: default',
      '          properties:',
      '            k.good: "{{ user.name }}"',
      '            k.bad: "{{ user.name "',
      '            k.block: |',
      '              line one',
      '              {% if user %}never closed',
    ].join('\n');
    const p = problems(yaml);
    assert.equal(p.length, 2, p.join('\n'));
    assert.match(p[0] ?? '', /^c\.yaml:8:20: provisioning\.tenants\.t\.example\.rules\[0\]\.properties\.k\.bad: template syntax error/);
    assert.match(p[1] ?? '', /^c\.yaml:9:22: .*k\.block: template syntax error/);
    // nunjucks knows the line inside the template when it can
    assert.match(problems('provisioning:\n  rules:\n    - subject: default\n      properties:\n        k: "a\\n{% if %}"\n')[0] ?? '', /at line 2, column \d+ of the template/);
  });

  test('provisioning rules are checked against the Jitsi directives', () => {
    const base = (props: string, extra = ''): string =>
      `provisioning:\n  allowPrefix: [net.java]\n  wipe: [net.java.x]\n  enforcePrefix: [net.java]\n${extra}  tenants:\n    t.example:\n      rules:\n        - subject: default\n          properties: {${props}}\n`;
    assert.match(problems(base('org.other.k: v'))[0] ?? '', /is not covered by allowPrefix of tenant t\.example/);
    assert.match(problems(base('net.java.x: v'))[0] ?? '', /equals a wipe prefix/);
    assert.match(problems(base('provisioning.ALLOW_PREFIX: v'))[0] ?? '', /Jitsi directive/);
    assert.match(problems(base('net.java.k: v').replace('enforcePrefix: [net.java]', 'enforcePrefix: [net.java.y]'))[0] ?? '', /not covered by enforcePrefix/);
    assert.match(problems(base('net.java.k: v').replace('allowPrefix: [net.java]', 'allowPrefix: ["a|b"]')).join(), /must not contain '\|'/);
    assert.equal(parseConfigText(base('net.java.k: v'), 'c.yaml').provisioning.rules.length, 0);
  });

  test('users: stored password forms, case-insensitive names, domains', () => {
    const u = (name: string, pw: string): string => `provisioning:\n  tenants:\n    t.example:\n      users:\n        ${name}: {password: "${pw}"}\n`;
    assert.match(problems(u('alice', 'secret'))[0] ?? '', /users\.alice\.password: must be/);
    assert.match(problems(u('alice', 'md5:zz'))[0] ?? '', /32 hex digits/);
    assert.match(problems(`${u('alice', 'plain:a')}        Alice: {password: "plain:b"}\n`)[0] ?? '', /case-insensitive/);
    assert.match(problems('provisioning:\n  tenants:\n    Example.ORG: {}\n')[0] ?? '', /lowercase domain name/);
  });

  test('http: plainPort needs tls; tls needs both files', () => {
    assert.match(problems('http:\n  plainPort: 8080\n')[0] ?? '', /http\.plainPort: needs http\.tls/);
    assert.match(problems('http:\n  tls: {cert: /a}\n')[0] ?? '', /http\.tls\.key/);
  });

  test('every problem is reported at once, with key path and line:column', () => {
    const p = problems(
      ['dhcp:', '  prot: 6767', '  replyPort: "x"', '  networks:', '    - subnet: 10.0.0.1/24', '      url: ftp://x', 'htp: {}', 'log:', '  level: loud'].join('\n'),
    );
    assert.deepEqual(p, [
      "c.yaml:2:3: dhcp.prot: unknown key 'prot'; did you mean 'port'?",
      'c.yaml:3:14: dhcp.replyPort: Invalid input: expected number, received string',
      "c.yaml:5:15: dhcp.networks[0].subnet: '10.0.0.1/24' has host bits set; did you mean '10.0.0.0/24'?",
      "c.yaml:6:12: dhcp.networks[0].url: must be an absolute http:// or https:// URL, got 'ftp://x'",
      "c.yaml:7:1: htp: unknown key 'htp'; did you mean 'http'?",
      'c.yaml:9:10: log.level: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
    ]);
  });

  test('a URL longer than 255 bytes is rejected at load time', () => {
    const url = `http://prov.example/${'a'.repeat(240)}`;
    const [p] = problems(`dhcp:\n  url: "${url}"\n`);
    assert.match(p ?? '', /dhcp\.url: is 260 bytes long; a DHCP option holds at most 255 bytes/);
  });

  test('URL rules: no NUL, no placeholder in the host, http(s) only', () => {
    assert.match(problems('dhcp:\n  url: "http://a/\\0"\n')[0] ?? '', /NUL/);
    assert.match(problems('dhcp:\n  url: "http://${host}/x"\n')[0] ?? '', /host part/);
    assert.match(problems('dhcp:\n  url: "tftp://a/x"\n')[0] ?? '', /http:\/\/ or https:\/\//);
  });

  test('port rules and duplicates', () => {
    assert.match(problems('dhcp:\n  port: 6768\n')[0] ?? '', /dhcp\.replyPort: must differ from dhcp\.port/);
    assert.match(problems('http:\n  port: 70000\n')[0] ?? '', /http\.port: must be 0-65535/);
    assert.match(problems('dhcp:\n  interfaces: [eth0, eth0]\n')[0] ?? '', /dhcp\.interfaces\[1\]: interface 'eth0' is listed twice/);
    const dup = 'dhcp:\n  networks:\n    - { subnet: 10.0.0.0/8, url: "http://a/b" }\n    - { subnet: 10.0.0.0/8, url: "http://c/d" }\n';
    assert.match(problems(dup)[0] ?? '', /dhcp\.networks\[1\]\.subnet: duplicates dhcp\.networks\[0\]\.subnet/);
  });

  test('http.host must be an IP literal', () => {
    assert.match(problems('http:\n  host: example.com\n')[0] ?? '', /http\.host: must be an IP address literal/);
  });

  test('YAML syntax errors carry a position', () => {
    assert.throws(
      () => parseConfigText('dhcp: [1\nhttp: 2\n', 'c.yaml'),
      (err: ProvError) => err.code === 'PROVD_ERR_CONFIG_YAML' && /^c\.yaml:\d+:\d+: /.test(err.details[0] ?? ''),
    );
    assert.throws(() => parseConfigText('a: 1\na: 2\n', 'c.yaml'), (err: ProvError) => err.code === 'PROVD_ERR_CONFIG_YAML');
  });

  test('empty YAML text parses as the embedded defaults (loadConfigFile refuses an empty file: config-cli.test.ts)', () => {
    assert.equal(parseConfigText('', 'c.yaml').dhcp.port, 6767);
    assert.equal(parseConfigText('# only a comment\n', 'c.yaml').dhcp.port, 6767);
  });

  test('a top-level scalar or list is rejected', () => {
    assert.match(problems('42\n')[0] ?? '', /\(top level\): Invalid input: expected object/);
    assert.match(problems('- a\n')[0] ?? '', /\(top level\)/);
  });

  test('did-you-mean suggestions stay sensible', () => {
    assert.equal(suggest('replyport', ['port', 'replyPort']), 'replyPort');
    assert.equal(suggest('intefaces', ['interfaces', 'url']), 'interfaces');
    assert.equal(suggest('zzzz', ['interfaces', 'url']), undefined);
  });
});
