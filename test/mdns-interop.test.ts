/**
 * mdns-interop.test.ts: the mDNS face against independent clients, in two network namespaces
 * this test creates (names carry the PID; always deleted): avahi-browse (an avahi-daemon with a
 * private D-Bus in the client namespace) and a JmDNS resolver making the Jitsi client's calls.
 * Skips with a message when not root or when a tool is missing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab, Proc, ROOT, labSkipReason, jmdnsResolve, dhcpAsk, parseBrowseLine, clientUrlFromBrowse, type BrowseEntry } from './helpers/mdns-lab';
import { startDaemon, MAIN, type Running } from './helpers/daemon';

const skip = labSkipReason({ java: true });
const INSTANCE = 'Provisioning URL';
const SCAPY_QUERY = join(ROOT, 'test', 'helpers', 'scapy_mdns_query.py');
const scapySkip = spawnSync('/usr/bin/python3', ['-c', 'import scapy.all'], { timeout: 30_000 }).status === 0 ? false : 'Debian python3-scapy is not importable by /usr/bin/python3';

/** MdnsResponse is one response the scapy querier saw: [name, type] pairs per section. */
interface MdnsResponse {
  from: string;
  ms: number;
  answers: [string, string][];
  additionals: [string, string][];
}

/** params splits a URL's query into a sorted list, to compare URLs whose parameter order is free. */
function params(url: string): { base: string; params: string[] } {
  const q = url.indexOf('?');
  return { base: q < 0 ? url : url.slice(0, q), params: q < 0 ? [] : url.slice(q + 1).split('&').sort() };
}

describe('mDNS face against avahi-browse and JmDNS in network namespaces', { skip }, () => {
  const lab = new Lab('i', 2);
  const [l1, l2] = lab.links as [(typeof lab.links)[0], (typeof lab.links)[0]];
  const daemons: Running[] = [];
  let env: NodeJS.ProcessEnv;

  const config = (name: string, text: string): string => {
    const p = join(lab.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const start = async (cfg: string, waitFor: string | RegExp = 'mDNS face advertising'): Promise<Running> => {
    const d = startDaemon(['run', '--config', cfg], ['ip', 'netns', 'exec', lab.srv]);
    daemons.push(d);
    await d.waitForLog(waitFor, 20_000);
    return d;
  };
  const stop = async (d: Running): Promise<number | string> => {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
    return d.exited;
  };
  /** browse runs `avahi-browse -rpt TYPE` in the client namespace and returns our resolved entries. */
  const browse = async (type: string): Promise<BrowseEntry[]> => {
    const p = lab.spawn(lab.cli, ['timeout', '15', 'avahi-browse', '-rpt', type], env);
    await p.exited;
    return p.lines.map(parseBrowseLine).filter((e): e is BrowseEntry => e !== undefined && e.name.startsWith(INSTANCE));
  };
  /**
   * browseFor browses until `ok` holds for our entries (default: any), bounded by `ms`, and returns
   * the last entries: on a loaded box the client's avahi-daemon may take the daemon's announcement
   * in after a one-shot browse right after "advertising" has ended.
   */
  const browseFor = async (type: string, ok: (es: BrowseEntry[]) => boolean = (es) => es.length > 0, ms = 20_000): Promise<BrowseEntry[]> => {
    const until = Date.now() + ms;
    for (;;) {
      const es = await browse(type);
      if (ok(es) || Date.now() > until) return es;
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  before(async () => {
    lab.up();
    env = await lab.browseEnv();
    await lab.avahi(lab.cli, { name: 'cli', hostName: 'pmdcli', interfaces: [l1.cliIf, l2.cliIf], dbus: true });
  });
  after(async () => {
    for (const d of daemons) await stop(d);
    await lab.down();
  });

  describe('defaults: advertised on the DHCP face links', () => {
    let d: Running;
    let cfg: string;
    let expected: string;
    before(async () => {
      cfg = config('a.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  hostname: provtest\nlog: {level: debug}\n`);
      d = await start(cfg);
      expected = await dhcpAsk(lab, lab.cli, l1.srvIp, l1.cliIp);
    });
    after(async () => {
      await stop(d);
    });

    test('the DHCP face serves its default URL on that link', () => {
      assert.equal(expected, `http://${l1.srvIp}:8667/jitsi?username=\${username}&password=\${password}&uuid=\${uuid}&hwaddr=\${hwaddr}&osname=\${osname}&build=\${build}`);
    });

    test('avahi-browse resolves Provisioning URL to exactly that URL, on the configured link only', { timeout: 60_000 }, async () => {
      const entries = await browseFor('_http._tcp');
      assert.ok(entries.length > 0, 'avahi-browse resolved nothing');
      for (const e of entries) {
        assert.equal(e.name, INSTANCE, 'never renamed');
        assert.equal(e.iface, l1.cliIf, 'seen on the configured link only');
        assert.equal(e.address, l1.srvIp, 'A record of that link only');
        assert.equal(e.host, 'provtest.local');
        assert.equal(e.port, 8667);
        assert.equal(e.txt[0], 'path=/jitsi');
        assert.ok(!e.txt.some((t) => t === '' || t.length > 255));
        assert.equal(clientUrlFromBrowse(e, 'http'), expected);
      }
    });

    test("JmDNS, with the client's calls and URL assembly, gets the same URL", { timeout: 40_000 }, async () => {
      const r = await jmdnsResolve(lab, lab.cli, l1.cliIp);
      assert.equal(r.type, '_http._tcp.local.', r.output);
      assert.equal(r.orderedUrl, expected, 'TXT order (JmDNS 3.6.1, the client today)');
      // Debian's JmDNS 3.5.5 keeps TXT keys in a Hashtable, like the client's 2010 build: same
      // URL up to parameter order (the client posts them as form fields, contract §4.2).
      assert.deepEqual(params(r.clientUrl), params(expected));
    });

    test('SRV+TXT asked in one query (as JmDNS asks) are answered at once, not held back for the PTR answer (RFC 6762 §6)', { timeout: 30_000, skip: scapySkip }, async () => {
      const fqdn = `${INSTANCE}._http._tcp.local`;
      const spec = { ip: l1.cliIp, listen: 1.5, queries: [[['_http._tcp.local', 'PTR']], [[fqdn, 'SRV'], [fqdn, 'TXT']]] };
      const p = lab.spawn(lab.cli, ['/usr/bin/python3', SCAPY_QUERY, JSON.stringify(spec)]);
      assert.equal(await p.exited, 0, p.lines.join('\n'));
      const out = JSON.parse(p.lines.find((l) => l.startsWith('{')) ?? '{}') as { responses?: MdnsResponse[] };
      const ours = (out.responses ?? []).filter((r) => r.from === l1.srvIp);
      const has = (r: MdnsResponse, name: string, type: string): boolean => r.answers.some(([n, t]) => n === name && t === type);
      const first = ours.findIndex((r) => has(r, fqdn, 'SRV'));
      const ptr = ours.findIndex((r) => has(r, '_http._tcp.local', 'PTR'));
      const seen = JSON.stringify(ours);
      assert.ok(first >= 0, `no SRV answer: ${seen}`);
      const r = ours[first] as MdnsResponse;
      assert.ok(has(r, fqdn, 'TXT'), `SRV and TXT in one response: ${seen}`);
      assert.ok([...r.answers, ...r.additionals].some(([n, t]) => n === 'provtest.local' && t === 'A'), `the A record rides along: ${seen}`);
      // ciao alone folds the unique answers into its PTR answer, sent 20-120 ms later.
      assert.ok(!has(r, '_http._tcp.local', 'PTR'), `the unique answers did not wait for the shared PTR answer: ${seen}`);
      assert.ok(ptr > first, `the PTR question is still answered, after its random delay: ${seen}`);
      d.child.kill('SIGUSR1');
      const counters = (await d.waitForLog('counters')) as { stats?: { mdns?: Record<string, number> } };
      assert.ok((counters.stats?.mdns?.['queriesAnsweredAtOnce'] ?? 0) >= 1, JSON.stringify(counters.stats?.mdns));
    });

    test('a resolver on the other link gets nothing', { timeout: 40_000 }, async () => {
      const r = await jmdnsResolve(lab, lab.cli, l2.cliIp);
      assert.equal(r.clientUrl, '', r.output);
    });

    test('SIGHUP with a new URL re-announces the TXT record; SIGTERM sends goodbyes', { timeout: 60_000 }, async () => {
      const watcher = lab.spawn(lab.cli, ['avahi-browse', '-rp', '_http._tcp'], env);
      assert.ok(await watcher.waitFor((l) => l.startsWith('=') && l.includes('path=/jitsi'), 10_000), 'long-running browser sees the service');
      const tshark = existsSync('/usr/bin/tshark')
        ? lab.spawn(lab.cli, ['tshark', '-l', '-n', '-i', l1.cliIf, '-f', 'udp port 5353', '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'dns.resp.name', '-e', 'dns.resp.ttl'])
        : undefined;
      if (tshark) assert.ok(await tshark.waitFor(/Capturing on/, 15_000), tshark.lines.join('\n'));

      const next = `http://${l1.srvIp}:8667/other?username=\${username}&site=lab`;
      writeFileSync(cfg, `dhcp:\n  interfaces: [${l1.srvIf}]\n  url: "${next}"\nmdns:\n  hostname: provtest\nlog: {level: debug}\n`);
      d.child.kill('SIGHUP');
      await d.waitForLog('mDNS records re-announced after reload', 10_000);
      // The client's avahi-daemon caches the TXT record for 75 min: a fresh browse shows the new
      // one only because the announcement (cache-flush bit set) replaced it.
      let fresh: BrowseEntry[] = [];
      // Only IPv4 resolutions are compared with the DHCP URL: avahi may also resolve the
      // service to the link's IPv6 link-local address (our AAAA record), a different URL.
      const v4 = (es: BrowseEntry[]): BrowseEntry[] => es.filter((e) => !e.address.includes(':'));
      // The announcement reaches the client's avahi-daemon within a second or so; each one-shot
      // browse returns at once from its cache, so poll (bounded: 10 s) rather than count tries.
      const until = Date.now() + 10_000;
      while (!fresh.some((e) => e.txt[0] === 'path=/other') && Date.now() < until) {
        fresh = v4(await browse('_http._tcp'));
        if (!fresh.some((e) => e.txt[0] === 'path=/other')) await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(fresh.map((e) => clientUrlFromBrowse(e, 'http')), fresh.map(() => next));
      assert.ok(fresh.length > 0);
      assert.equal(await dhcpAsk(lab, lab.cli, l1.srvIp, l1.cliIp), next, 'and it is what the DHCP face serves now');

      const before = watcher.lines.length;
      assert.equal(await stop(d), 0);
      const gone = await watcher.waitFor((l) => l.startsWith('-') && l.includes('Provisioning\\032URL'), 5_000, before);
      assert.ok(gone, `avahi-browse saw no removal:\n${watcher.lines.slice(before).join('\n')}`);
      if (tshark) {
        const goodbye = (l: string): boolean => {
          const [names = '', ttls = ''] = l.split('\t');
          const t = ttls.split(',');
          return names.split(',').some((n, i) => n === 'Provisioning URL._http._tcp.local' && t[i] === '0');
        };
        const ttl0 = await tshark.waitFor(goodbye, 5_000);
        assert.ok(ttl0, `no TTL=0 record in the capture:\n${tshark.lines.join('\n')}`);
        await tshark.stop();
      }
      await watcher.stop();
    });
  });

  describe('mdns.interfaces, mdns.type and mdns.url', () => {
    const url = 'https://prov.example.test/jitsi?username=${username}&password=${password}&site=a<b&c=d';
    before(async () => {
      const cfg = config('b.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  interfaces: [${l2.srvIf}]\n  type: _https._tcp\n  hostname: provtest\n  url: "${url}"\n`);
      await start(cfg);
    });
    after(async () => {
      const d = daemons.pop();
      if (d) assert.equal(await stop(d), 0);
    });

    test('only the configured link carries the service, with its own address', { timeout: 60_000 }, async () => {
      const entries = await browseFor('_https._tcp');
      assert.ok(entries.length > 0);
      for (const e of entries) {
        assert.equal(e.iface, l2.cliIf);
        assert.equal(e.address, l2.srvIp);
        assert.equal(e.txt[0], 'path=https://prov.example.test/jitsi');
        assert.equal(clientUrlFromBrowse(e, 'https'), url);
      }
    });

    test('JmDNS finds it with the first (_https._tcp) call; the absolute path is the whole URL', { timeout: 40_000 }, async () => {
      const r = await jmdnsResolve(lab, lab.cli, l2.cliIp);
      assert.equal(r.type, '_https._tcp.local.', r.output);
      assert.equal(r.orderedUrl, url);
      assert.deepEqual(params(r.clientUrl), params(url));
      const other = await jmdnsResolve(lab, lab.cli, l1.cliIp);
      assert.equal(other.clientUrl, '', 'not on the DHCP link');
    });
  });

  describe('two VLANs whose networks have different URLs (issue 14 item 8)', () => {
    const q = 'username=${username}&password=${password}';
    const urlA = `http://${l1.srvIp}:8667/jitsi?site=a&${q}`;
    const urlB = `http://${l2.srvIp}:8667/jitsi?site=b&${q}`;
    const yaml = (urlB2: string): string =>
      `dhcp:\n  interfaces: [${l1.srvIf}, ${l2.srvIf}]\n  networks:\n    - { subnet: ${l1.srvIp.replace(/\.1$/, ".0")}/24, url: "${urlA}" }\n    - { subnet: ${l2.srvIp.replace(/\.1$/, ".0")}/24, url: "${urlB2}" }\nmdns:\n  hostname: provtest\n`;
    const inSrv = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync('ip', ['netns', 'exec', lab.srv, process.execPath, MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });

    test('check-config is clean; run advertises on each link the URL the DHCP face serves there, and its goodbyes clear both links (avahi-browse)', { timeout: 90_000 }, async () => {
      const cfg = config('vlan.yaml', yaml(urlB));
      const check = inSrv(['check-config', '--config', cfg]);
      assert.equal(check.status, 0, check.stderr);
      assert.doesNotMatch(check.stderr, /MDNS/);
      // A host without any interface to advertise on (a fresh network namespace: only lo): what
      // run would refuse (exit 3, PROVD_ERR_MDNS_INTERFACE) check-config reports.
      const bare = config('bare.yaml', `dhcp:\n  enabled: false\nstateDir: ${join(lab.dir, 'bare-state')}\n`);
      const inBare = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
        spawnSync('unshare', ['-n', process.execPath, MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
      const bareCheck = inBare(['check-config', '--config', bare]);
      assert.equal(bareCheck.status, 0, bareCheck.stderr);
      assert.match(bareCheck.stderr, /warning: PROVD_ERR_MDNS_INTERFACE: .*no IPv4 interface.*would not start/);
      const bareRun = inBare(['run', '--config', bare]);
      assert.equal(bareRun.status, 3, bareRun.stdout + bareRun.stderr);
      assert.match(bareRun.stdout + bareRun.stderr, /PROVD_ERR_MDNS_INTERFACE/);
      // An Avahi service file carries one TXT record for every link: export refuses, naming both.
      const exp = inSrv(['export', 'avahi', '--config', cfg]);
      assert.equal(exp.status, 1, exp.stdout + exp.stderr);
      assert.match(exp.stderr, /site=a.*site=b.*PROVD_ERR_MDNS_URL/s);
      // A long-running browser: its cache is what a client on each link would resolve from.
      const watcher = lab.spawn(lab.cli, ['avahi-browse', '-rp', '_http._tcp'], env);
      const tshark = existsSync('/usr/bin/tshark')
        ? lab.spawn(lab.cli, ['tshark', '-l', '-n', '-i', l1.cliIf, '-i', l2.cliIf, '-f', 'udp port 5353', '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'frame.interface_name', '-e', 'dns.resp.name', '-e', 'dns.resp.type', '-e', 'dns.resp.ttl', '-e', 'dns.txt'])
        : undefined;
      if (tshark) assert.ok(await tshark.waitFor(/Capturing on/, 15_000), tshark.lines.join('\n'));
      const d = await start(cfg);
      try {
        assert.equal(await dhcpAsk(lab, lab.cli, l1.srvIp, l1.cliIp), urlA);
        assert.equal(await dhcpAsk(lab, lab.cli, l2.srvIp, l2.cliIp), urlB);
        // The long-running browser resolves the service once per link: each with that link's own TXT.
        const seen = new Map<string, string>();
        for (const iface of [l1.cliIf, l2.cliIf]) {
          const hit = await watcher.waitFor((l) => l.startsWith(`=;${iface};IPv4;Provisioning\\032URL;`), 10_000);
          assert.ok(hit, `the browser resolved it on ${iface}:\n${watcher.lines.join('\n')}`);
          const e = parseBrowseLine(hit.line);
          assert.ok(e);
          assert.equal(e.name, INSTANCE, 'never renamed');
          assert.equal(e.address, iface === l1.cliIf ? l1.srvIp : l2.srvIp, 'A record of that link only');
          seen.set(iface, clientUrlFromBrowse(e, 'http'));
        }
        assert.deepEqual(Object.fromEntries(seen), { [l1.cliIf]: urlA, [l2.cliIf]: urlB });
        // avahi-resolve (another avahi client) reads the host name's A record.
        const hostA = lab.spawn(lab.cli, ['timeout', '10', 'avahi-resolve', '-4', '-n', 'provtest.local'], env);
        assert.equal(await hostA.exited, 0, hostA.lines.join('\n'));
        const [host = '', addr = ''] = (hostA.lines.find((l) => l.startsWith('provtest.local')) ?? '').split(/\s+/);
        assert.equal(host, 'provtest.local', hostA.lines.join('\n'));
        assert.ok([l1.srvIp, l2.srvIp].includes(addr), hostA.lines.join('\n'));
        assert.doesNotMatch(d.stdout(), /PROVD_ERR_MDNS_URL|mDNS name conflict/);
        // The old failure: ciao took its own announcement on the other link for a conflict and probed again forever.
        d.child.kill('SIGUSR1');
        const counters = (await d.waitForLog('counters')) as { stats?: { mdns?: Record<string, number> } };
        assert.equal(counters.stats?.mdns?.['probes'], 1, JSON.stringify(counters.stats?.mdns));
        assert.equal(counters.stats?.mdns?.['announced'], 1, JSON.stringify(counters.stats?.mdns));
      } finally {
        const before = watcher.lines.length;
        assert.equal(await stop(d), 0);
        // RFC 6762 §10.1: the goodbyes (TTL 0) must reach each link with that link's own records,
        // or avahi keeps the entry for the records' TTL (75 min for the TXT).
        for (const iface of [l1.cliIf, l2.cliIf]) {
          const gone = await watcher.waitFor((l) => l.startsWith(`-;${iface};IPv4;Provisioning\\032URL;`), 5_000, before);
          assert.ok(gone, `avahi-browse saw no removal on ${iface}:\n${watcher.lines.slice(before).join('\n')}\n${tshark?.lines.join('\n') ?? ''}`);
        }
        await new Promise((r) => setTimeout(r, 1500)); // avahi drops a goodbye'd record 1 s later (RFC 6762 §10.1)
        const after = await browse('_http._tcp');
        assert.deepEqual(after, [], 'nothing of ours left in the client cache on either link');
        await watcher.stop();
        await tshark?.stop();
      }
    });
  });

  describe('an address change', () => {
    test('is re-announced: clients get the new A record and URL', { timeout: 150_000 }, async () => {
      const d = await start(config('addr.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  hostname: provtest\n`));
      const moved = l1.srvIp.replace(/\.1$/, '.11');
      try {
        assert.ok((await browseFor('_http._tcp', (es) => es.some((e) => e.address === l1.srvIp))).some((e) => e.address === l1.srvIp), 'announced at its first address');
        // Deleting a primary address also deletes its secondaries: delete first, then add.
        spawnSync('ip', ['-n', lab.srv, 'addr', 'del', `${l1.srvIp}/24`, 'dev', l1.srvIf]);
        spawnSync('ip', ['-n', lab.srv, 'addr', 'add', `${moved}/24`, 'dev', l1.srvIf]);
        let seen: BrowseEntry[] = [];
        const t0 = Date.now();
        while (Date.now() - t0 < 60_000 && !seen.some((e) => e.address === moved)) {
          await new Promise((r) => setTimeout(r, 2000));
          seen = await browse('_http._tcp');
        }
        assert.deepEqual(
          seen.map((e) => clientUrlFromBrowse(e, 'http')),
          seen.map(() => `http://${moved}:8667/jitsi?username=\${username}&password=\${password}&uuid=\${uuid}&hwaddr=\${hwaddr}&osname=\${osname}&build=\${build}`),
          'only the new address is resolved',
        );
        assert.ok(seen.length > 0, 'the new address was announced within 60 s');
      } finally {
        assert.equal(await stop(d), 0);
        spawnSync('ip', ['-n', lab.srv, 'addr', 'del', `${moved}/24`, 'dev', l1.srvIf]);
        spawnSync('ip', ['-n', lab.srv, 'addr', 'add', `${l1.srvIp}/24`, 'dev', l1.srvIf]);
      }
    });
  });

  describe('a name conflict', () => {
    test('is logged with the other responder, never renamed, and retried until the name is free', { timeout: 180_000 }, async () => {
      const holder = lab.spawn(lab.cli, ['avahi-publish', '-s', INSTANCE, '_http._tcp', '80', 'path=/someone-else'], env);
      assert.ok(await holder.waitFor(/Established under name/, 10_000), holder.lines.join('\n'));
      const cfg = config('c.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  hostname: provtest\n`);
      let d: Running | undefined;
      try {
      d = await start(cfg, 'mDNS name conflict: another responder holds the name; not renaming (clients resolve only the exact name), retrying');
      const line = JSON.parse(d.stdout().split('\n').find((l) => l.includes('PROVD_ERR_MDNS_CONFLICT')) ?? '{}') as Record<string, unknown>;
      assert.equal(line['level'], 'error');
      assert.equal(line['otherResponder'], l1.cliIp);
      assert.equal(line['mdnsName'], 'Provisioning URL._http._tcp.local.');
      assert.match(String(line['otherRecord']), /SRV 0 0 80 pmdcli\.local\.|TXT "path=\/someone-else"/);

      const during = await browse('_http._tcp');
      assert.ok(!during.some((e) => e.name !== INSTANCE), 'no renamed instance');
      assert.ok(!during.some((e) => e.port === 8667), 'nothing of ours announced');
      assert.ok(!/Provisioning URL \(\d+\)/.test(d.stdout()), 'never probed under another name');

      await holder.stop();
      await d.waitForLog('mDNS face advertising', 70_000);
      const ours = (es: BrowseEntry[]): boolean => es.some((e) => e.port === 8667 && clientUrlFromBrowse(e, 'http').startsWith(`http://${l1.srvIp}:8667/jitsi?`));
      const after = await browseFor('_http._tcp', ours);
      assert.ok(ours(after), JSON.stringify(after));
      assert.equal(await stop(d), 0);
      } finally {
        await holder.stop();
        if (d) await stop(d);
      }
    });
  });

  describe('beside avahi-daemon in the same namespace', () => {
    let avahi: Proc;
    before(async () => {
      avahi = await lab.avahi(lab.srv, { name: 'srv', hostName: 'pmdsrv', interfaces: [l1.srvIf], dbus: false });
    });
    after(async () => {
      await avahi.stop();
    });

    test('both share UDP 5353; with its own host name the service resolves', { timeout: 40_000 }, async () => {
      const d = await start(config('d.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  hostname: provtest\n`));
      try {
        const r = await jmdnsResolve(lab, lab.cli, l1.cliIp);
        assert.equal(r.orderedUrl, await dhcpAsk(lab, lab.cli, l1.srvIp, l1.cliIp));
        assert.ok(avahi.running, 'avahi-daemon still runs');
      } finally {
        assert.equal(await stop(d), 0);
      }
    });

    test("the host name avahi-daemon owns is a reported conflict, with a hint, not a rename", { timeout: 40_000 }, async () => {
      const d = await start(config('e.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  hostname: pmdsrv\n`), /mDNS name conflict/);
      try {
        const line = JSON.parse(d.stdout().split('\n').find((l) => l.includes('PROVD_ERR_MDNS_CONFLICT')) ?? '{}') as Record<string, unknown>;
        assert.equal(line['otherResponder'], l1.srvIp);
        assert.equal(line['mdnsName'], 'pmdsrv.local.');
        assert.match(String(line['hint']), /mdns\.hostname/);
      } finally {
        assert.equal(await stop(d), 0);
      }
    });
  });

  describe('export avahi', () => {
    test('prints an Avahi service file that avahi-daemon publishes as the same URL', { timeout: 60_000 }, async () => {
      const cfg = config('f.yaml', `dhcp:\n  interfaces: [${l1.srvIf}]\nmdns:\n  enabled: false\n`);
      const out = lab.spawn(lab.srv, [process.execPath, MAIN, 'export', 'avahi', '--config', cfg]);
      assert.equal(await out.exited, 0, out.lines.join('\n'));
      const xml = out.lines.join('\n');
      const py = spawnSync(
        '/usr/bin/python3',
        [
          '-c',
          'import sys, xml.etree.ElementTree as E\nr = E.fromstring(sys.stdin.read())\nassert r.tag == "service-group"\ns = r.find("service")\n' +
            'print(r.findtext("name")); print(s.findtext("type")); print(s.findtext("port"))\nfor t in s.findall("txt-record"): print(t.text)',
        ],
        { input: xml, encoding: 'utf8' },
      );
      assert.equal(py.status, 0, py.stderr);
      const [name, type, port, ...txt] = py.stdout.trim().split('\n');
      assert.equal(name, INSTANCE);
      assert.equal(type, '_http._tcp');
      assert.equal(port, '8667');
      assert.equal(txt[0], 'path=/jitsi');
      const lint = spawnSync('xmllint', ['--noout', '--dtdvalid', '/usr/share/avahi/avahi-service.dtd', '-'], { input: xml, encoding: 'utf8' });
      if (!lint.error) assert.equal(lint.status, 0, lint.stderr);

      const d = await start(cfg, 'provisiond started'); // DHCP only: avahi-daemon advertises
      // use-ipv6=no and publish-aaaa-on-ipv4=no, as README says for this setup: without, JmDNS may resolve the service from the
      // AAAA of the link-local address before the A arrives, and the URL is http://[fe80::…].
      const avahi = await lab.avahi(lab.srv, { name: 'exp', hostName: 'pmdexp', interfaces: [l1.srvIf], dbus: false, services: { 'provisioning.service': xml }, ipv6: false });
      try {
        const expected = await dhcpAsk(lab, lab.cli, l1.srvIp, l1.cliIp);
        let r = await jmdnsResolve(lab, lab.cli, l1.cliIp);
        if (r.orderedUrl === '') r = await jmdnsResolve(lab, lab.cli, l1.cliIp); // avahi may still be probing
        assert.equal(r.orderedUrl, expected, r.output);
      } finally {
        await avahi.stop();
        assert.equal(await stop(d), 0);
      }
    });
  });
});
