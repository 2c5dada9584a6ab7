/**
 * Wireshark's DHCP dissector (tshark) as an independent decoder: it must read the Jitsi
 * fixture as a DHCPINFORM and our reply as a well-formed DHCPACK carrying option 224.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../src/dhcp/codec';
import { handle } from '../src/dhcp/handler';
import { buildUrlPlan } from '../src/urls/plan';
import { parseConfigText } from '../src/config/load';
import { jitsiInform, SAMPLE } from './helpers/jitsi';
import { pcapFile } from './helpers/pcap';

const hasTshark = spawnSync('tshark', ['--version']).status === 0;
const URL = 'https://prov.example.com/jitsi?username=${username}&password=${password}&uuid=${uuid}';

test('tshark decodes the INFORM fixture and our DHCPACK field by field', { skip: hasTshark ? false : 'tshark is not installed' }, () => {
  const inform = jitsiInform(SAMPLE);
  const d = decode(inform);
  assert.ok(d.ok);
  if (!d.ok) return;
  const plan = buildUrlPlan(parseConfigText(`dhcp:\n  url: "${URL}"\n`, 't.yaml'));
  const iface = { name: 'eth0', address: 0xc0a80101, cidr: { network: '192.168.1.0', prefix: 24, base: 0xc0a80100, mask: 0xffffff00 } };
  const r = handle(d.message, { plan, iface, serverPort: 6767, replyPort: 6768, subnets: [iface.cidr], links: [iface.cidr], source: 0xc0a80117 });
  assert.equal(r.kind, 'reply');
  if (r.kind !== 'reply') return;

  const dir = mkdtempSync(join(tmpdir(), 'provisiond-tshark-'));
  try {
    const file = join(dir, 'x.pcap');
    writeFileSync(
      file,
      pcapFile([
        { src: [192, 168, 1, 23], dst: [255, 255, 255, 255], sport: 6768, dport: 6767, payload: inform },
        { src: [192, 168, 1, 1], dst: [192, 168, 1, 23], sport: 6767, dport: 6768, payload: r.packet },
      ]),
    );
    const fields = ['dhcp.type', 'dhcp.id', 'dhcp.ip.client', 'dhcp.hw.mac_addr', 'dhcp.option.dhcp', 'dhcp.option.request_list_item', 'dhcp.option.dhcp_server_id', 'dhcp.option.value', '_ws.malformed', '_ws.expert.severity'];
    const out = spawnSync(
      'tshark',
      ['-r', file, '-d', 'udp.port==6767,dhcp', '-d', 'udp.port==6768,dhcp', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(out.status, 0, out.stderr);
    const rows = out.stdout.trim().split('\n').map((line) => Object.fromEntries(line.split('|').map((v, i) => [fields[i] as string, v])));
    assert.equal(rows.length, 2);
    const [req, ack] = rows as [Record<string, string>, Record<string, string>];

    assert.equal(req['dhcp.type'], '1');
    assert.equal(req['dhcp.id'], '0xdeadbeef');
    assert.equal(req['dhcp.ip.client'], '192.168.1.23');
    assert.equal(req['dhcp.hw.mac_addr'], '00:1a:2b:3c:4d:5e');
    assert.equal(req['dhcp.option.dhcp'], '8', 'DHCPINFORM');
    assert.equal(req['dhcp.option.request_list_item'], '224');

    assert.equal(ack['dhcp.type'], '2', 'Boot Reply');
    assert.equal(ack['dhcp.id'], '0xdeadbeef');
    assert.equal(ack['dhcp.ip.client'], '192.168.1.23');
    assert.equal(ack['dhcp.hw.mac_addr'], '00:1a:2b:3c:4d:5e');
    assert.equal(ack['dhcp.option.dhcp'], '5', 'DHCPACK');
    assert.equal(ack['dhcp.option.dhcp_server_id'], '192.168.1.1');
    const values = (ack['dhcp.option.value'] ?? '').split(',');
    const url = values.map((v) => Buffer.from(v.replaceAll(':', ''), 'hex').toString('latin1')).find((v) => v.startsWith('https://'));
    assert.equal(url, URL, 'option 224 carries the URL, no NUL');
    for (const row of rows) {
      assert.equal(row['_ws.malformed'], '', 'tshark flags nothing as malformed');
      assert.ok(!(row['_ws.expert.severity'] ?? '').split(',').some((s) => Number(s) >= 6291456), `expert warnings/errors: ${row['_ws.expert.severity']}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
