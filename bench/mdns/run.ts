/**
 * bench/mdns/run.ts: time from a fresh resolver start to a resolved "Provisioning URL", with
 * provisiond advertising and with avahi-daemon advertising the same service (the file
 * `provisiond export avahi` prints), in one run, alternating blocks of runs.
 *
 *   npm run build && node dist/bench/mdns/run.js [RUNS=10]     (root; about 3 minutes)
 *
 * Resolvers, each started fresh per run in the client namespace:
 *  - jmdns: test/fixtures/Resolve.java, the Jitsi client's calls (getServiceInfo on
 *    _https._tcp then _http._tcp, 2 s each). "resolve" is JmDNS.create() to the URL;
 *    "wall" adds the JVM start.
 *  - avahi-cold: a fresh avahi-daemon (empty cache) in the client namespace, then
 *    `avahi-browse -rpt`, timed from the browse's start to its resolved "=" line.
 * Both publishers advertise _https._tcp (mdns.type), the type the client asks for first, so the
 * figure is the responder's and not the client's 2 s _https timeout.
 * On the wire (when /usr/bin/tshark exists): a capture on the client link during each block
 * pairs every query for the instance's SRV record with the first response carrying it, per
 * publisher and per query shape (JmDNS asks SRV+TXT together, avahi asks them apart): the
 * responder's own latency, free of the resolvers' timers.
 *
 * The namespaces are this process's own (pmd<pid>b{s,c}); it refuses to run while the shared
 * lab's plab-* namespaces exist, so another benchmark there is not disturbed. Results: a
 * Markdown table on stdout and the raw runs in .bench-results/mdns-<date>.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { Lab, Proc, labSkipReason, jmdnsResolve, dhcpAsk, parseBrowseLine, clientUrlFromBrowse, median, ROOT } from '../../test/helpers/mdns-lab';
import { MAIN } from '../../test/helpers/daemon';

const HAVE_TSHARK = existsSync('/usr/bin/tshark');
const RUNS = Math.max(10, Math.min(50, Number(process.argv[2] ?? 10) || 10));
const BLOCKS = 2;

/** Latency is one query for the instance's SRV record and the first response carrying it, seen on the client's link. */
interface Latency {
  publisher: 'provisiond' | 'avahi-daemon';
  /** questions: the query's question types, e.g. "SRV,TXT" (JmDNS) or "SRV" (avahi). */
  questions: string;
  ms: number;
}

const TYPE_NAMES: Record<string, string> = { '1': 'A', '12': 'PTR', '16': 'TXT', '28': 'AAAA', '33': 'SRV', '255': 'ANY' };

/**
 * answerLatencies reads tshark field lines (epoch, source, is-response, question names, question
 * types, answer names, answer types) and pairs each query asking the instance's SRV record with
 * the first response from the publisher that carries it. A query answered by nobody within 1 s
 * (known-answer suppression) is not counted.
 */
export function answerLatencies(lines: readonly string[], publisher: Latency['publisher'], server: string, fqdn: string): Latency[] {
  interface Frame {
    t: number;
    src: string;
    response: boolean;
    qnames: string[];
    qtypes: string[];
    anames: string[];
    atypes: string[];
  }
  const frames: Frame[] = [];
  for (const l of lines) {
    const [t = '', src = '', resp = '', qn = '', qt = '', an = '', at = ''] = l.split('\t');
    if (!/^\d+\.\d+$/.test(t)) continue;
    const list = (x: string): string[] => (x === '' ? [] : x.split(','));
    frames.push({ t: Number(t) * 1000, src, response: resp === '1' || resp === 'True', qnames: list(qn), qtypes: list(qt), anames: list(an), atypes: list(at) });
  }
  const out: Latency[] = [];
  frames.forEach((f, i) => {
    if (f.response || !f.qnames.includes(fqdn) || !f.qtypes.some((q) => q === '33' || q === '255')) return;
    // tshark lists record names and types as two fields whose lengths need not match (it skips
    // some repeated names), so "carries the SRV record" is: an SRV record and the instance's name.
    const hit = frames.slice(i + 1).find((g) => g.response && g.src === server && g.t - f.t <= 1000 && g.atypes.includes('33') && g.anames.includes(fqdn));
    if (hit) out.push({ publisher, questions: f.qtypes.map((q) => TYPE_NAMES[q] ?? q).join(','), ms: hit.t - f.t });
  });
  return out;
}

interface Sample {
  publisher: 'provisiond' | 'avahi-daemon';
  resolver: 'jmdns' | 'avahi-cold';
  run: number;
  resolveMs: number;
  wallMs: number;
  url: string;
}

function busy(): string | undefined {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const shared = ns.split('\n').filter((l) => l.startsWith('plab-'));
  return shared.length ? shared.map((l) => l.split(' ')[0]).join(', ') : undefined;
}

async function main(): Promise<number> {
  const skip = labSkipReason({ java: true });
  if (skip) {
    process.stderr.write(`bench/mdns: cannot run: ${skip}\n`);
    return 2;
  }
  const shared = busy();
  if (shared) {
    process.stderr.write(`bench/mdns: the shared lab namespaces (${shared}) exist: another benchmark may be running; try later\n`);
    return 3;
  }
  const lab = new Lab('b', 1, 232);
  const l = lab.links[0];
  if (!l) return 1;
  const samples: Sample[] = [];
  const latencies: Latency[] = [];
  const captures: Record<string, string[]> = {};
  let expected = '';
  const version = spawnSync('avahi-daemon', ['--version'], { encoding: 'utf8' }).stdout.trim();
  try {
    lab.up();
    const cfg = join(lab.dir, 'bench.yaml');
    writeFileSync(cfg, `dhcp:\n  interfaces: [${l.srvIf}]\nmdns:\n  type: _https._tcp\n  hostname: provbench\nlog: {level: warn}\n`);
    const exp = lab.spawn(lab.srv, [process.execPath, MAIN, 'export', 'avahi', '--config', cfg]);
    if ((await exp.exited) !== 0) throw new Error(`export avahi failed: ${exp.lines.join('\n')}`);
    const xml = exp.lines.join('\n');
    expected = /gets: (\S+)/.exec(xml)?.[1] ?? '';
    const env = await lab.browseEnv();

    const publishers: { name: Sample['publisher']; start: () => Promise<Proc> }[] = [
      {
        name: 'provisiond',
        start: async () => {
          const p = lab.spawn(lab.srv, [process.execPath, MAIN, 'run', '--config', cfg, '--log-level', 'info']);
          if (!(await p.waitFor(/mDNS face advertising/, 20_000))) throw new Error(`provisiond did not advertise:\n${p.lines.join('\n')}`);
          // The URL every resolver must get is the one the DHCP face answers on that link.
          const served = await dhcpAsk(lab, lab.cli, l.srvIp, l.cliIp);
          if (served !== expected) throw new Error(`the DHCP face serves ${served}, the export says ${expected}`);
          return p;
        },
      },
      {
        name: 'avahi-daemon',
        start: () => lab.avahi(lab.srv, { name: 'pub', hostName: 'pmdbench', interfaces: [l.srvIf], dbus: false, services: { 'provisioning.service': xml } }),
      },
    ];

    for (let block = 0; block < BLOCKS; block++) {
      for (const pub of publishers) {
        const p = await pub.start();
        await new Promise((r) => setTimeout(r, 4000)); // probing and the announcements are over
        // The wire view, on the client's link: how long each SRV query waits for its answer.
        const fields = ['frame.time_epoch', 'ip.src', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.resp.name', 'dns.resp.type'].flatMap((f) => ['-e', f]);
        const cap = HAVE_TSHARK ? lab.spawn(lab.cli, ['tshark', '-l', '-n', '-i', l.cliIf, '-f', 'udp port 5353', '-T', 'fields', ...fields]) : undefined;
        if (cap && !(await cap.waitFor(/Capturing on/, 20_000))) throw new Error(`tshark did not start: ${cap.lines.join('\n')}`);
        for (let i = 0; i < RUNS / BLOCKS; i++) {
          const run = block * (RUNS / BLOCKS) + i + 1;
          const r = await jmdnsResolve(lab, lab.cli, l.cliIp);
          samples.push({ publisher: pub.name, resolver: 'jmdns', run, resolveMs: r.createMs + r.resolveMs, wallMs: r.wallMs, url: r.orderedUrl });
          // A cold avahi: its own daemon with an empty cache, then one browse.
          const cli = await lab.avahi(lab.cli, { name: 'cli', hostName: 'pmdbcli', interfaces: [l.cliIf], dbus: true });
          const b = lab.spawn(lab.cli, ['timeout', '15', 'avahi-browse', '-rpt', '_https._tcp'], env);
          const hit = await b.waitFor((x) => x.startsWith('=') && x.includes('Provisioning\\032URL'), 12_000);
          const e = hit ? parseBrowseLine(hit.line) : undefined;
          samples.push({ publisher: pub.name, resolver: 'avahi-cold', run, resolveMs: hit ? hit.at - b.started : NaN, wallMs: hit ? hit.at - b.started : NaN, url: e ? clientUrlFromBrowse(e, 'https') : '' });
          await b.stop();
          await cli.stop();
          await new Promise((r) => setTimeout(r, 300));
        }
        if (cap) {
          await new Promise((r) => setTimeout(r, 500)); // the last frames reach tshark
          await cap.stop();
          latencies.push(...answerLatencies(cap.lines, pub.name, l.srvIp, 'Provisioning URL._https._tcp.local'));
          captures[`${pub.name}#${block}`] = cap.lines;
        }
        await p.stop();
        await new Promise((r) => setTimeout(r, 1500)); // goodbyes gone from nobody's cache: every resolver starts fresh anyway
      }
    }
  } finally {
    await lab.down();
  }

  const rows: string[] = [];
  for (const resolver of ['jmdns', 'avahi-cold'] as const) {
    for (const publisher of ['provisiond', 'avahi-daemon'] as const) {
      const s = samples.filter((x) => x.publisher === publisher && x.resolver === resolver);
      const ok = s.filter((x) => x.url === expected);
      const res = ok.map((x) => x.resolveMs);
      const wall = ok.map((x) => x.wallMs);
      const range = res.length ? `${Math.min(...res).toFixed(0)}–${Math.max(...res).toFixed(0)}` : '–';
      rows.push(
        `| ${resolver === 'jmdns' ? 'JmDNS (Jitsi calls)' : 'avahi-browse, cold daemon'} | ${publisher} | ${ok.length}/${s.length} | ${median(res).toFixed(0)} | ${range} | ${resolver === 'jmdns' ? median(wall).toFixed(0) : '–'} |`,
      );
    }
  }
  const latRows: string[] = [];
  for (const questions of [...new Set(latencies.map((x) => x.questions))].sort()) {
    for (const publisher of ['provisiond', 'avahi-daemon'] as const) {
      const xs = latencies.filter((x) => x.publisher === publisher && x.questions === questions).map((x) => x.ms);
      if (xs.length === 0) continue;
      const sorted = [...xs].sort((a, b) => a - b);
      const p90 = sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))] ?? NaN;
      latRows.push(`| ${questions} | ${publisher} | ${xs.length} | ${median(xs).toFixed(1)} | ${p90.toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`);
    }
  }
  const table = [
    `mDNS resolve benchmark: ${new Date().toISOString()}, ${RUNS} runs per cell, ${cpus().length} CPUs, load ${loadavg()[0]?.toFixed(2)}, ${version}, JmDNS ${pkgVersion('libjmdns-java')}`,
    `expected URL: ${expected}`,
    '',
    '| resolver | publisher | exact URL | median ms | min–max ms | median wall ms (JVM start included) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    'On the wire (tshark on the client link): query for the SRV record → first response carrying it',
    '',
    '| questions in the query | publisher | queries answered | median ms | p90 ms | max ms |',
    '|---|---|---|---|---|---|',
    ...latRows,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  const dir = join(ROOT, '.bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `mdns-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ expected, samples, latencies, captures }, null, 1));
  return samples.every((s) => s.url === expected) ? 0 : 1;
}

function pkgVersion(pkg: string): string {
  return spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).stdout.trim() || '?';
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench/mdns: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
