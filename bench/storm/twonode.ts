/**
 * bench/storm/twonode.ts: two provisiond nodes sharing one PostgreSQL behind a load balancer
 * (nginx from Debian), against one node on the same PostgreSQL server, in the same run (issue
 * 16, item 5).
 *
 *   node scripts/ensure.mjs && node dist/bench/storm/twonode.js [N=1000] [scryptCost=product default] [rampMs=0]
 *        [--generators=2] [--max-connections=4000] [--deadline=120] [--no-record]
 *
 * Runs as root in two network namespaces it creates (pmd<pid>tn{s,c}; always deleted) and a
 * PostgreSQL server in a temporary directory (the test harness's, test/helpers/postgres.ts; the
 * nodes reach it over its unix socket, which crosses namespaces). In the server namespace: nodes
 * A and B (HTTP only) on one database, nginx balancing round-robin over them and setting
 * X-Forwarded-For (`http.trustedProxies` lists it, so bans and per-source limits see each
 * client's own address), and later node S, alone, on a database of its own on the same server.
 * In the client namespace, the generators (twoclient.ts) play N clients, each from its own
 * source address (the namespace routes 10.239.0.0/16 to itself), each POSTing its own user's
 * login as the Jitsi client does and checking the document is its own.
 *
 * For each configuration (the pair behind nginx, then the single node), passes:
 *  - cold: the first logins after start (every password through scrypt), measured;
 *  - a warm-up (not measured): clients that failed start over until every login is verified once;
 *  - warm: measured (round-robin sends a client to the other node than last time, which answers
 *    from the remembered row in the store, or from its own cache);
 *  - restart: node A (or S) is stopped and started again, then a measured warm pass: the
 *    restarted node answers from the remembered rows (its KDF runs are printed, 0 expected).
 * Then, on the pair, bans across nodes: one source fails maxRetry logins on node A directly and
 * is banned there; node B refuses it (after its next read of the shared rows; the time is
 * printed) and so does nginx; `provisiond bans lift` on node A ends it, and a second later node B
 * serves it again.
 *
 * Prints per configuration and pass: clients served, errors, throughput (served / the pass's
 * completion time), p50 and p99 over all clients (a failure counted at the 10 s timeout), KDF
 * runs and remembered hits per node, and the ratio pair / single; then one JSON line (also
 * appended to .bench-results/twonode.jsonl unless --no-record). Both configurations share the
 * box's cores: the pair shows what the load balancer and the shared store cost and that the
 * nodes share state, not the capacity two hosts would add.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Lab, Proc, ROOT } from '../../test/helpers/mdns-lab';
import { MAIN } from '../../test/helpers/daemon';
import { startPostgres } from '../../test/helpers/postgres';
import { parseConfigText } from '../../src/config/load';
import { userHashes } from './hashes';
import { summarize, formatMs, USER_PROPERTY, USER_TEMPLATE, type Summary } from './summary';
import { TWO_HTTP_TIMEOUT_MS, formOf, type OneShot, type TwoClientArgs, type TwoClientResult } from './twoclient';

type Counters = Record<string, number>;

/** NGINX is Debian's nginx (scripts/install-test-deps.sh installs nginx-light). */
export const NGINX = '/usr/sbin/nginx';

/** Addressing in the server namespace: nginx, the pair's nodes, the single node (ports below the ephemeral range the run sets, 10000-65000). */
const SRV_IP = '10.238.1.1';
const LB_PORT = 8080;
const PORT_A = 8081;
const PORT_B = 8082;
const PORT_S = 8090;
/** MALLORY is the source the ban demonstration uses (outside the clients' addresses for N < 62 500). */
const MALLORY = '10.239.255.1';
/** PROBE is the source of the readiness probes. */
const PROBE = '10.239.255.254';

interface Options {
  readonly n: number;
  readonly cost: number;
  readonly rampMs: number;
  readonly generators: number;
  readonly maxConnections: number;
  readonly deadlineS: number;
  readonly record: boolean;
}

const DEFAULTS = parseConfigText('', 'defaults.yaml');

function parseArgs(argv: readonly string[]): Options {
  const pos = argv.filter((a) => !a.startsWith('--'));
  const flag = (name: string, dflt: number): number => {
    const v = argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
    return v === undefined || !Number.isFinite(Number(v)) ? dflt : Number(v);
  };
  const productCost = DEFAULTS.provisioning.passwords.scryptCost;
  return {
    n: Math.max(1, Math.min(60_000, Number(pos[0] ?? 1000) || 1000)),
    cost: Math.max(10, Math.min(20, Number(pos[1] ?? productCost) || productCost)),
    rampMs: Math.max(0, Math.min(600_000, Number(pos[2] ?? 0) || 0)),
    generators: Math.max(1, Math.min(8, flag('generators', 2))),
    maxConnections: Math.max(1, flag('max-connections', 4000)),
    deadlineS: Math.max(20, Math.min(3600, flag('deadline', 120))),
    record: !argv.includes('--no-record'),
  };
}

function flatten(stats: Record<string, Record<string, number>>): Counters {
  const out: Counters = {};
  for (const [face, c] of Object.entries(stats)) for (const [k, v] of Object.entries(c)) out[`${face}.${k}`] = v;
  return out;
}

/** counters asks a node for its counters (SIGUSR1) and reads the log line it writes. */
async function counters(d: Proc): Promise<Counters> {
  const from = d.lines.length;
  d.child.kill('SIGUSR1');
  const hit = await d.waitFor((l) => l.includes('"msg":"counters"'), 60_000, from);
  if (!hit) throw new Error(`a node did not log its counters within 60 s of SIGUSR1:\n${d.lines.slice(-5).join('\n')}`);
  return flatten((JSON.parse(hit.line) as { stats: Record<string, Record<string, number>> }).stats);
}

function delta(after: Counters, before: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

function run(argv: readonly string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim()}`);
}

/** PassReport is one measured pass of one configuration. */
interface PassReport {
  readonly name: string;
  readonly ok: number;
  readonly errors: Counters;
  readonly completionMs: number;
  /** throughput: clients served per second of the pass (first start to last answer). */
  readonly throughput: number;
  readonly client: Summary;
  /** nodes: each node's counter deltas over the pass that matter here. */
  readonly nodes: Record<string, { kdfRuns: number; rememberedHits: number; rememberedDropped: number; rememberedLookupErrors: number }>;
}

/** Node is one running provisiond. */
interface Node {
  name: string;
  cfg: string;
  proc: Proc;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  const nginxCheck = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  if (nginxCheck.status !== 0) throw new Error(`${NGINX} is missing (Debian nginx-light: bash scripts/install-test-deps.sh)`);
  const d = DEFAULTS;
  const changes = [
    `dhcp.enabled, mdns.enabled: on → off: the load balancer is in front of the HTTP faces; DHCP and mDNS answers are the same on every node and have their own benches`,
    `http.maxConnections: ${d.http.maxConnections} → 100000: every client holds its own connection (a cold pass keeps up to N waiting for the KDF); the generators bound theirs (--max-connections)`,
    ...(o.cost !== d.provisioning.passwords.scryptCost ? [`provisioning.passwords.scryptCost: ${d.provisioning.passwords.scryptCost} → ${o.cost}: asked for on the command line`] : []),
    ...(o.n > d.provisioning.passwords.cacheSize ? [`provisioning.passwords.cacheSize: ${d.provisioning.passwords.cacheSize} → ${o.n}: every user fits in the memory cache`] : []),
    `kept: bans (maxRetry ${d.http.bans.maxRetry}), per-source rate limits and caps, device quotas, remembered logins (each client is its own source address)`,
  ];
  process.stdout.write(
    [
      `# two nodes + PostgreSQL behind nginx, against one node on the same PostgreSQL: ${o.n} clients, scrypt ln=${o.cost} (product ln=${d.provisioning.passwords.scryptCost}), ramp ${o.rampMs} ms, ${o.generators} generators of ≤ ${o.maxConnections} connections, HTTP timeout ${TWO_HTTP_TIMEOUT_MS / 1000} s`,
      '# product defaults this bench changes:',
      ...changes.map((c) => `#   ${c}`),
      '',
    ].join('\n'),
  );
  const hashes = await userHashes(o.n, o.cost, o.record);
  const pg = await startPostgres();
  if (typeof pg === 'string') throw new Error(pg);
  const lab = new Lab('tn', 1, 238);
  const link = lab.links[0] as (typeof lab.links)[0];
  // Interrupted: stop what this run started (nodes, nginx, generators, namespaces, the server).
  const interrupted = (): void => {
    void lab.down().finally(() => {
      pg.stop();
      process.exit(130);
    });
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    lab.up();
    // Every client its own address: the client namespace answers for the whole /16 (AnyIP).
    run(['ip', '-n', lab.cli, 'route', 'add', 'local', '10.239.0.0/16', 'dev', 'lo']);
    run(['ip', '-n', lab.srv, 'route', 'add', '10.239.0.0/16', 'via', link.cliIp]);
    for (const ns of [lab.srv, lab.cli]) {
      run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=10000 65000', 'net.ipv4.tcp_tw_reuse=1', 'net.core.somaxconn=65535', 'net.ipv4.tcp_max_syn_backlog=65535']);
    }
    const users = hashes.map((h, i) => `        u${i}: {password: "${h}"}`).join('\n');
    const rememberKey = `${randomBytes(48).toString('base64')}\n`;
    const nodeConfig = (name: string, url: string, port: number, proxied: boolean): string => {
      const state = join(lab.dir, `${name}-state`);
      mkdirSync(state, { recursive: true, mode: 0o700 });
      // The nodes of one site share the remembered-login key (README, Security).
      writeFileSync(join(state, 'remember.key'), rememberKey, { mode: 0o600 });
      const file = join(lab.dir, `${name}.yaml`);
      writeFileSync(
        file,
        `stateDir: ${state}\nlog: {level: info}\ndhcp: {enabled: false}\nmdns: {enabled: false}\nstore: {url: '${url}'}\n` +
          `http: {host: ${SRV_IP}, port: ${port}, maxConnections: 100000${proxied ? `, trustedProxies: [${SRV_IP}/32]` : ''}}\n` +
          `provisioning:\n  defaultDomain: example.com\n  passwords: {scryptCost: ${o.cost}${o.n > d.provisioning.passwords.cacheSize ? `, cacheSize: ${o.n}` : ''}}\n  tenants:\n    example.com:\n      users:\n${users}\n` +
          `      rules:\n        - subject: default\n          properties:\n            net.java.sip.communicator.impl.protocol.sip.acc1: acc1\n            ${USER_PROPERTY}: "${USER_TEMPLATE}"\n`,
      );
      return file;
    };
    const launch = async (name: string, cfg: string): Promise<Node> => {
      const p = lab.spawn(lab.srv, [process.execPath, process.env['PROVISIOND'] ?? MAIN, 'run', '--config', cfg]);
      const started = await p.waitFor((x) => x.includes('"msg":"provisiond started"'), 300_000);
      if (!started) throw new Error(`node ${name} did not start:\n${p.lines.slice(-20).join('\n')}`);
      return { name, cfg, proc: p };
    };
    const script = join(__dirname, 'twoclient.js');
    /** exec runs a command without blocking this process (it must keep reading the nodes' log pipes). */
    const exec = (argv: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const c = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (x: Buffer) => void (stdout += x.toString('utf8')));
        c.stderr.on('data', (x: Buffer) => void (stderr += x.toString('utf8')));
        const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
        c.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    /** one sends one POST from `src` in the client namespace and returns its status (or error). */
    const one = async (url: string, body: string, src: string): Promise<string> => {
      const arg: OneShot = { url, body, src };
      const r = await exec(['ip', 'netns', 'exec', lab.cli, process.execPath, script, '--one', JSON.stringify(arg)]);
      return /STATUS (\S+)/.exec(r.stdout)?.[1] ?? `no-status(${r.stderr.trim().slice(0, 200)})`;
    };
    const ready = async (url: string): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        const s = await one(`${url}/ready-probe`, 'x=1', PROBE);
        if (/^\d+$/.test(s) && s !== '502') return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${url} did not answer`);
    };
    const generators = (url: string, warmup: boolean): Promise<{ results: TwoClientResult[]; startAt: number }> => {
      const startAt = Date.now() + 1500;
      const deadlineAt = startAt + o.rampMs + (warmup ? 3600 : o.deadlineS) * 1000;
      return Promise.all(
        Array.from({ length: o.generators }, (_, index) => {
          const a: TwoClientArgs = { n: o.n, index, count: o.generators, url, startAt, rampMs: o.rampMs, deadlineAt, maxConnections: warmup ? 8 : o.maxConnections, warmup };
          return new Promise<TwoClientResult>((resolve, reject) => {
            const c = spawn('ip', ['netns', 'exec', lab.cli, process.execPath, script, JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            c.stdout.on('data', (b: Buffer) => void (out += b.toString('utf8')));
            c.stderr.on('data', (b: Buffer) => void (err += b.toString('utf8')));
            const timer = setTimeout(() => c.kill('SIGKILL'), Math.max(0, deadlineAt - Date.now()) + 60_000);
            c.on('close', () => {
              clearTimeout(timer);
              const line = out.split('\n').find((x) => x.startsWith('RESULT '));
              try {
                if (line === undefined) throw new Error('no RESULT line');
                resolve(JSON.parse(line.slice(7)) as TwoClientResult);
              } catch (e) {
                reject(new Error(`generator ${index} failed (${e instanceof Error ? e.message : String(e)}):\n${out.slice(-2000)}\n${err.slice(-2000)}`));
              }
            });
          });
        }),
      ).then((results) => ({ results, startAt }));
    };
    const measure = async (name: string, url: string, nodes: readonly Node[], warmup = false): Promise<PassReport> => {
      const before = await Promise.all(nodes.map((n) => counters(n.proc)));
      const { results, startAt } = await generators(url, warmup);
      const after = await Promise.all(nodes.map((n) => counters(n.proc)));
      const ok: number[] = [];
      const failed: number[] = [];
      const errors: Counters = {};
      for (const r of results) {
        ok.push(...r.ok);
        failed.push(...r.failed);
        for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
      }
      const completionMs = Math.max(...results.map((r) => r.finishAt)) - startAt;
      const per: PassReport['nodes'] = {};
      nodes.forEach((n, k) => {
        const dd = delta(after[k] ?? {}, before[k] ?? {});
        // remembered-dropped:*: verifications that were not written to the store (a later login needs the KDF again).
        const dropped = Object.entries(dd).reduce((sum, [k, v]) => (k.startsWith('http.remembered-dropped') ? sum + v : sum), 0);
        // remembered-lookup-errors: lookups the store refused (saturated, down): those logins ran the KDF.
        per[n.name] = { kdfRuns: dd['http.kdf-runs'] ?? 0, rememberedHits: dd['http.remembered-hits'] ?? 0, rememberedDropped: dropped, rememberedLookupErrors: dd['http.remembered-lookup-errors'] ?? 0 };
      });
      return { name, ok: ok.length, errors, completionMs, throughput: Math.round((ok.length / Math.max(0.001, completionMs / 1000)) * 10) / 10, client: summarize({ ok, failed }, TWO_HTTP_TIMEOUT_MS), nodes: per };
    };
    const line = (config: string, r: PassReport): string => {
      const errs = Object.entries(r.errors).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
      const nodes = Object.entries(r.nodes).map(([k, v]) => `${k}: ${v.kdfRuns} KDF runs, ${v.rememberedHits} remembered hits, ${v.rememberedDropped} not remembered (dropped), ${v.rememberedLookupErrors} lookup errors`).join('; ');
      return `# ${config}, ${r.name}: ${r.ok}/${o.n} served, errors: ${errs}; ${r.throughput} clients/s (completion ${formatMs(r.completionMs)}); p50 ${formatMs(r.client.p50)}, p99 ${formatMs(r.client.p99)}; ${nodes}\n`;
    };

    const passes = async (config: string, url: string, nodes: Node[], restartable: Node, restart: () => Promise<Node>): Promise<PassReport[]> => {
      const out: PassReport[] = [];
      const cold = await measure('cold', url, nodes);
      out.push(cold);
      process.stdout.write(line(config, cold));
      const wu = await measure('warm-up (not measured; failed clients start over)', url, nodes, true);
      process.stdout.write(line(config, wu));
      const warm = await measure('warm', url, nodes);
      out.push(warm);
      process.stdout.write(line(config, warm));
      await restartable.proc.stop(10_000);
      const fresh = await restart();
      nodes[nodes.indexOf(restartable)] = fresh;
      await ready(url);
      const after = await measure(`warm after restarting node ${fresh.name}`, url, nodes);
      out.push(after);
      process.stdout.write(line(config, after));
      return out;
    };

    // The pair: nodes A and B on one database, nginx in front.
    const pairUrl = await pg.createDb('pair');
    const cfgA = nodeConfig('A', pairUrl, PORT_A, true);
    const cfgB = nodeConfig('B', pairUrl, PORT_B, true);
    const a = await launch('A', cfgA);
    const b = await launch('B', cfgB);
    const ngDir = join(lab.dir, 'nginx');
    mkdirSync(ngDir);
    const ngConf = join(ngDir, 'nginx.conf');
    writeFileSync(
      ngConf,
      `user root;\nworker_processes 1;\ndaemon off;\npid ${ngDir}/nginx.pid;\nerror_log ${ngDir}/error.log warn;\nworker_rlimit_nofile 200000;\nevents { worker_connections 60000; }\n` +
        `http {\n  access_log off;\n  client_body_temp_path ${ngDir}/body;\n  proxy_temp_path ${ngDir}/proxy;\n  fastcgi_temp_path ${ngDir}/fastcgi;\n  uwsgi_temp_path ${ngDir}/uwsgi;\n  scgi_temp_path ${ngDir}/scgi;\n` +
        `  upstream provisiond {\n    server ${SRV_IP}:${PORT_A} max_fails=0;\n    server ${SRV_IP}:${PORT_B} max_fails=0;\n    keepalive 128;\n    keepalive_timeout 2s;\n  }\n` +
        `  server {\n    listen ${SRV_IP}:${LB_PORT} backlog=65535;\n    location / {\n      proxy_pass http://provisiond;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n` +
        `      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_read_timeout 60s;\n    }\n  }\n}\n`,
    );
    const ng = lab.spawn(lab.srv, [NGINX, '-e', join(ngDir, 'error.log'), '-c', ngConf]);
    const lb = `http://${SRV_IP}:${LB_PORT}`;
    await ready(lb);
    const pairNodes = [a, b];
    const pair = await passes('2 nodes behind nginx', `${lb}/jitsi`, pairNodes, a, () => launch('A', cfgA));

    // Bans across nodes: maxRetry failures on node A directly, then B, nginx, a lift on A.
    const maxRetry = d.http.bans.maxRetry;
    const urlA = `http://${SRV_IP}:${PORT_A}/jitsi`;
    const urlB = `http://${SRV_IP}:${PORT_B}/jitsi`;
    const failures: string[] = [];
    for (let k = 0; k < maxRetry; k++) failures.push(await one(urlA, formOf(0, 'wrong', `mallory${k}`), MALLORY));
    const onA = await one(urlA, formOf(0), MALLORY);
    const t0 = performance.now();
    const onB: string[] = [];
    for (let i = 0; i < 40 && onB.at(-1) !== '429'; i++) {
      onB.push(await one(urlB, formOf(0), MALLORY));
      if (onB.at(-1) !== '429') await new Promise((r) => setTimeout(r, 100));
    }
    const refusedOnBMs = Math.round(performance.now() - t0);
    const viaLb = [await one(`${lb}/jitsi`, formOf(0), MALLORY), await one(`${lb}/jitsi`, formOf(0), MALLORY)];
    const lift = await exec([process.execPath, MAIN, 'bans', 'lift', MALLORY, '--config', cfgA]);
    await new Promise((r) => setTimeout(r, 1100)); // node B's next read of the shared rows is due
    const afterLiftB = await one(urlB, formOf(0), MALLORY);
    const afterLiftLb = [await one(`${lb}/jitsi`, formOf(0), MALLORY), await one(`${lb}/jitsi`, formOf(0), MALLORY)];
    const bans = {
      failuresOnA: failures,
      onA,
      onB,
      refusedOnBMs,
      viaLb,
      lift: lift.code,
      afterLiftB,
      afterLiftLb,
      effective: onA === '429' && onB.at(-1) === '429' && viaLb.every((s) => s === '429') && lift.code === 0 && afterLiftB === '200' && afterLiftLb.every((s) => s === '200'),
    };
    process.stdout.write(
      `# bans across nodes: ${maxRetry} failed logins from ${MALLORY} on node A (${failures.join(' ')}), then on A: ${onA}; on node B: ${onB.join(' ')} (${refusedOnBMs} ms until refused); through nginx: ${viaLb.join(' ')}; ` +
        `\`provisiond bans lift\` on A: exit ${lift.code}; 1.1 s later on node B: ${afterLiftB}, through nginx: ${afterLiftLb.join(' ')} → ${bans.effective ? 'effective on both nodes' : 'NOT effective'}\n\n`,
    );
    await ng.stop(5000);
    await Promise.all(pairNodes.map((n) => n.proc.stop(10_000)));

    // The single node, on a database of its own on the same server.
    const singleUrl = await pg.createDb('single');
    const cfgS = nodeConfig('S', singleUrl, PORT_S, false);
    const s = await launch('S', cfgS);
    const single = await passes('1 node', `http://${SRV_IP}:${PORT_S}/jitsi`, [s], s, () => launch('S', cfgS));

    process.stdout.write('\n| pass | configuration | served | errors | clients/s | p50 | p99 | KDF runs | remembered hits |\n|---|---|---|---|---|---|---|---|---|\n');
    const row = (config: string, r: PassReport): string => {
      const errs = Object.entries(r.errors).map(([k, v]) => `${v} ${k}`).join(', ') || '0';
      const kdf = Object.entries(r.nodes).map(([k, v]) => `${k} ${v.kdfRuns}`).join(', ');
      const rem = Object.entries(r.nodes).map(([k, v]) => `${k} ${v.rememberedHits}`).join(', ');
      return `| ${r.name} | ${config} | ${r.ok}/${o.n} | ${errs} | ${r.throughput} | ${formatMs(r.client.p50)} | ${formatMs(r.client.p99)} | ${kdf} | ${rem} |\n`;
    };
    const ratios: { pass: string; throughput: number; p99: number }[] = [];
    pair.forEach((p, k) => {
      const one1 = single[k];
      if (!one1) return;
      process.stdout.write(row('2 nodes + nginx', p) + row('1 node', one1));
      ratios.push({ pass: p.name, throughput: Math.round((p.throughput / Math.max(0.001, one1.throughput)) * 100) / 100, p99: Math.round((p.client.p99 / Math.max(0.001, one1.client.p99)) * 100) / 100 });
    });
    process.stdout.write(`\n# ratio 2 nodes / 1 node: ${ratios.map((r) => `${r.pass}: throughput ×${r.throughput}, p99 ×${r.p99}`).join('; ')}\n`);
    const out = {
      at: new Date().toISOString(),
      commit: spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      n: o.n,
      scrypt: `ln=${o.cost} r=8 p=1`,
      rampMs: o.rampMs,
      generators: o.generators,
      changes,
      pair,
      single,
      ratios,
      bans,
    };
    const json = JSON.stringify(out);
    process.stdout.write(`${json}\n`);
    if (o.record) {
      mkdirSync(join(ROOT, '.bench-results'), { recursive: true });
      appendFileSync(join(ROOT, '.bench-results', 'twonode.jsonl'), `${json}\n`);
    }
    if (!bans.effective) process.exitCode = 2;
  } finally {
    await lab.down();
    pg.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
