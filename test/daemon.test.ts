import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createDaemon } from '../src/daemon';
import { parseConfigText } from '../src/config/load';
import type { DhcpFace } from '../src/dhcp/server';
import type { HttpFace } from '../src/http/server';
import type { HostInterface } from '../src/net/interfaces';
import { captureLog } from './helpers/log';
import { jitsiInform } from './helpers/jitsi';

const LOOPBACK: HostInterface = { name: 'lo', address: 0x7f000001, internal: true, cidr: { network: '127.0.0.0', prefix: 8, base: 0x7f000000, mask: 0xff000000 } };

test('createDaemon builds without binding; start, reload (log level, dhcp off/on) and close', async () => {
  const client = createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const cfg = (level: string, enabled = true): string =>
    `dhcp: {enabled: ${enabled}, port: 0, replyPort: ${client.address().port}}\nmdns: {enabled: false}\nhttp: {enabled: false}\nlog: {level: ${level}}\n`;
  const cap = captureLog('info');
  const d = createDaemon(parseConfigText(cfg('info'), 'd.yaml'), { log: cap.log, listInterfaces: () => [LOOPBACK], checkPortFree: false });
  const face = (): DhcpFace | undefined => d.faces.get('dhcp') as DhcpFace | undefined;
  assert.equal(face()?.port, undefined, 'nothing bound before start()');
  try {
    await d.start();
    const port = face()?.port ?? 0;
    assert.ok(port > 0);

    await d.reload(parseConfigText(cfg('debug'), 'd.yaml'));
    client.send(jitsiInform({ xid: 7, ciaddr: [127, 0, 0, 1], mac: [2, 0, 0, 0, 0, 9] }), port, '127.0.0.1');
    await once(client, 'message');
    assert.ok(cap.lines.some((l) => l['msg'] === 'DHCPINFORM answered' && l['face'] === 'dhcp'), 'the face logs at the reloaded debug level');

    await d.reload(parseConfigText(cfg('debug', false), 'd.yaml'));
    assert.equal(d.faces.has('dhcp'), false);
    await d.reload(parseConfigText(cfg('debug', true), 'd.yaml'));
    assert.ok((face()?.port ?? 0) > 0, 'dhcp face started again');
    assert.deepEqual(Object.keys(d.stats()), ['dhcp']);
  } finally {
    await d.close();
    await d.close();
    client.close();
  }
  assert.equal(cap.lines.filter((l) => l['msg'] === 'provisiond stopped').length, 1, 'close is idempotent');
});

test('a reload that one face cannot apply is undone in the faces that already applied it', async () => {
  const cap = captureLog('info');
  const cfg = (value: string, iface: string): string =>
    [
      'http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}',
      `dhcp: {port: 0, interfaces: [${iface}]}`,
      'mdns: {enabled: false}',
      'provisioning:',
      '  tenants:',
      '    localdomain:',
      '      requireCredentials: false',
      '      rules:',
      '        - {subject: default, properties: {net.java.sip.communicator.x: ' + value + '}}',
      '',
    ].join('\n');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const state = mkdtempSync(join(tmpdir(), 'provisiond-daemon-'));
  const d = createDaemon(parseConfigText(`${cfg('old', 'lo')}stateDir: ${state}\n`, 'd.yaml'), { log: cap.log, listInterfaces: () => [LOOPBACK], checkPortFree: false });
  try {
    await d.start();
    const port = (d.faces.get('http') as HttpFace | undefined)?.port;
    assert.ok(port, 'the HTTP face reports its port');
    const fetchDoc = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/jitsi?uuid=u-1`)).text();
    assert.match(await fetchDoc(), /net\.java\.sip\.communicator\.x=old/);
    // HTTP (first in order) accepts the new rules; DHCP then fails on an unknown interface.
    await assert.rejects(d.reload(parseConfigText(`${cfg('new', 'nosuch0')}stateDir: ${state}\n`, 'd.yaml')), /nosuch0/);
    assert.match(await fetchDoc(), /net\.java\.sip\.communicator\.x=old/, 'HTTP face put back on the old configuration');
    assert.equal(d.config.dhcp.interfaces[0], 'lo');
  } finally {
    await d.close();
    rmSync(state, { recursive: true, force: true });
  }
});
