import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createDaemon } from '../src/daemon';
import { parseConfigText } from '../src/config/load';
import type { DhcpFace } from '../src/dhcp/server';
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
