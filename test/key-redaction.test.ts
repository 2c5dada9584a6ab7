/**
 * Issue 10, defect 5: the provisioning key must not reach the log. The DHCP face's "DHCP face
 * serving" line and the mDNS face's advertisement lines carry the served URL and TXT strings;
 * with dhcp.networks[].tenant set, those hold the tenant's urlKey. Every line logged here goes
 * through test/helpers/log.ts, whose exit hook fails the file if a KNOWN_SECRETS entry (KEY_A is
 * one) appears in any captured line: this file extends that scan to those faces' lines.
 * `export avahi` writes the key into a file meant for /etc/avahi/services: it must say so.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhcpFace } from '../src/dhcp/server';
import { MdnsFace } from '../src/mdns/server';
import { parseConfigText } from '../src/config/load';
import type { Advertiser, AdvertiserFactory, Publication } from '../src/mdns/advertiser';
import type { HostInterface } from '../src/net/interfaces';
import { captureLog, KNOWN_SECRETS } from './helpers/log';
import { runCli } from './helpers/daemon';

const KEY_A = 'AAAAaaaaBBBBbbbbCCCCccccDDDDdddd';
const LOOPBACK: HostInterface = { name: 'lo', address: 0x7f000001, internal: true, cidr: { network: '127.0.0.0', prefix: 8, base: 0x7f000000, mask: 0xff000000 } };

const keyedConfig = (dhcpPort: number): string =>
  `dhcp:\n  port: ${dhcpPort}\n  interfaces: [lo]\n  networks:\n    - {subnet: 127.0.0.0/8, url: "http://127.0.0.1:8667/jitsi?username=\${username}", tenant: a.example}\n` +
  `provisioning:\n  tenants:\n    a.example: {auth: url_key, urlKey: ${KEY_A}}\n`;

/** silentAdvertiser publishes nothing and announces at once. */
const silentAdvertiser: AdvertiserFactory = (): Advertiser => ({
  publish: (): Publication => ({ announced: Promise.resolve(true), updateTxt: () => undefined, end: async () => undefined }),
  shutdown: async () => undefined,
});

describe('the provisioning key never reaches a log line', () => {
  test('KEY_A is one of the secrets the suite scans every captured log line for', () => {
    assert.ok(KNOWN_SECRETS.includes(KEY_A));
  });

  for (const mode of ['in-process', 'thread'] as const) {
    test(`DHCP face (${mode}): the "DHCP face serving" line shows the keyed URL as /<key>/jitsi, at start and on reload`, async () => {
      const cap = captureLog('info');
      const config = parseConfigText(keyedConfig(0), 'k.yaml');
      const face = new DhcpFace({ config, log: cap.log, checkPortFree: false, ...(mode === 'in-process' ? { listInterfaces: () => [LOOPBACK] } : {}) });
      assert.equal(face.inThread, mode === 'thread');
      await face.start();
      try {
        await face.reload(config);
      } finally {
        await face.close();
      }
      const serving = cap.lines.filter((l) => l['msg'] === 'DHCP face serving');
      assert.equal(serving.length, 2, 'logged at start and at reload');
      for (const l of serving) assert.deepEqual(l['urls'], { lo: 'http://127.0.0.1:8667/<key>/jitsi?username=${username}' });
      assert.ok(!cap.text().includes(KEY_A), `the key is in the log: ${cap.text()}`);
    });
  }

  test('mDNS face: the advertisement lines show TXT path and URL as /<key>/jitsi', async () => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const cap = captureLog('info');
    const config = parseConfigText(keyedConfig(6767), 'k.yaml');
    const face = new MdnsFace({ config, log: cap.log, listInterfaces: () => [LOOPBACK], systemHostname: () => 'box', advertiser: silentAdvertiser, watcherPort: port });
    await face.start();
    try {
      await new Promise((r) => setTimeout(r, 50)); // the announcement resolves on a later tick
      await face.reload(config);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await face.close();
    }
    const lines = cap.lines.filter((l) => Array.isArray(l['txt']));
    assert.ok(lines.length >= 1, `an advertising line with txt was logged: ${cap.text()}`);
    for (const l of lines) {
      assert.ok((l['txt'] as string[]).includes('path=/<key>/jitsi'), JSON.stringify(l['txt']));
      assert.match(JSON.stringify(l['urls']), /\/<key>\/jitsi/);
    }
    assert.ok(!cap.text().includes(KEY_A), `the key is in the log: ${cap.text()}`);
  });

  test('export avahi warns on stderr that the service file holds the key and how to install it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-avahi-key-'));
    try {
      const cfg = join(dir, 'k.yaml');
      writeFileSync(cfg, keyedConfig(6767));
      const r = await runCli(['export', 'avahi', '--config', cfg]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes(`path=/${KEY_A}/jitsi`), 'the service file itself must carry the key (clients need it)');
      assert.match(r.stderr, /provisioning key of tenant a\.example/);
      assert.match(r.stderr, /0640/);
      assert.ok(!r.stderr.includes(KEY_A), 'the warning does not repeat the key');
      // Without a key, no warning.
      writeFileSync(cfg, 'dhcp:\n  interfaces: [lo]\n  url: "http://127.0.0.1:8667/jitsi"\n');
      const plain = await runCli(['export', 'avahi', '--config', cfg]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stderr, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
