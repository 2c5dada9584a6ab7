/**
 * frictions.test.ts: the smaller frictions of a first install (issue 14 item 10), through the real
 * executable: a render error names the missing variable; `render` without `--user` predicts the
 * endpoint's 400 for a tenant that requires credentials; `key rotate` prints an https:// URL when
 * the HTTP face serves TLS; every non-2xx HTTP answer leaves a log line (413, an unknown path, an
 * unknown tenant named); `probe --show` and `--uuid`; `probe` warns when a second DHCP server
 * answers (two responders in a namespace lab).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { cliWithInput, runCli, MAIN } from './helpers/daemon';
import { Lab, labSkipReason } from './helpers/mdns-lab';
import { HTTP_LOOPBACK, startFace } from './helpers/prov';

const cli = (args: readonly string[]): ReturnType<typeof cliWithInput> => cliWithInput(args, '', 'utf8');

const provisioning = (value: string): string => `provisioning:
  defaultDomain: example.com
  allowPrefix: [net.java]
  tenants:
    example.com:
      auth: credentials
      attributes: {sipServer: sip.example.com}
      users:
        alice: {password: "plain:alice pw"}
      rules:
        - name: sip
          subject: default
          properties:
            net.java.a: "${value}"
`;

describe('render and key rotate frictions', () => {
  let dir: string;
  const cfg = (name: string, http: string, value: string): string => {
    const p = join(dir, name);
    writeFileSync(p, `http: ${http}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nstateDir: ${join(dir, name + '.state')}\n${provisioning(value)}`);
    return p;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-frictions-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a render error names the missing variable (render and the endpoint alike)', async () => {
    const c = cfg('typo.yaml', '{host: 127.0.0.1, port: 0}', '{{ tenant.attributes.sipServr }}');
    const r = await cli(['render', '--config', c, '--user', 'alice']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /would answer 500: rule sip, key net\.java\.a: tenant\.attributes\.sipServr is undefined/);
    assert.doesNotMatch(r.stderr, /attempted to output/);
    // nested in other output, and a parameter: the first undefined lookup is named
    const c2 = cfg('param.yaml', '{host: 127.0.0.1, port: 0}', 'x-{{ tenant.attributes.sipServer }}-{{ params.site }}');
    const r2 = await cli(['render', '--config', c2, '--user', 'alice']);
    assert.match(r2.stderr, /params\.site is undefined/);
    const f = await startFace(`${HTTP_LOOPBACK}${provisioning('{{ user.attributes.extension }}')}`, { stateDir: join(dir, 'face.state') });
    try {
      const res = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=alice%40example.com&password=alice+pw' });
      assert.equal(res.statusCode, 500);
      assert.match(f.text(), /user\.attributes\.extension is undefined/);
    } finally {
      await f.close();
    }
  });

  test('render without --user on a tenant that requires credentials predicts 400, as the endpoint answers', async () => {
    const c = cfg('anon.yaml', '{host: 127.0.0.1, port: 0}', '{{ user.name }}');
    const r = await cli(['render', '--config', c]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /the endpoint would answer 400: tenant example\.com requires credentials/);
    const f = await startFace(HTTP_LOOPBACK + provisioning('{{ user.name }}'), { stateDir: join(dir, 'anon.state') });
    try {
      const res = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'uuid=u1' });
      assert.equal(res.statusCode, 400);
    } finally {
      await f.close();
    }
  });

  test('key rotate prints https:// when the HTTP face serves TLS, http:// otherwise', async () => {
    const tls = cfg('tls.yaml', `{host: 127.0.0.1, port: 8443, tls: {cert: ${join(dir, 'none.pem')}, key: ${join(dir, 'none.key')}}}`, 'x');
    const a = await cli(['key', 'rotate', '--tenant', 'example.com', '--config', tls]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr, /\(e\.g\. https:\/\/host:8443\/<key>\/jitsi\?\.\.\.\)/);
    const plain = cfg('plain.yaml', '{host: 127.0.0.1, port: 8667}', 'x');
    const b = await cli(['key', 'rotate', '--tenant', 'example.com', '--config', plain]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /\(e\.g\. http:\/\/host:8667\/<key>\/jitsi\?\.\.\.\)/);
  });
});

describe('every non-2xx HTTP answer leaves a log line', () => {
  test('413, unknown-path 404 and unknown-tenant 404 (naming the tenant) are logged, without the query', async () => {
    const f = await startFace(`${HTTP_LOOPBACK.replace('rateLimit: {rate: 0}', 'rateLimit: {rate: 0}, bodyLimit: 1024')}${provisioning('x')}`);
    try {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const nf = await f.face.app!.inject({ method: 'GET', url: '/nope?password=hush' });
      assert.equal(nf.statusCode, 404);
      const big = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: form, payload: `username=a&pad=${'x'.repeat(4000)}` });
      assert.equal(big.statusCode, 413);
      const other = await f.face.app!.inject({ method: 'POST', url: '/jitsi', headers: form, payload: 'username=bob%40other.example&password=pw' });
      assert.equal(other.statusCode, 404);
      const lines = f.lines();
      const find = (status: number, outcome: string): Record<string, unknown> | undefined => lines.find((l) => l['status'] === status && l['outcome'] === outcome);
      assert.equal(find(404, 'unknown-path')?.['path'], '/nope', JSON.stringify(lines));
      assert.equal(find(413, 'body-too-large')?.['path'], '/jitsi', JSON.stringify(lines));
      assert.equal(find(404, 'unknown-tenant')?.['tenant'], 'other.example', JSON.stringify(lines));
      assert.ok(!f.text().includes('hush'), 'the query is never logged');
    } finally {
      await f.close();
    }
  });
});

describe('probe --show and --uuid', () => {
  test('--uuid is the ${uuid} sent; --show prints the document received after the report', async () => {
    const forms: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('latin1')));
      req.on('end', () => {
        forms.push(body);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('net.java.sip.communicator.impl.protocol.sip.acc1=acc1\nnet.java.sip.communicator.x=caf\\u00e9\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await runCli(['probe', '--url', `http://127.0.0.1:${port}/jitsi?uuid=\${uuid}&ip=\${ipaddr}`, '--uuid', 'fixed-uuid-1', '--show']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(forms, ['uuid=fixed-uuid-1&ip=127.0.0.1']);
      assert.match(r.stdout, /probe: provisioning works\n--- document received \(\d+ bytes\) ---\nnet\.java\.sip\.communicator\.impl\.protocol\.sip\.acc1=acc1\nnet\.java\.sip\.communicator\.x=caf\\u00e9\n$/);
      const quiet = await runCli(['probe', '--url', `http://127.0.0.1:${port}/jitsi?uuid=\${uuid}`]);
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.doesNotMatch(quiet.stdout, /document received/);
      assert.match(forms[1] ?? '', /^uuid=[0-9a-f-]{36}$/, 'a random uuid without --uuid');
    } finally {
      server.close();
    }
  });
});

describe('probe warns when a second DHCP server answers', { skip: labSkipReason({ avahi: false }) }, () => {
  const lab = new Lab('f', 1, 237);
  const l = lab.links[0] as (typeof lab.links)[0];
  before(() => {
    lab.up();
    // the client's broadcast leaves through the link (no default route in a new namespace)
    spawnSync('ip', ['-n', lab.cli, 'route', 'add', '255.255.255.255/32', 'dev', l.cliIf]);
  });
  after(async () => lab.down());

  test('two servers answer the INFORM: the first URL is taken, the other server is named in a warning', { timeout: 60_000 }, async () => {
    const fake = join(__dirname, 'helpers', 'dhcp-fake.js');
    const a = lab.spawn(lab.srv, [process.execPath, fake, `http://${l.srvIp}:1/a`]);
    const b = lab.spawn(lab.srv, [process.execPath, fake, `http://${l.srvIp}:1/b`]);
    assert.ok(await a.waitFor(/READY/, 10_000), a.lines.join('\n'));
    assert.ok(await b.waitFor(/READY/, 10_000), b.lines.join('\n'));
    const p = lab.spawn(lab.cli, [process.execPath, MAIN, 'probe', '--json', '--method', 'dhcp', '--interface', l.cliIf]);
    await p.exited;
    const report = JSON.parse(p.lines.filter((x) => !x.startsWith('provisiond:')).join('\n')) as { steps: { step: string; summary: string; findings: Record<string, unknown> }[] };
    const dhcp = report.steps[0];
    assert.equal(dhcp?.step, 'dhcp', p.lines.join('\n'));
    assert.match(String(dhcp?.findings['url']), /^http:\/\/[\d.]+:1\/(a|b)$/, JSON.stringify(dhcp));
    const warnings = dhcp?.findings['warnings'] as string[];
    assert.equal(warnings.length, 1, JSON.stringify(dhcp));
    assert.match(warnings[0] ?? '', /a second DHCP server answered: [\d.]+:6767 with "http:\/\/[\d.]+:1\/(a|b)"; the client takes whichever answer arrives first/);
    assert.match(dhcp?.summary ?? '', /warning: a second DHCP server answered/);
    await a.stop();
    // one server: no warning
    const q = lab.spawn(lab.cli, [process.execPath, MAIN, 'probe', '--json', '--method', 'dhcp', '--interface', l.cliIf]);
    await q.exited;
    const one = JSON.parse(q.lines.filter((x) => !x.startsWith('provisiond:')).join('\n')) as { steps: { findings: Record<string, unknown> }[] };
    assert.deepEqual(one.steps[0]?.findings['warnings'], []);
  });
});
