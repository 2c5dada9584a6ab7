/**
 * phone.ts: `provisiond probe --as PROFILE`: what a factory-fresh phone of that vendor would do
 * and get, step by step (sip-phones.md §2, §3):
 *
 *   subscribe  the vendor's SIP PnP SUBSCRIBE (`Event: ua-profile`, the MAC in the user part) to
 *              224.0.1.75:5060 or `--server`, retransmitted on T1 doubling, up to 5 s, until a 2xx
 *   notify     the NOTIFY that follows (answered 200): `Event: ua-profile`, `Content-Type:
 *              application/url`, the URL in the body (http, https or tftp)
 *   files      the vendor's boot file sequence (common files, then its per-device file), with
 *              the vendor's User-Agent, over HTTP or TFTP (tftp.ts), relative to that URL
 *
 * Vendors that do no PnP (Polycom, Cisco) skip the first two steps: `--server` is then the file
 * server (an http(s) URL, or host[:port] with `--tftp`), as DHCP option 66 would give it. The
 * first failing step sets the exit code (PHONE_STEP_EXIT).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { decodeSip, encodeSip, header, headerValues, newBranch, newCallId, newTag, topVia, parseCSeq, SIP_MCAST_GROUP, SIP_PORT, SIP_VERSION, type SipHeader, type SipRequest } from '../sip/codec';
import { request, type TlsOptions } from './net';
import { tftpGet } from './tftp';

/** PhoneStepName names a step of the phone probe. */
export type PhoneStepName = 'subscribe' | 'notify' | 'files';

/** PHONE_STEP_EXIT: the exit code of a phone probe whose first failing step is the key (README.md). */
export const PHONE_STEP_EXIT: Readonly<Record<PhoneStepName, number>> = { subscribe: 15, notify: 16, files: 17 };

/** BootFile is one file of a vendor's boot sequence; `optional` ones may be 404 (the phone tries the next). */
export interface BootFile {
  readonly name: string;
  readonly optional?: boolean;
}

/** PhoneVendor is what the probe knows of a vendor (facts: sip-phones.md §2.1, §3.1, §3.2). */
export interface PhoneVendor {
  /** pnp: the phone sends a ua-profile SUBSCRIBE at boot. */
  readonly pnp: boolean;
  /** tftp: the vendor's default transport is TFTP (Cisco SPA's Profile Rule). */
  readonly tftp: boolean;
  readonly model: string;
  /** eventVendor/eventModel are the Event header's params (Snom and Gigaset say OEM). */
  readonly eventVendor: string;
  readonly eventModel?: string;
  /** userAgent writes the HTTP User-Agent for a model and a MAC (12 hex digits, lower case). */
  readonly userAgent: (model: string, mac: string) => string;
  /** boot lists the files in order; `{mac}` `{MAC}` `{model}` `{hwid}` and `{psn}` (Cisco's $PSN: `508g` of SPA508G) are filled in. */
  readonly boot: readonly BootFile[];
  /** hwids: model → Yealink's hardware id (y0000000000XX.cfg). */
  readonly hwids?: Readonly<Record<string, string>>;
}

const colons = (mac: string): string => mac.replace(/(..)(?!$)/g, '$1:');

/** VENDORS: one entry per shipped profile. */
export const VENDORS: Readonly<Record<string, PhoneVendor>> = {
  yealink: {
    pnp: true,
    tftp: false,
    model: 'T46S',
    eventVendor: 'Yealink',
    userAgent: (model, mac) => `Yealink SIP-${model} 66.86.0.15 ${colons(mac)}`,
    boot: [{ name: '{mac}.boot', optional: true }, { name: 'y000000000000.boot' }, { name: 'y0000000000{hwid}.cfg', optional: true }, { name: '{mac}.cfg' }],
    hwids: { T46S: '66', T48S: '65', T42S: '67', T41S: '68', T54W: '96', T57W: '97', T53W: '95', T46G: '28' },
  },
  snom: {
    pnp: true,
    tftp: false,
    model: 'D785',
    eventVendor: 'OEM',
    eventModel: 'OEM',
    userAgent: (model, mac) => `Mozilla/4.0 (compatible; snom${model}-SIP 10.1.33.33 2010.12-00004-g9ba52f5 ${mac.toUpperCase()} SXM:0 UXM:0)`,
    boot: [{ name: 'snom{model}-{MAC}.htm' }, { name: '{MAC}.xml' }],
  },
  grandstream: {
    pnp: true,
    tftp: false,
    model: 'GXP2170',
    eventVendor: 'Grandstream',
    userAgent: (model, mac) => `Grandstream Model HW ${model} SW 1.0.11.85 DevId ${mac}`,
    boot: [{ name: 'cfg{mac}', optional: true }, { name: 'cfg{mac}.xml' }],
  },
  fanvil: {
    pnp: true,
    tftp: false,
    model: 'X4',
    eventVendor: 'Fanvil',
    userAgent: (model, mac) => `Fanvil ${model} 2.10.2.6887 ${mac}`,
    boot: [{ name: '{mac}.cfg' }],
  },
  gigaset: {
    pnp: true,
    tftp: false,
    model: 'N870 IP PRO',
    eventVendor: 'OEM',
    eventModel: 'OEM',
    userAgent: (model, mac) => `Gigaset ${model}/83.V2.11.0+build.a546b91;${mac.toUpperCase()}`,
    boot: [{ name: '{MAC}.xml' }],
  },
  polycom: {
    pnp: false,
    tftp: false,
    model: 'VVX400',
    eventVendor: 'Polycom',
    userAgent: (model) => `FileTransport PolycomVVX-${model.replace(/^VVX/, 'VVX_')}-UA/6.4.3.5018 Type/Application`,
    boot: [{ name: '{mac}.cfg', optional: true }, { name: '000000000000.cfg' }, { name: '{mac}-user.cfg' }],
  },
  'cisco-spa': {
    pnp: false,
    tftp: true,
    model: 'SPA508G',
    eventVendor: 'Cisco',
    userAgent: (model, mac) => `Cisco/${model}-7.4.4 (${mac.toUpperCase()})(CBT141400UK)`,
    boot: [{ name: 'spa{psn}.cfg' }, { name: '{mac}.xml' }],
  },
};

/** PhoneStep is one line of the report. */
export interface PhoneStep {
  readonly step: PhoneStepName;
  readonly ok: boolean;
  /** skipped: the vendor does not do this step (no PnP). */
  readonly skipped?: boolean;
  readonly ms: number;
  readonly summary: string;
  readonly findings: Readonly<Record<string, unknown>>;
}

/** PhoneReport is the whole result; failed names the first failing step. */
export interface PhoneReport {
  readonly ok: boolean;
  readonly failed: PhoneStepName | undefined;
  readonly vendor: string;
  readonly mac: string;
  readonly steps: readonly PhoneStep[];
}

/** PhoneProbeOptions are the command's options. */
export interface PhoneProbeOptions {
  readonly vendor: string;
  /** mac: 12 hex digits, any separators (default: 00:00:5e:00:53:01, a documentation MAC). */
  readonly mac?: string | undefined;
  readonly model?: string | undefined;
  /** server: the SIP target (PnP vendors; default 224.0.1.75:5060), or the file server (the others). */
  readonly server?: string | undefined;
  /** tftp: fetch the files over TFTP (the URL's scheme decides otherwise). */
  readonly tftp?: boolean;
  readonly tls?: TlsOptions;
  /** pnpTimeoutMs bounds the SUBSCRIBE and the wait for the NOTIFY (each; default 5 s, the phones' own patience). */
  readonly pnpTimeoutMs?: number;
}

/** DEFAULT_MAC is from RFC 7042's documentation range (00-00-5E-00-53-00 to -FF). */
export const DEFAULT_MAC = '00005e005301';

/** fileName fills a boot file's placeholders; undefined when one cannot be filled (no hwid for the model). */
export function fileName(f: BootFile, mac: string, model: string, hwids: Readonly<Record<string, string>> = {}): string | undefined {
  let ok = true;
  const out = f.name.replace(/\{(mac|MAC|model|hwid|psn)\}/g, (_, k: string) => {
    if (k === 'mac') return mac.toLowerCase();
    if (k === 'MAC') return mac.toUpperCase();
    if (k === 'model') return model;
    if (k === 'psn') return model.toLowerCase().replace(/^spa-?/, '');
    const h = hwids[model];
    if (h === undefined) ok = false;
    return h ?? '';
  });
  return ok ? out : undefined;
}

/** subscribeRequest writes the vendor's PnP SUBSCRIBE (sip-phones.md §2.3's shape). */
export function subscribeRequest(v: PhoneVendor, mac: string, model: string, local: { address: string; port: number }, ids: { callId: string; tag: string; branch: string; cseq: number }): Buffer {
  const user = `MAC%3a${mac.toUpperCase()}`;
  const aor = `sip:${user}@${SIP_MCAST_GROUP}`;
  const here = `${local.address}:${local.port}`;
  const headers: SipHeader[] = [
    { name: 'Via', value: `SIP/2.0/UDP ${here};branch=${ids.branch};rport` },
    { name: 'From', value: `<${aor}>;tag=${ids.tag}` },
    { name: 'To', value: `<${aor}>` },
    { name: 'Call-ID', value: ids.callId },
    { name: 'CSeq', value: `${ids.cseq} SUBSCRIBE` },
    { name: 'Contact', value: `<sip:${here}>` },
    { name: 'Max-Forwards', value: '70' },
    { name: 'User-Agent', value: v.userAgent(model, mac.toLowerCase()) },
    { name: 'Expires', value: '0' },
    { name: 'Event', value: `ua-profile;profile-type="device";vendor="${v.eventVendor}";model="${v.eventModel ?? model}";version="1.0.0.1"` },
    { name: 'Accept', value: 'application/url' },
  ];
  return encodeSip({ kind: 'request', method: 'SUBSCRIBE', uri: aor, version: SIP_VERSION, headers, body: Buffer.alloc(0) });
}

/** notifyProblem checks a NOTIFY as a phone would take it; undefined when usable. */
export function notifyProblem(req: SipRequest): string | undefined {
  const event = header(req, 'event') ?? '';
  if (!/^ua-profile\b/i.test(event)) return `its Event is ${JSON.stringify(event)}, not ua-profile`;
  const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/url') return `its Content-Type is ${JSON.stringify(type ?? '')}, not application/url`;
  const url = req.body.toString('utf8').trim();
  if (url.length === 0) return 'its body (the URL) is empty';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `its body is not a URL: ${JSON.stringify(url.slice(0, 200))}`;
  }
  if (!['http:', 'https:', 'tftp:'].includes(u.protocol)) return `the URL's scheme ${u.protocol} is not http, https or tftp`;
  return undefined;
}

/** parseServer reads `host[:port]` (IPv6 in brackets). */
export function parseServer(s: string, defPort: number): { address: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m || isIP(m[1] ?? '') === 0) return undefined;
  const port = m[2] === undefined ? defPort : Number(m[2]);
  return port >= 1 && port <= 65535 ? { address: m[1] ?? '', port } : undefined;
}

/** PnpOutcome is the PnP exchange's result. */
type PnpOutcome =
  | { readonly ok: true; readonly ackMs: number; readonly notifyMs: number; readonly from: string; readonly status: string; readonly url: string; readonly sent: number; readonly ignored: number }
  | { readonly ok: false; readonly step: 'subscribe' | 'notify'; readonly ms: number; readonly error: string; readonly sent: number; readonly ignored: number; readonly status?: string };

/**
 * pnpExchange sends the SUBSCRIBE (T1 doubling, up to `timeoutMs`) and waits for its 2xx, then
 * (up to `timeoutMs` more) for the NOTIFY in the same Call-ID, which it answers 200 to its source.
 * A NOTIFY arriving before the 2xx is kept (UDP may reorder).
 */
function pnpExchange(v: PhoneVendor, mac: string, model: string, target: { address: string; port: number }, timeoutMs: number): Promise<PnpOutcome> {
  return new Promise((resolve) => {
    const sock: Socket = createSocket({ type: 'udp4' });
    const t0 = performance.now();
    const ms = (): number => Math.round(performance.now() - t0);
    let sent = 0;
    let ignored = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let acked: { ms: number; from: string; status: string } | undefined;
    let notified: { ms: number; url: string } | undefined;
    const ids = { callId: '', tag: newTag(), branch: newBranch(), cseq: 1 };
    let request: Buffer | undefined;
    const finish = (o: PnpOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      sock.close();
      resolve(o);
    };
    const check = (): void => {
      if (acked !== undefined && notified !== undefined) finish({ ok: true, ackMs: acked.ms, notifyMs: notified.ms, from: acked.from, status: acked.status, url: notified.url, sent, ignored });
    };
    sock.on('error', (err) => finish({ ok: false, step: acked === undefined ? 'subscribe' : 'notify', ms: ms(), error: `socket error: ${err.message}`, sent, ignored }));
    sock.on('message', (msg, rinfo) => {
      if (done) return;
      const d = decodeSip(msg);
      if (!d.ok) {
        ignored++;
        return;
      }
      const m = d.message;
      if (m.kind === 'response') {
        const cseq = parseCSeq(header(m, 'cseq') ?? '');
        if (topVia(m)?.branch !== ids.branch || cseq?.method !== 'SUBSCRIBE' || header(m, 'call-id') !== ids.callId) {
          ignored++;
          return;
        }
        if (m.status < 200) return;
        if (m.status >= 300) return finish({ ok: false, step: 'subscribe', ms: ms(), error: `the SUBSCRIBE was answered ${m.status} ${m.reason}`, status: `${m.status} ${m.reason}`, sent, ignored });
        if (acked === undefined) {
          acked = { ms: ms(), from: `${rinfo.address}:${rinfo.port}`, status: `${m.status} ${m.reason}` };
          clearTimeout(timer);
          clearTimeout(deadline);
          deadline = setTimeout(() => finish({ ok: false, step: 'notify', ms: ms(), error: `no NOTIFY within ${timeoutMs / 1000} s of the ${m.status}`, sent, ignored }), timeoutMs);
        }
        return check();
      }
      if (m.method !== 'NOTIFY' || header(m, 'call-id') !== ids.callId) {
        ignored++;
        return;
      }
      // Answer every copy (a retransmitted NOTIFY wants its 200 again).
      const resp: SipHeader[] = [...headerValues(m, 'via').map((value) => ({ name: 'Via', value })), ...['From', 'To', 'Call-ID', 'CSeq'].flatMap((name) => (header(m, name) === undefined ? [] : [{ name, value: header(m, name) ?? '' }]))];
      const ok200 = encodeSip({ kind: 'response', version: SIP_VERSION, status: 200, reason: 'OK', headers: resp, body: Buffer.alloc(0) });
      if (notified !== undefined) {
        sock.send(ok200, rinfo.port, rinfo.address);
        return;
      }
      const problem = notifyProblem(m);
      if (problem !== undefined) return finish({ ok: false, step: 'notify', ms: ms(), error: `the NOTIFY from ${rinfo.address}:${rinfo.port} is not usable: ${problem}`, sent, ignored });
      notified = { ms: ms(), url: m.body.toString('utf8').trim() };
      // Close only once the 200 has left (a socket closed with a send pending drops it).
      sock.send(ok200, rinfo.port, rinfo.address, () => check());
    });
    sock.bind(0, () => {
      if (target.address === SIP_MCAST_GROUP) {
        sock.setMulticastTTL(1);
        sock.setMulticastLoopback(true);
      }
      // Our address as the target sees it: the route's source (connect-less: ask the kernel via a probe socket).
      const probe = createSocket('udp4');
      probe.connect(target.port, target.address, () => {
        const local = probe.address().address;
        probe.close();
        ids.callId = newCallId(local);
        request = subscribeRequest(v, mac, model, { address: local, port: sock.address().port }, ids);
        let interval = 500;
        const send = (): void => {
          if (done || acked !== undefined || request === undefined) return;
          sent++;
          sock.send(request, target.port, target.address);
          timer = setTimeout(send, interval);
          interval = Math.min(interval * 2, 4000);
        };
        send();
        deadline = setTimeout(() => finish({ ok: false, step: 'subscribe', ms: ms(), error: `no 2xx to the SUBSCRIBE within ${timeoutMs / 1000} s (${sent} sent to ${target.address}:${target.port})`, sent, ignored }), timeoutMs);
      });
      probe.on('error', (err) => {
        probe.close();
        finish({ ok: false, step: 'subscribe', ms: ms(), error: `no route to ${target.address}: ${err.message}`, sent, ignored });
      });
    });
  });
}

/** resolveBase turns the NOTIFY's URL (or --server) into the folder the boot files are fetched from, and a first file when the URL names one. */
export function resolveBase(url: string): { base: URL; first?: string } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.pathname.endsWith('/')) return { base: u };
  const slash = u.pathname.lastIndexOf('/');
  const first = decodeURIComponent(u.pathname.slice(slash + 1));
  const base = new URL(u.href);
  base.pathname = u.pathname.slice(0, slash + 1);
  base.search = '';
  return { base, first };
}

/** runPhoneProbe runs the steps in order and stops at the first failure. */
export async function runPhoneProbe(o: PhoneProbeOptions): Promise<PhoneReport> {
  const v = VENDORS[o.vendor];
  const mac = (o.mac ?? DEFAULT_MAC).replace(/[:-]/g, '').toLowerCase();
  const model = o.model ?? v?.model ?? '';
  const steps: PhoneStep[] = [];
  const report = (failed?: PhoneStepName): PhoneReport => ({ ok: failed === undefined, failed, vendor: o.vendor, mac: colons(mac), steps });
  const fail = (s: Omit<PhoneStep, 'ok'>): PhoneReport => {
    steps.push({ ...s, ok: false });
    return report(s.step);
  };
  if (v === undefined) return fail({ step: o.server === undefined ? 'subscribe' : 'files', ms: 0, summary: `no probe knowledge of vendor ${o.vendor} (known: ${Object.keys(VENDORS).join(', ')})`, findings: {} });
  if (!/^[0-9a-f]{12}$/.test(mac)) return fail({ step: 'subscribe', ms: 0, summary: `--mac ${o.mac ?? ''} is not a MAC address`, findings: {} });

  let url: string;
  if (v.pnp) {
    const target = o.server === undefined ? { address: SIP_MCAST_GROUP, port: SIP_PORT } : parseServer(o.server, SIP_PORT);
    if (target === undefined) return fail({ step: 'subscribe', ms: 0, summary: `--server ${o.server ?? ''} is not an IPv4 address[:port]`, findings: {} });
    const p = await pnpExchange(v, mac, model, target, o.pnpTimeoutMs ?? 5000);
    if (!p.ok) {
      if (p.step === 'notify') steps.push({ step: 'subscribe', ok: true, ms: p.ms, summary: 'answered 2xx', findings: { sent: p.sent } });
      return fail({ step: p.step, ms: p.ms, summary: p.error, findings: { to: `${target.address}:${target.port}`, sent: p.sent, ignored: p.ignored, ...(p.status === undefined ? {} : { status: p.status }) } });
    }
    steps.push({ step: 'subscribe', ok: true, ms: p.ackMs, summary: `${p.status} from ${p.from} (SUBSCRIBE ua-profile to ${target.address}:${target.port}, ${p.sent} sent)`, findings: { to: `${target.address}:${target.port}`, from: p.from, status: p.status, sent: p.sent } });
    steps.push({ step: 'notify', ok: true, ms: p.notifyMs - p.ackMs, summary: `NOTIFY with ${p.url} (answered 200)`, findings: { url: p.url, ignored: p.ignored } });
    url = p.url;
  } else {
    const why = `${o.vendor} phones do not send SIP PnP (sip-phones.md §2.1): DHCP option 66 gives them the server`;
    if (o.server === undefined) return fail({ step: 'files', ms: 0, summary: `${why}; name it with --server (an http(s) URL, or host[:port] with --tftp)`, findings: {} });
    steps.push({ step: 'subscribe', ok: true, skipped: true, ms: 0, summary: `skipped: ${why}`, findings: {} });
    steps.push({ step: 'notify', ok: true, skipped: true, ms: 0, summary: 'skipped', findings: {} });
    url = o.tftp === true && !/^[a-z]+:\/\//i.test(o.server) ? `tftp://${o.server}/` : o.server;
  }

  // files: the boot sequence, relative to the URL's folder.
  const r = resolveBase(url);
  if (r === undefined) return fail({ step: 'files', ms: 0, summary: `not a URL: ${JSON.stringify(url)}`, findings: {} });
  const overTftp = r.base.protocol === 'tftp:' || o.tftp === true;
  const names: BootFile[] = [];
  if (r.first !== undefined && r.first !== '') names.push({ name: r.first });
  for (const f of v.boot) {
    const n = fileName(f, mac, model, v.hwids);
    if (n !== undefined && !names.some((x) => x.name === n)) names.push({ ...f, name: n });
  }
  const ua = v.userAgent(model, mac);
  const got: { file: string; status: string; bytes: number; detail?: string }[] = [];
  const t0 = performance.now();
  for (const f of names) {
    let status: number | string;
    let detail: string | undefined;
    let bytes = 0;
    if (overTftp) {
      const server = parseServer(r.base.host, 69);
      if (server === undefined) return fail({ step: 'files', ms: Math.round(performance.now() - t0), summary: `the TFTP server ${r.base.host} is not an IP address[:port]`, findings: { got } });
      const t = await tftpGet(server, `${decodeURIComponent(r.base.pathname).replace(/^\//, '')}${f.name}`);
      status = t.ok ? 200 : t.notFound ? 404 : t.error;
      if (!t.ok) detail = t.error;
      bytes = t.ok ? t.data.length : 0;
    } else {
      const h = await request(new URL(encodeURIComponent(f.name), r.base).href, undefined, ua, o.tls);
      status = h.ok ? h.status : h.error;
      bytes = h.ok ? h.body.length : 0;
    }
    got.push({ file: f.name, status: String(status), bytes, ...(detail === undefined ? {} : { detail }) });
    if (status === 200 || (status === 404 && f.optional === true)) continue;
    return fail({ step: 'files', ms: Math.round(performance.now() - t0), summary: `${overTftp ? 'TFTP' : 'HTTP'} ${f.name}: ${detail ?? (typeof status === 'number' ? `status ${status}` : status)}`, findings: { base: r.base.href, userAgent: ua, got } });
  }
  steps.push({
    step: 'files',
    ok: true,
    ms: Math.round(performance.now() - t0),
    summary: `${got.map((g) => `${g.file} ${g.status === '200' ? `${g.bytes} bytes` : g.status}`).join(', ')} over ${overTftp ? 'TFTP' : r.base.protocol === 'https:' ? 'HTTPS' : 'HTTP'}`,
    findings: { base: r.base.href, userAgent: ua, got },
  });
  return report();
}

/** formatPhoneReport renders the report for a terminal. */
export function formatPhoneReport(r: PhoneReport): string {
  const lines = r.steps.map((s) => `${s.skipped === true ? 'skip' : s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(10)} ${String(s.ms).padStart(6)} ms  ${s.summary}`);
  lines.push(r.ok ? `probe: a ${r.vendor} phone (${r.mac}) gets its files` : `probe: failed at step ${r.failed ?? '?'}`);
  return `${lines.join('\n')}\n`;
}
