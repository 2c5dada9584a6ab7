/**
 * mdns-standby.test.ts: two provisiond nodes on one link advertising the same service (issue 16
 * item 4), observed by an independent client. Three network namespaces this test creates (names
 * carry the PID; always deleted): node A and node B, each with one veth whose other end is a
 * port of a bridge in the client namespace, where an avahi-daemon (private D-Bus) and
 * avahi-browse watch the link. Both nodes run the same configuration except mdns.hostname, with
 * one URL (a load balancer's name), as N nodes behind a load balancer would.
 * Skips with a message when not root or when a tool is missing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab, labSkipReason, parseBrowseLine, clientUrlFromBrowse, type Proc, type BrowseEntry } from './helpers/mdns-lab';
import { startDaemon, type Running } from './helpers/daemon';

const skip = labSkipReason();
const URL = 'http://prov.lab.test:8667/jitsi?username=${username}&password=${password}';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** addressesOf lists every address of `dev` in namespace `ns` (IPv4 and IPv6 link-local): a node may answer over either family. */
function addressesOf(ns: string, dev: string): string[] {
  const r = spawnSync('ip', ['-j', '-n', ns, 'addr', 'show', 'dev', dev], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip addr show ${dev} in ${ns}: ${r.stderr.trim()}`);
  const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? '')).filter((a) => a !== '');
}

/** hostOf is a logged sender address without an IPv6 zone (`fe80::1%n0` → `fe80::1`). */
function hostOf(v: unknown): string {
  return String(v).split('%')[0] ?? '';
}

const hasTshark = spawnSync('tshark', ['--version']).status === 0 && spawnSync('dumpcap', ['--version']).status === 0;

/** Answer is one resource record of an mDNS response on the link, as tshark decoded it. */
interface Answer {
  readonly at: number;
  readonly src: string;
  readonly name: string;
  readonly type: number;
  readonly flush: boolean;
  /** address: an A record's address. */
  readonly address?: string;
}

/** answersIn lists the records of every mDNS response in a capture (tshark's fields; A rdata matched to the A records in order). */
function answersIn(file: string): Answer[] {
  const r = spawnSync('tshark', ['-r', file, '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'dns.resp.name', '-e', 'dns.resp.type', '-e', 'dns.resp.cache_flush', '-e', 'dns.a', '-E', 'separator=|'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr.trim()}`);
  const out: Answer[] = [];
  for (const row of r.stdout.split('\n').filter((l) => l !== '')) {
    const [at = '', v4 = '', v6 = '', names = '', types = '', flushes = '', as = ''] = row.split('|');
    const typeList = types.split(',').map(Number);
    const flushList = flushes.split(',');
    const addresses = as === '' ? [] : as.split(',');
    let k = 0;
    names.split(',').forEach((name, i) => {
      const type = typeList[i] ?? 0;
      out.push({ at: Number(at), src: v4 !== '' ? v4 : hostOf(v6), name, type, flush: flushList[i] === '1' || flushList[i] === 'True', ...(type === 1 ? { address: addresses[k++] ?? '' } : {}) });
    });
  }
  return out;
}

/** errorsIn lists a daemon's log lines at error level (or any PROVD_ERR_MDNS_CONFLICT). */
function errorsIn(d: Running): string[] {
  return d
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{') && (/"level":"(error|fatal)"/.test(l) || l.includes('PROVD_ERR_MDNS_CONFLICT')));
}

describe('two nodes on one link: the second is a standby that takes over', { skip }, () => {
  const lab = new Lab('b', 0, 232);
  const nodeB = `${lab.srv}2`;
  const A = '10.232.1.1';
  const B = '10.232.1.2';
  const daemons: Running[] = [];
  let env: NodeJS.ProcessEnv;
  let watcher: Proc;

  const node = (ns: string, name: string): Running => {
    const cfg = join(lab.dir, `${name}.yaml`);
    writeFileSync(cfg, `dhcp:\n  interfaces: [n0]\n  url: "${URL}"\nmdns:\n  hostname: ${name}\nstateDir: ${join(lab.dir, `${name}-state`)}\nlog: {level: debug}\n`);
    const d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', ns]);
    daemons.push(d);
    return d;
  };
  const stop = async (d: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> => {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill(signal);
    return d.exited;
  };
  /** resolved waits for avahi-browse's resolution of our service on the bridge with that host name. */
  const resolved = (host: string, ms: number, from = 0): Promise<{ line: string } | undefined> =>
    watcher.waitFor((l) => l.startsWith('=;br0;IPv4;Provisioning\\032URL;') && l.includes(`;${host}.local;`), ms, from);

  before(async () => {
    lab.up();
    ip('netns', 'add', nodeB);
    ip('-n', nodeB, 'link', 'set', 'lo', 'up');
    ip('-n', lab.cli, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    for (const [ns, addr, port] of [
      [lab.srv, A, 'pa'],
      [nodeB, B, 'pb'],
    ] as const) {
      ip('link', 'add', 'n0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', lab.cli);
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'n0');
      ip('-n', ns, 'link', 'set', 'n0', 'up');
      ip('-n', lab.cli, 'link', 'set', port, 'master', 'br0');
      ip('-n', lab.cli, 'link', 'set', port, 'up');
    }
    ip('-n', lab.cli, 'addr', 'add', '10.232.1.100/24', 'dev', 'br0');
    ip('-n', lab.cli, 'link', 'set', 'br0', 'up');
    env = await lab.browseEnv();
    await lab.avahi(lab.cli, { name: 'cli', hostName: 'pmdcli', interfaces: ['br0'], dbus: true });
    watcher = lab.spawn(lab.cli, ['avahi-browse', '-rp', '_http._tcp'], env);
  });
  after(async () => {
    for (const d of daemons) await stop(d, 'SIGKILL');
    await lab.down();
    spawnSync('ip', ['netns', 'del', nodeB]);
  });

  test('the second node stands by (info, no error, nothing announced); after the first one\'s goodbye it announces', { timeout: 90_000 }, async () => {
    const a = node(lab.srv, 'nodea');
    await a.waitForLog('mDNS face advertising', 20_000);
    const seenA = await resolved('nodea', 15_000);
    assert.ok(seenA, `avahi-browse resolved node A:\n${watcher.lines.join('\n')}`);
    const entryA = parseBrowseLine(seenA.line);
    assert.ok(entryA);
    // avahi may resolve the host to its IPv4 address or to its IPv6 link-local one (both are A's).
    const addrsA = addressesOf(lab.srv, 'n0');
    assert.ok(addrsA.includes(hostOf(entryA.address)), `resolved to one of node A's addresses (${addrsA.join(', ')}): ${entryA.address}`);
    assert.equal(clientUrlFromBrowse(entryA, 'http'), URL);

    const b = node(nodeB, 'nodeb');
    const line = await b.waitForLog(/standing by/, 20_000);
    assert.equal(line['level'], 'info');
    // Node A answers from its IPv4 address or from its IPv6 link-local one, whichever packet came first.
    const ofA = addressesOf(lab.srv, 'n0');
    assert.ok(ofA.includes(A), `node A's addresses: ${ofA.join(', ')}`);
    assert.ok(ofA.includes(hostOf(line['activeNode'])), `the active node is A (${ofA.join(', ')}), not ${String(line['activeNode'])}`);
    // Long enough for a probe, a rename and a retry (5 s): none of it happens.
    await new Promise((r) => setTimeout(r, 7000));
    assert.deepEqual(errorsIn(b), [], 'the standby logs no error');
    assert.deepEqual(errorsIn(a), [], 'nor does the active node');
    assert.equal(b.stdout().split('\n').filter((l) => /standing by/.test(l)).length, 1, 'logged once');
    b.child.kill('SIGUSR1');
    const counters = (await b.waitForLog('counters')) as { stats?: { mdns?: Record<string, number> } };
    assert.equal(counters.stats?.mdns?.['standingBy'], 1, JSON.stringify(counters.stats?.mdns));
    assert.equal(counters.stats?.mdns?.['probes'] ?? 0, 0, `the standby never probed: ${JSON.stringify(counters.stats?.mdns)}`);
    assert.ok(!watcher.lines.some((l) => l.includes(';nodeb.local;')), 'nothing of node B was announced');

    const mark = watcher.lines.length;
    assert.equal(await stop(a), 0);
    const gone = await watcher.waitFor((l) => l.startsWith('-;br0;IPv4;Provisioning\\032URL;'), 5_000, mark);
    assert.ok(gone, `node A's goodbye reached avahi:\n${watcher.lines.slice(mark).join('\n')}`);
    await b.waitForLog(/withdrew its records \(goodbye\); taking over/, 10_000);
    const seenB = await resolved('nodeb', 20_000, mark);
    assert.ok(seenB, `avahi-browse resolved node B after the takeover:\n${watcher.lines.slice(mark).join('\n')}`);
    const entryB = parseBrowseLine(seenB.line);
    assert.ok(entryB);
    assert.equal(entryB.name, 'Provisioning URL', 'the exact name');
    const addrsB = addressesOf(nodeB, 'n0');
    assert.ok(addrsB.includes(hostOf(entryB.address)), `resolved to one of node B's addresses (${addrsB.join(', ')}): ${entryB.address}`);
    assert.equal(clientUrlFromBrowse(entryB, 'http'), URL, 'the same URL');
    assert.deepEqual(errorsIn(b), []);
  });

  // What avahi shows after a takeover has a trap: avahi's service resolver
  // (upstream avahi-core/resolve-service.c, read, not traced on this box) drops its SRV record when the cache removes it but keeps the
  // address it found for that SRV's target; when the new node's SRV arrives before the resolver
  // finishes, it reports the new target with the old target's address (nodea.local at
  // 10.232.1.2). B's records expire from avahi's cache and from A's standby bookkeeping at the
  // same moment (both count the TTL from B's last packet), so a resolve started right then can
  // catch it. Our side is what the wire shows: A's announcement after the takeover carries its
  // own address with the cache-flush bit (RFC 6762 §10.2), and nothing ever gives nodea.local
  // another address; avahi's host-name cache says so too, and a resolve started after the
  // switch reports A's records alone.
  test('node A, back, stands by behind B; B killed without a goodbye: A takes over when B\'s records expire (SRV TTL 120 s)', { timeout: 200_000 }, async (t) => {
    const b = daemons.at(-1);
    assert.ok(b && b.child.exitCode === null, 'node B runs (from the previous test)');
    const a = node(lab.srv, 'nodea');
    const line = await a.waitForLog(/standing by/, 20_000);
    const ofB = addressesOf(nodeB, 'n0');
    assert.ok(ofB.includes(hostOf(line['activeNode'])), `the active node is B (${ofB.join(', ')})`);
    assert.equal(line['recordTtlS'], 120);
    // The link as an independent decoder sees it (tshark, when installed).
    const capture = hasTshark ? join(lab.dir, 'takeover.pcapng') : undefined;
    const dump = capture === undefined ? undefined : lab.spawn(lab.cli, ['dumpcap', '-q', '-i', 'br0', '-w', capture, '-f', 'udp port 5353']);
    await new Promise((r) => setTimeout(r, 1000)); // dumpcap is listening
    const mark = watcher.lines.length;
    await stop(b, 'SIGKILL');
    const took = await a.waitForLog(/expired without a refresh; taking over/, 150_000);
    assert.ok(ofB.includes(hostOf(took['activeNode'])), `took over from B (${ofB.join(', ')})`);
    await a.waitForLog(/^mDNS face advertising$/, 20_000);
    // A resolve started now shows whose records the cache holds (A's announcement flushed B's);
    // one started while B's records were leaving avahi's cache may pair A's name with B's
    // address (above): such a resolve is counted and the next one looked at.
    let now: BrowseEntry[] = [];
    let stale = 0;
    const want = [['Provisioning URL', 'nodea.local', A, URL]];
    // A's IPv6 link-local address is A too (avahi may resolve the host to either).
    const ofA = addressesOf(lab.srv, 'n0');
    const addr = (e: BrowseEntry): string => (ofA.includes(hostOf(e.address)) ? A : e.address);
    const shown = (es: BrowseEntry[]): unknown[] => es.map((e) => [e.name, e.host, addr(e), clientUrlFromBrowse(e, 'http')]);
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const p = lab.spawn(lab.cli, ['timeout', '10', 'avahi-browse', '-rpt', '_http._tcp'], env);
      await p.exited;
      now = p.lines.map(parseBrowseLine).filter((e): e is BrowseEntry => e !== undefined && e.proto === 'IPv4');
      if (JSON.stringify(shown(now)) === JSON.stringify(want)) break;
      if (now.some((e) => e.host === 'nodea.local' && addr(e) !== A)) stale++;
      await new Promise((r) => setTimeout(r, 500));
    }
    t.diagnostic(`resolves pairing nodea.local with another address before the right one: ${stale}`);
    assert.deepEqual(shown(now), want, `avahi resolves node A again (after ${watcher.lines.length - mark} browser lines)`);
    const host = lab.spawn(lab.cli, ['avahi-resolve-host-name', '-4', 'nodea.local'], env);
    await host.exited;
    assert.deepEqual(host.lines.map((l) => l.split(/\s+/)), [['nodea.local', A]], 'avahi\'s host-name cache holds A\'s address for nodea.local');
    if (dump && capture) {
      await dump.stop(5000);
      const records = answersIn(capture);
      const tookAt = Date.parse(String(took['time'])) / 1000;
      const ofA = addressesOf(lab.srv, 'n0');
      const fromA = records.filter((r) => r.at >= tookAt && ofA.includes(r.src));
      assert.ok(
        fromA.some((r) => r.name === 'nodea.local' && r.type === 1 && r.address === A && r.flush),
        `A's announcement after the takeover carries nodea.local A ${A} with the cache-flush bit:\n${fromA.map((r) => JSON.stringify(r)).join('\n')}`,
      );
      assert.ok(
        fromA.some((r) => r.name === 'Provisioning URL._http._tcp.local' && r.type === 33 && r.flush),
        'and its SRV record with the cache-flush bit',
      );
      const wrong = records.filter((r) => r.name === 'nodea.local' && r.type === 1 && r.address !== A);
      assert.deepEqual(wrong, [], 'no packet on the link gives nodea.local another address');
    } else t.diagnostic('tshark is not installed: the packets were not checked');
    assert.deepEqual(errorsIn(a), []);
    assert.equal(await stop(a), 0);
  });
});
