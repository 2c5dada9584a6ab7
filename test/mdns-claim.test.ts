/**
 * Issue 10, defect 18a: a responder that claims "Provisioning URL" after our announcement is
 * reported (error level, once per episode, with its address) and counted. The daemon runs in a
 * network namespace this test creates; the rogue is scapy in the other one (skipped with a message
 * when not root or when a tool is missing). The once-per-episode rule is checked on loopback with a
 * fake advertiser, which never re-probes on its own.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab, ROOT, labSkipReason } from './helpers/mdns-lab';
import { startDaemon, type Running } from './helpers/daemon';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { captureLog } from './helpers/log';
import { parseConfigText } from '../src/config/load';
import { MdnsFace } from '../src/mdns/server';
import type { Advertiser, Publication, PublishHandlers } from '../src/mdns/advertiser';
import type { Advertisement } from '../src/mdns/plan';
import { parseCidr, parseIPv4, type Cidr } from '../src/net/ipv4';

const SCAPY_CLAIM = join(ROOT, 'test', 'helpers', 'scapy_mdns_claim.py');
const skip =
  labSkipReason({ avahi: false }) ||
  (spawnSync('/usr/bin/python3', ['-c', 'import scapy.all'], { timeout: 30_000 }).status === 0 ? false : 'Debian python3-scapy is not importable by /usr/bin/python3');

describe('mDNS: a claim of our name after announcement', { skip }, () => {
  const lab = new Lab('c', 1, 236);
  const [link] = lab.links as [(typeof lab.links)[0]];
  let d: Running | undefined;

  before(() => {
    lab.up();
  });
  after(async () => {
    if (d && d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGTERM');
      await d.exited;
    }
    await lab.down();
  });

  const lines = (r: Running): Record<string, unknown>[] =>
    r
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const claim = async (count: number): Promise<void> => {
    const spec = { ip: link.cliIp, name: 'Provisioning URL._http._tcp.local', target: 'rogue.local', port: 80, count, interval: 0.2 };
    const p = lab.spawn(lab.cli, ['/usr/bin/python3', SCAPY_CLAIM, JSON.stringify(spec)]);
    assert.equal(await p.exited, 0, p.lines.join('\n'));
    assert.match(p.lines.join('\n'), new RegExp(`"sent": ${count}`));
  };

  test('one claim from another host is logged at error level with its address and counted; the name stays announced', { timeout: 60_000 }, async () => {
    // One claim, as a rogue that speaks once (or rarely): the library re-probes, meets no
    // answer and re-announces without a word, so before the fix nothing was logged at all.
    const cfg = join(lab.dir, 'claim.yaml');
    writeFileSync(cfg, `dhcp:\n  interfaces: [${link.srvIf}]\nmdns:\n  hostname: provclaim\nstateDir: ${join(lab.dir, 'state')}\n`);
    d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', lab.srv]);
    const r = d;
    await r.waitForLog('mDNS face advertising', 20_000);
    await claim(1);
    const line = await r.waitForLog(/claimed by another responder/, 10_000);
    assert.equal(line['level'], 'error');
    assert.equal(line['code'], 'PROVD_ERR_MDNS_CONFLICT');
    assert.equal(line['otherResponder'], link.cliIp);
    assert.equal(line['otherRecord'], 'Provisioning URL._http._tcp.local. SRV 0 0 80 rogue.local.');
    let mdns: Record<string, number> = {};
    for (let i = 0; i < 40 && (mdns['claimsAfterAnnouncement'] ?? 0) < 1; i++) {
      r.child.kill('SIGUSR1');
      await new Promise((res) => setTimeout(res, 250));
      const counters = lines(r).filter((l) => l['msg'] === 'counters').pop() as { stats?: { mdns?: Record<string, number> } } | undefined;
      mdns = counters?.stats?.mdns ?? {};
    }
    assert.equal(mdns['claimsAfterAnnouncement'], 1, JSON.stringify(mdns));
    assert.equal(mdns['claimEpisodes'], 1, JSON.stringify(mdns));
    assert.equal(mdns['announced'], 1, JSON.stringify(mdns));
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });
});

/** FakeAdvertiser stands in for ciao: it announces when told and never re-probes on its own. */
class FakeAdvertiser implements Advertiser {
  readonly announce: ((ok: boolean) => void)[] = [];
  publish(_ad: Advertisement, _h: PublishHandlers): Publication {
    let announce: (ok: boolean) => void = () => undefined;
    const announced = new Promise<boolean>((res) => (announce = res));
    this.announce.push(announce);
    return { announced, updateTxt: () => undefined, end: async () => announce(false) };
  }
  async shutdown(): Promise<void> {}
}

/** response builds a DNS response with one record (uncompressed name, class IN + cache flush). */
function response(name: string, type: number, ttl: number, rdata: Buffer): Buffer {
  const labels = Buffer.concat([...name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0x8400, 2);
  head.writeUInt16BE(1, 6);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(0x8001, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([head, labels, fixed, rdata]);
}
const aRecord = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));

describe('mDNS face: claims after announcement (fake advertiser, watcher on a loopback port)', () => {
  test('a burst of claims is one error line and every claim is counted; our own records and goodbyes are not claims', { timeout: 20_000 }, async () => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const cap = captureLog();
    const adv = new FakeAdvertiser();
    const host = [{ name: 'eth0', address: parseIPv4('192.168.1.10') as number, internal: false, cidr: (parseCidr('192.168.1.0/24') as { ok: true; value: Cidr }).value }];
    const f = new MdnsFace({ config: parseConfigText('dhcp:\n  interfaces: [eth0]\nmdns:\n  hostname: prov\n', 'c.yaml'), log: cap.log, listInterfaces: () => host, systemHostname: () => 'box', advertiser: () => adv, watcherPort: port, retryMs: 10_000 });
    const s = createSocket('udp4');
    try {
      await f.start();
      adv.announce[0]?.(true);
      for (let i = 0; i < 50 && f.state !== 'announced'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(f.state, 'announced');
      s.bind(0, '127.0.0.1');
      await once(s, 'listening');
      const send = (b: Buffer): Promise<void> => new Promise((res, rej) => s.send(b, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
      await send(response('prov.local', 1, 120, aRecord('192.168.1.10'))); // our own A record: not a claim
      await send(response('prov.local', 1, 0, aRecord('10.9.9.9'))); // a goodbye: not a claim
      for (let i = 0; i < 3; i++) await send(response('prov.local', 1, 120, aRecord('10.9.9.9')));
      for (let i = 0; i < 100 && (f.stats()['claimsAfterAnnouncement'] ?? 0) < 3; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(f.stats()['claimsAfterAnnouncement'], 3);
      assert.equal(f.stats()['claimEpisodes'], 1);
      const logged = cap.lines.filter((l) => l['code'] === 'PROVD_ERR_MDNS_CONFLICT');
      assert.equal(logged.length, 1, JSON.stringify(logged));
      assert.equal(logged[0]?.['level'], 'error');
      assert.equal(logged[0]?.['otherResponder'], '127.0.0.1');
      assert.equal(logged[0]?.['otherRecord'], 'prov.local. A 10.9.9.9');
      assert.equal(logged[0]?.['mdnsName'], 'prov.local.');
      assert.equal(f.state, 'announced', 'still advertising the exact name');
    } finally {
      s.close();
      await f.close();
    }
  });
});
