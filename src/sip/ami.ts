/**
 * ami.ts: resync through Asterisk's manager interface (AMI) instead of from this host
 * (`phones.resync.via: ami`): one TCP connection, `Login`, one `PJSIPNotify` per phone, `Logoff`.
 * Asterisk then sends the NOTIFY from its own SIP socket, which the phone trusts as its registrar,
 * and reaches phones behind NAT through their registration (sip-phones.md §4.2: what wazo-provd
 * does). AMI only says whether Asterisk sent the NOTIFY, not the phone's answer: a phone's result
 * is `sent` or `refused` (Asterisk's message, e.g. an unknown endpoint).
 *
 * Framing (AMI over TCP): a banner line, then messages of `Key: Value` lines ended by an empty
 * line. Pure halves: `encodeAction` (values with CR or LF refused: no injected action) and
 * `AmiReader` (bounded: 1 KiB banner, 16 KiB per message, 64 KiB buffered). Unsolicited events
 * are skipped; responses are matched on ActionID. Every wait is bounded (`timeoutMs` per action).
 */
import { connect, type Socket } from 'node:net';
import type { NotifyEvent } from './resync';

/** AmiFields are one message's `Key: Value` lines, in order. */
export type AmiFields = readonly (readonly [string, string])[];

/** field gives the first value of a key (case-insensitive). */
export function field(m: AmiFields, key: string): string | undefined {
  const k = key.toLowerCase();
  return m.find(([n]) => n.toLowerCase() === k)?.[1];
}

/** encodeAction writes one action; undefined when a key or value would break the framing. */
export function encodeAction(fields: AmiFields): Buffer | undefined {
  let out = '';
  for (const [k, v] of fields) {
    if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(k) || /[\r\n]/.test(v) || v.length > 1024) return undefined;
    out += `${k}: ${v}\r\n`;
  }
  return Buffer.from(`${out}\r\n`, 'utf8');
}

const MAX_BANNER = 1024;
const MAX_MESSAGE = 16 << 10;
const MAX_BUFFER = 64 << 10;

/** AmiReader splits the byte stream into the banner and messages; `error` is set once the peer breaks a bound. */
export class AmiReader {
  banner: string | undefined;
  error: string | undefined;
  private buf = '';

  /** push adds bytes and returns the messages completed by them. */
  push(chunk: Buffer): AmiFields[] {
    if (this.error !== undefined) return [];
    this.buf += chunk.toString('utf8');
    if (this.buf.length > MAX_BUFFER) {
      this.error = `more than ${MAX_BUFFER >> 10} KiB without a complete message`;
      return [];
    }
    const out: AmiFields[] = [];
    if (this.banner === undefined) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) {
        if (this.buf.length > MAX_BANNER) this.error = 'no banner line';
        return out;
      }
      this.banner = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
    }
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.buf);
      if (m === null) {
        if (this.buf.length > MAX_MESSAGE) this.error = `a message over ${MAX_MESSAGE >> 10} KiB`;
        return out;
      }
      const text = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (text.length > MAX_MESSAGE) {
        this.error = `a message over ${MAX_MESSAGE >> 10} KiB`;
        return out;
      }
      const fields: [string, string][] = [];
      for (const line of text.split(/\r?\n/)) {
        const c = line.indexOf(':');
        if (c > 0) fields.push([line.slice(0, c).trim(), line.slice(c + 1).trim()]);
      }
      if (fields.length > 0) out.push(fields);
    }
  }
}

/** AmiTarget is whom Asterisk notifies: a PJSIP endpoint (by name) or a URI. */
export type AmiTarget = { readonly endpoint: string } | { readonly uri: string };

/** notifyAction is the PJSIPNotify of one phone (Asterisk: `Variable: Event=…`; a body as `Content-Type` and `Content` lines). */
export function notifyAction(id: string, target: AmiTarget, event: NotifyEvent): AmiFields {
  const fields: [string, string][] = [['Action', 'PJSIPNotify'], ['ActionID', id]];
  fields.push('endpoint' in target ? ['Endpoint', target.endpoint] : ['URI', target.uri]);
  fields.push(['Variable', `Event=${event.event}`]);
  if (event.body !== undefined) {
    fields.push(['Variable', `Content-Type=${event.contentType ?? 'text/plain'}`]);
    for (const line of event.body) fields.push(['Variable', `Content=${line}`]);
  }
  return fields;
}

/** AmiResult is one phone's outcome through AMI. */
export type AmiResult = { readonly outcome: 'sent'; readonly message: string } | { readonly outcome: 'refused'; readonly message: string } | { readonly outcome: 'unreachable'; readonly detail: string };

/** AmiConfig is `phones.resync.ami`. */
export interface AmiConfig {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly secret: string;
}

/**
 * amiNotify logs in and sends one PJSIPNotify per phone, in order (one action in flight), and
 * resolves with one result per phone; it never rejects. A failed connection or login makes every
 * phone `unreachable` with the reason.
 */
export function amiNotify(cfg: AmiConfig, phones: readonly { readonly target: AmiTarget; readonly event: NotifyEvent }[], opts: { readonly timeoutMs?: number } = {}): Promise<AmiResult[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const results: AmiResult[] = [];
    const reader = new AmiReader();
    let socket: Socket | undefined;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    /** waiting: the ActionID whose response we wait for, and what to do with it. */
    let waiting: { id: string; then: (m: AmiFields) => void } | undefined;
    const finish = (failAll?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      while (results.length < phones.length) results.push({ outcome: 'unreachable', detail: failAll ?? 'the AMI connection ended' });
      resolve(results);
    };
    const send = (fields: AmiFields, then: (m: AmiFields) => void): void => {
      const b = encodeAction(fields);
      const id = field(fields, 'ActionID') ?? '';
      if (b === undefined) {
        // Only a phone's own values can be unfit (checked by the caller's types otherwise): refuse that one.
        then([['Response', 'Error'], ['Message', 'a value holds a line break (not sent)']]);
        return;
      }
      waiting = { id, then };
      clearTimeout(timer);
      timer = setTimeout(() => finish(`AMI ${field(fields, 'Action') ?? ''}: no response within ${timeoutMs / 1000} s`), timeoutMs);
      socket?.write(b);
    };
    const next = (): void => {
      const i = results.length;
      const p = phones[i];
      if (p === undefined) {
        send([['Action', 'Logoff'], ['ActionID', 'pd-logoff']], () => finish());
        return;
      }
      send(notifyAction(`pd-${i + 1}`, p.target, p.event), (m) => {
        const ok = (field(m, 'Response') ?? '').toLowerCase() === 'success';
        const message = field(m, 'Message') ?? '';
        results.push(ok ? { outcome: 'sent', message } : { outcome: 'refused', message: message || 'error' });
        next();
      });
    };
    timer = setTimeout(() => finish(`AMI ${cfg.host}:${cfg.port}: no banner within ${timeoutMs / 1000} s`), timeoutMs);
    socket = connect({ host: cfg.host, port: cfg.port });
    socket.on('error', (err) => finish(`AMI ${cfg.host}:${cfg.port}: ${err.message}`));
    socket.on('close', () => finish());
    socket.on('data', (chunk: Buffer) => {
      const hadBanner = reader.banner !== undefined;
      const messages = reader.push(chunk);
      if (reader.error !== undefined) return finish(`AMI ${cfg.host}:${cfg.port}: ${reader.error}`);
      if (!hadBanner && reader.banner !== undefined) {
        if (!/^Asterisk Call Manager\//.test(reader.banner)) return finish(`AMI ${cfg.host}:${cfg.port}: not an Asterisk manager (${JSON.stringify(reader.banner.slice(0, 60))})`);
        send(
          [
            ['Action', 'Login'],
            ['ActionID', 'pd-login'],
            ['Username', cfg.username],
            ['Secret', cfg.secret],
            ['Events', 'off'],
          ],
          (m) => {
            if ((field(m, 'Response') ?? '').toLowerCase() !== 'success') return finish(`AMI login as ${cfg.username} refused: ${field(m, 'Message') ?? 'error'}`);
            next();
          },
        );
      }
      for (const m of messages) {
        const id = field(m, 'ActionID');
        if (field(m, 'Response') === undefined || waiting === undefined || id !== waiting.id) continue; // an event, or another action's
        const w = waiting;
        waiting = undefined;
        w.then(m);
      }
    });
  });
}
