/**
 * run.ts: `provisiond probe`: discover the provisioning URL like the Jitsi client, substitute
 * this host's values, POST the form, parse the properties, and report each step with its timing.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { dhcpDiscover, mdnsDiscover, sourceAddressToward, hostNameOf, request, type HttpOutcome, type ProbeAddress, type TlsOptions } from './net';
import { substitute, planPost, formBody, placeholders, javaOsName, javaArch, nextRedirect, type HostValues } from './request';
import { parseProperties, applyPrefixes } from './properties';

/** StepName names a step; the exit code of its failure is in STEP_EXIT. */
export type StepName = 'dhcp' | 'bonjour' | 'url' | 'http' | 'properties';

/** STEP_EXIT is the exit code of a probe whose first failing step is the key (README.md). */
export const STEP_EXIT: Readonly<Record<StepName, number>> = { dhcp: 10, bonjour: 11, url: 12, http: 13, properties: 14 };

/** Step is one line of the report. */
export interface Step {
  readonly step: StepName;
  readonly ok: boolean;
  readonly ms: number;
  readonly summary: string;
  readonly findings: Readonly<Record<string, unknown>>;
}

/** ProbeOptions are the command's options. */
export interface ProbeOptions {
  readonly method: 'dhcp' | 'bonjour' | 'both';
  readonly username?: string;
  readonly password?: string;
  readonly interface?: string;
  readonly userAgent: string;
  readonly build: string;
  /** url skips discovery: this provisioning URL (a template, as DHCP/mDNS would serve it) is fetched. */
  readonly url?: string;
  /** tls: extra trusted CA certificates, or any certificate accepted. */
  readonly tls?: TlsOptions;
  /** uuid is the value of ${uuid} (default: a random one, as a fresh client install). */
  readonly uuid?: string;
}

/** ProbeReport is the whole result; failed names the first failing step. */
export interface ProbeReport {
  readonly ok: boolean;
  readonly failed: StepName | undefined;
  readonly steps: readonly Step[];
  /** document is the body of the 200 answer (printed with --show). */
  readonly document?: string;
}

/** probeAddresses lists (interface, IPv4, MAC) as the client's interface loop does, or one interface's. */
export function probeAddresses(ifname: string | undefined): ProbeAddress[] | string {
  const all = os.networkInterfaces();
  const out: ProbeAddress[] = [];
  for (const [name, list] of Object.entries(all)) {
    if (ifname !== undefined && name !== ifname) continue;
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      out.push({ ifname: name, address: a.address, mac: a.mac === '00:00:00:00:00:00' ? undefined : a.mac });
    }
  }
  if (ifname !== undefined && out.length === 0) return `interface ${ifname} does not exist or has no IPv4 address`;
  return out;
}

function macOf(ip: string): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.address === ip && a.mac !== '00:00:00:00:00:00') return a.mac.toLowerCase();
  }
  return undefined;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, Math.round(performance.now() - t0)];
}

/** runProbe runs the steps in order and stops at the first failure. */
export async function runProbe(o: ProbeOptions): Promise<ProbeReport> {
  const steps: Step[] = [];
  const fail = (s: Step): ProbeReport => {
    steps.push(s);
    return { ok: false, failed: s.step, steps };
  };
  const addrs = probeAddresses(o.interface);
  let url: string | undefined = o.url;
  const discover = o.url === undefined;
  if (discover && (o.method === 'dhcp' || o.method === 'both')) {
    if (typeof addrs === 'string') return fail({ step: 'dhcp', ok: false, ms: 0, summary: addrs, findings: {} });
    const [d, ms] = await timed(() => dhcpDiscover(addrs));
    const base = { xid: `0x${d.xid.toString(16).padStart(8, '0')}`, informsSent: d.sent, ignoredDatagrams: d.ignored, from: addrs.map((a) => `${a.ifname} ${a.address}`) };
    if (!d.ok) return fail({ step: 'dhcp', ok: false, ms, summary: d.error, findings: base });
    steps.push({ step: 'dhcp', ok: true, ms, summary: `${d.from} answered: ${d.url}${d.warnings.length > 0 ? `; warning: ${d.warnings.join('; ')}` : ''}`, findings: { ...base, server: d.from, url: d.url, warnings: d.warnings } });
    url = d.url;
  }
  if (discover && (o.method === 'bonjour' || o.method === 'both')) {
    const iface = typeof addrs === 'string' || o.interface === undefined ? undefined : addrs[0]?.address;
    if (typeof addrs === 'string') return fail({ step: 'bonjour', ok: false, ms: 0, summary: addrs, findings: {} });
    const [m, ms] = await timed(() => mdnsDiscover(iface));
    if (!m.ok) return fail({ step: 'bonjour', ok: false, ms, summary: m.error, findings: {} });
    steps.push({
      step: 'bonjour',
      ok: true,
      ms,
      summary: `${m.from} answered (${m.type}): ${m.url}`,
      findings: { responder: m.from, type: m.type, url: m.url, target: m.resolution.target, port: m.resolution.port, addresses: m.resolution.ipv4, txt: m.resolution.txt },
    });
    url ??= m.url;
  }
  if (url === undefined) return fail({ step: 'url', ok: false, ms: 0, summary: 'no URL was discovered', findings: {} });
  // url: substitute this host's values, move the query into the form.
  const t0 = performance.now();
  let host: string;
  try {
    host = new URL(url).hostname; // the client parses (and resolves) the raw template's host first
  } catch {
    return fail({ step: 'url', ok: false, ms: 0, summary: `the discovered URL is not a valid URL: ${JSON.stringify(url)}`, findings: { url } });
  }
  const src = await sourceAddressToward(host);
  if (src === undefined) return fail({ step: 'url', ok: false, ms: Math.round(performance.now() - t0), summary: `the URL's host ${host} does not resolve to an IPv4 address`, findings: { url } });
  const values: HostValues = {
    env: process.env,
    homeLocation: os.homedir(),
    homeName: '.jitsi',
    uuid: o.uuid ?? randomUUID(),
    osname: javaOsName(os.type(), os.release()),
    arch: javaArch(process.arch),
    resx: '1920',
    resy: '1080',
    build: o.build,
    locale: '',
    ipaddr: src.address,
    // The reverse lookup (up to ~5 s without a resolver) only when the URL asks for ${hostname}.
    hostname: !url.includes('${hostname}') ? '' : os.platform() === 'win32' ? (process.env['COMPUTERNAME'] ?? os.hostname()) : await hostNameOf(src.address),
    hwaddr: macOf(src.address),
  };
  const substituted = substitute(url, values);
  const plan = planPost(substituted, o.username, o.password);
  const body = formBody(plan.params);
  try {
    new URL(plan.target);
  } catch {
    return fail({ step: 'url', ok: false, ms: Math.round(performance.now() - t0), summary: `the request target is not a valid URL: ${JSON.stringify(plan.target)}`, findings: { url: substituted } });
  }
  const shownParams = plan.params.map(([k, v]) => [k, o.password !== undefined && v === o.password && plan.credentials ? "(hidden)" : v]);
  steps.push({
    step: 'url',
    ok: true,
    ms: Math.round(performance.now() - t0),
    summary: `POST ${plan.target} with ${plan.params.length} form parameter(s)${plan.credentials ? `, credentials ${o.username === undefined ? 'asked for but not given (sent empty)' : `for ${o.username}`}` : ''}`,
    findings: { template: url, placeholders: placeholders(url), target: plan.target, params: shownParams, credentialsRequested: plan.credentials, ipaddr: src.address, hwaddr: values.hwaddr ?? null, uuid: values.uuid },
  });
  // http: the POST, then the redirects the client would follow (each a GET).
  const hops: { status: number; url: string; note?: string }[] = [];
  /** notFollowed: why the last 3xx was not followed, as the client would not follow it. */
  let notFollowed: string | undefined;
  const [h, hms] = await timed(async (): Promise<HttpOutcome> => {
    let at = plan.target;
    let r = await request(at, body, o.userAgent, o.tls);
    while (r.ok && r.status >= 300 && r.status < 400) {
      const next = nextRedirect(r.status, r.location, at, hops.length + 1);
      if (!next.follow) {
        notFollowed = next.reason;
        return r;
      }
      hops.push({ status: r.status, url: next.url, ...(next.note === undefined ? {} : { note: next.note }) });
      at = next.url;
      r = await request(at, undefined, o.userAgent, o.tls);
    }
    return r;
  });
  const via = hops.length === 0 ? '' : ` after ${hops.length} redirect(s): ${hops.map((x) => `${x.status} → ${x.url}`).join(', ')}`;
  const notes = hops.flatMap((x) => (x.note === undefined ? [] : [x.note]));
  if (o.tls?.insecure === true && [plan.target, ...hops.map((x) => x.url)].some((u) => u.startsWith('https:'))) notes.push('the server certificate was not checked (--insecure)');
  if (!h.ok) return fail({ step: 'http', ok: false, ms: hms, summary: `POST ${plan.target}${via} failed: ${h.error}`, findings: { redirects: hops } });
  if (h.status !== 200) {
    const why =
      notFollowed !== undefined
        ? ` (${notFollowed})`
        : h.status === 401 || h.status === 403
          ? ' (the client clears its stored credentials and asks again)'
          : ' (the client treats anything but 200 as a failure)';
    return fail({ step: 'http', ok: false, ms: hms, summary: `HTTP ${h.status}${via}${why}`, findings: { status: h.status, redirects: hops } });
  }
  steps.push({
    step: 'http',
    ok: true,
    ms: hms,
    summary: `HTTP 200, ${h.body.length} bytes (${h.contentType ?? 'no Content-Type'})${via}${notes.length ? `; warning: ${notes.join('; ')}` : ''}`,
    findings: { status: 200, bytes: h.body.length, contentType: h.contentType, redirects: hops },
  });
  const t1 = performance.now();
  const parsed = parseProperties(h.body);
  const pms = Math.round(performance.now() - t1);
  if (!parsed.ok) return fail({ step: 'properties', ok: false, ms: pms, summary: `Properties.load would throw: ${parsed.error}; the client applies nothing`, findings: {} });
  const applied = applyPrefixes(parsed.entries);
  const droppedText = applied.dropped.length === 0 ? 'none dropped' : `${applied.dropped.length} dropped by prefixes: ${applied.dropped.map((d) => `${d.key} (${d.reason})`).join(', ')}`;
  steps.push({ step: 'properties', ok: true, ms: pms, summary: `${applied.properties} properties, ${droppedText}`, findings: { properties: applied.properties, dropped: applied.dropped } });
  return { ok: true, failed: undefined, steps, document: h.body.toString('latin1') };
}

/** formatReport renders the report for a terminal. */
export function formatReport(r: ProbeReport): string {
  const lines = r.steps.map((s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(10)} ${String(s.ms).padStart(6)} ms  ${s.summary}`);
  lines.push(r.ok ? 'probe: provisioning works' : `probe: failed at step ${r.failed ?? '?'}`);
  return `${lines.join('\n')}\n`;
}
