/**
 * The admin listener of a real daemon (dist/src/main.js) in a network namespace of its own: a
 * scrape of GET /metrics passes Debian's `promtool check metrics` and shows a provisioning just
 * made (POST /jitsi, then the counter moved) and a phone's file request by vendor; the counters survive a reload that replaces the
 * HTTP face (http.workers 1 -> 2, whose new face counts from zero); /readyz flips to 503 naming
 * the DHCP face when the DHCP interface loses its address, and back to 200 when it gets it again;
 * every metric the Grafana dashboard (config/grafana-dashboard.json) uses is in a real scrape.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NetnsLab, ip, netnsSkipReason, run, waitFor } from './helpers/netns';
import { startDaemon, type Running } from './helpers/daemon';

const ROOT = join(__dirname, '..', '..');
const skipNs = netnsSkipReason();
const promtool = spawnSync('promtool', ['--version']).status === 0;
const SRV = '10.61.0.1/24';
const KEY = 'acmeKey0123456789abcdefXYZ';

/** sample reads one sample's value from an exposition text (undefined: absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf('{');
    const labelText = brace >= 0 && line.startsWith(`${name}{`) ? line.slice(brace + 1, line.lastIndexOf('}')) : '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('the admin listener of a real daemon in a namespace', { skip: skipNs ?? false, timeout: 240_000 }, () => {
  const lab = new NetnsLab('pvmet');
  let ns = '';
  let dir = '';
  let cfgPath = '';
  let d: Running;

  const config = (workers: number): string =>
    `dhcp: {interfaces: [srv0]}\nmdns: {enabled: false}\nstateDir: ${join(dir, 'state')}\n` +
    `http: {host: 0.0.0.0, port: 8667, workers: ${workers}, rateLimit: {rate: 0}}\n` +
    `admin: {host: 127.0.0.1, port: 8668}\n` +
    `provisioning:\n  tenants:\n    localdomain: {auth: none, rules: [{subject: default, properties: {net.java.sip.communicator.impl.gui.NAME: "lab"}}]}\n` +
    `    acme.example: {auth: url_key, urlKey: ${KEY}}\n` +
    `phones:\n  enabled: true\n  configs:\n    - {id: site, tenant: acme.example, role: default, raw: {sip_proxy_ip: 192.0.2.10}}\n` +
    `  devices:\n    - {mac: "00:15:65:4a:a9:37", tenant: acme.example, profile: yealink, model: T46S}\n`;

  /** curl runs curl in the namespace; it returns the status code and the body. */
  const curl = async (...args: string[]): Promise<{ status: number; body: string }> => {
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-s', '--max-time', '10', '-w', '\n%{http_code}', ...args], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  };
  const scrape = async (): Promise<string> => {
    const r = await curl('http://127.0.0.1:8668/metrics');
    assert.equal(r.status, 200, r.body);
    return r.body;
  };
  const provision = async (): Promise<void> => {
    const r = await curl('-d', 'uuid=0f1e2d3c&hwaddr=02:00:00:00:00:01&osname=Linux', 'http://127.0.0.1:8667/jitsi');
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /impl\.gui\.NAME=lab/);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'provisiond-metrics-'));
    ns = lab.addNamespace('srv');
    const peer = lab.addNamespace('cli');
    lab.link({ ns, ifname: 'srv0', cidr: SRV }, { ns: peer, ifname: 'cli0', cidr: '10.61.0.2/24' });
    cfgPath = join(dir, 'p.yaml');
    writeFileSync(cfgPath, config(1));
    d = startDaemon(['run', '--config', cfgPath], ['ip', 'netns', 'exec', ns]);
    await d.waitForLog('admin listener serving (metrics, health)', 60_000);
  });
  after(async () => {
    if (d && d.child.exitCode === null) {
      d.child.kill('SIGTERM');
      const t = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
      await d.exited;
      clearTimeout(t);
    }
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a scrape passes promtool check metrics, and shows a provisioning just made', async (t) => {
    const first = await scrape();
    assert.equal(sample(first, 'provisiond_build_info'), 1);
    const before = sample(first, 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }) ?? 0;
    await provision();
    const text = await scrape();
    assert.equal(sample(text, 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }), before + 1, text);
    assert.ok((sample(text, 'provisiond_request_duration_seconds_count', { face: 'http' }) ?? 0) >= 1);
    assert.ok((sample(text, 'provisiond_render_duration_seconds_count', { face: 'http' }) ?? 0) >= 1);
    assert.equal(sample(text, 'provisiond_inventory_devices', { kind: 'jitsi' }), 1);
    assert.equal(sample(text, 'provisiond_face_up', { face: 'dhcp' }), 1);
    // No per-device, per-address or per-user label anywhere.
    assert.doesNotMatch(text, /0f1e2d3c|02:00:00:00:00:01|10\.61\.0\.|127\.0\.0\.1/);
    if (!promtool) {
      t.skip("promtool is absent (Debian's prometheus package: scripts/install-test-deps.sh)");
      return;
    }
    const r = await run('promtool', ['check', 'metrics'], { timeoutMs: 20_000, input: text });
    assert.equal(r.code, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'promtool reported problems');
  });

  test('a phone file request counts by vendor, never by MAC', async () => {
    const r = await curl('-A', 'Yealink SIP-T46S 66.86.0.15 00:15:65:4a:a9:37', `http://127.0.0.1:8667/${KEY}/0015654aa937.cfg`);
    assert.equal(r.status, 200, r.body);
    const text = await scrape();
    const vendor = text.split('\n').filter((l) => l.startsWith('provisiond_phone_requests_total{'));
    assert.equal(vendor.length, 1, text);
    assert.match(vendor[0] ?? '', /^provisiond_phone_requests_total\{vendor="yealink",outcome="[a-z-]+"\} 1$/);
    assert.ok((sample(text, 'provisiond_requests_total', { face: 'phones', status: '200' }) ?? 0) === 1, text);
    assert.equal(sample(text, 'provisiond_inventory_devices', { kind: 'phone' }), 1);
    assert.doesNotMatch(text, /0015654aa937|00:15:65|acmeKey/);
  });

  test('every metric the Grafana dashboard uses is in a real scrape', async () => {
    const text = await scrape();
    const types = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] ?? '', m[2] ?? '');
    const dash = JSON.parse(readFileSync(join(ROOT, 'config', 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const used = new Set<string>();
    for (const p of dash.panels) for (const target of p.targets) for (const m of target.expr.matchAll(/\b(provisiond_[a-z0-9_]+)/g)) used.add(m[1] ?? '');
    assert.ok(used.size >= 10, `the dashboard uses ${used.size} metrics`);
    const missing = [...used].filter((name) => {
      if (types.has(name)) return false;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return types.get(base) !== 'histogram';
    });
    assert.deepEqual(missing, [], `dashboard metrics absent from the scrape: ${missing.join(', ')}`);
  });

  test('/healthz answers, /readyz flips to 503 when the DHCP interface loses its address, and back', async () => {
    assert.equal((await curl('http://127.0.0.1:8668/healthz')).status, 200);
    const ok = await curl('http://127.0.0.1:8668/readyz');
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { ready: boolean }).ready, true);

    ip('-n', ns, 'addr', 'del', SRV, 'dev', 'srv0');
    const down = await curl('http://127.0.0.1:8668/readyz');
    assert.equal(down.status, 503, down.body);
    const body = JSON.parse(down.body) as { ready: boolean; faces: Record<string, { ready: boolean; reason?: string }>; store: { ready: boolean } };
    assert.equal(body.ready, false);
    assert.equal(body.faces['dhcp']?.ready, false);
    assert.match(body.faces['dhcp']?.reason ?? '', /srv0 \(10\.61\.0\.1\)/);
    assert.equal(body.faces['http']?.ready, true);
    assert.equal(body.store.ready, true);
    assert.equal(sample(await scrape(), 'provisiond_face_up', { face: 'dhcp' }), 0);

    ip('-n', ns, 'addr', 'add', SRV, 'dev', 'srv0');
    const back = await curl('http://127.0.0.1:8668/readyz');
    assert.equal(back.status, 200, back.body);
  });

  test('counters never go down across a reload that replaces the HTTP face', async () => {
    await provision();
    const before = await scrape();
    const served = sample(before, 'provisiond_face_events_total', { face: 'http', event: 'status:200' }) ?? 0;
    const provisioned = sample(before, 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }) ?? 0;
    assert.ok(served >= 2, before);
    // http.workers 1 -> 2: the daemon replaces the HTTP face, whose counters start from zero.
    writeFileSync(cfgPath, config(2));
    d.child.kill('SIGHUP');
    await d.waitForLog('configuration reloaded', 60_000);
    await waitFor('the HTTP workers to serve', async () => ((await curl('http://127.0.0.1:8668/readyz')).status === 200 ? true : undefined), 60_000, 250);
    const after = await scrape();
    assert.ok((sample(after, 'provisiond_face_events_total', { face: 'http', event: 'status:200' }) ?? 0) >= served, `status:200 went down:\n${after}`);
    assert.equal(sample(after, 'provisiond_requests_total', { face: 'http', status: '200', outcome: 'ok' }), provisioned);
    // And it keeps counting on top: a request served by a worker moves the carried counter.
    await provision();
    await waitFor('the worker\'s counters to reach the scrape', async () => ((sample(await scrape(), 'provisiond_face_events_total', { face: 'http', event: 'status:200' }) ?? 0) > served ? true : undefined), 20_000, 250);
  });
});
