/**
 * Issue 10, defect 18a: a responder that claims "Provisioning URL" after our announcement is
 * reported (error level, once per episode, with its address) and counted. The daemon runs in a
 * network namespace this test creates; the rogue is scapy in the other one. Skips with a message
 * when not root or when a tool is missing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab, ROOT, labSkipReason } from './helpers/mdns-lab';
import { startDaemon, type Running } from './helpers/daemon';

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

  test('is logged at error level once for a burst, with the sender, and every claim is counted', { timeout: 60_000 }, async () => {
    const cfg = join(lab.dir, 'claim.yaml');
    writeFileSync(cfg, `dhcp:\n  interfaces: [${link.srvIf}]\nmdns:\n  hostname: provclaim\nstateDir: ${join(lab.dir, 'state')}\n`);
    d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', lab.srv]);
    const r = d;
    await r.waitForLog('mDNS face advertising', 20_000);
    await claim(3);
    const line = await r.waitForLog(/claimed by another responder/, 10_000);
    assert.equal(line['level'], 'error');
    assert.equal(line['code'], 'PROVD_ERR_MDNS_CONFLICT');
    assert.equal(line['otherResponder'], link.cliIp);
    assert.equal(line['otherRecord'], 'Provisioning URL._http._tcp.local. SRV 0 0 80 rogue.local.');
    // Every claim is counted; the burst is one line.
    let mdns: Record<string, number> = {};
    for (let i = 0; i < 40 && (mdns['claimsAfterAnnouncement'] ?? 0) < 3; i++) {
      r.child.kill('SIGUSR1');
      await new Promise((res) => setTimeout(res, 250));
      const counters = lines(r).filter((l) => l['msg'] === 'counters').pop() as { stats?: { mdns?: Record<string, number> } } | undefined;
      mdns = counters?.stats?.mdns ?? {};
    }
    assert.equal(mdns['claimsAfterAnnouncement'], 3, JSON.stringify(mdns));
    assert.equal(mdns['claimEpisodes'], 1, JSON.stringify(mdns));
    assert.equal(lines(r).filter((l) => /claimed by another responder/.test(String(l['msg']))).length, 1);
    assert.equal(mdns['announced'], 1, 'still advertising the exact name');
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });
});
