/**
 * sip-resync.test.ts: the resync NOTIFY client (src/sip/resync.ts) on its own: the request each
 * profile makes (decoded back with the SIP codec), the transaction's decisions on a fake clock
 * and a fake channel (Timer E's schedule, Proceeding at T2, Timer F, one digest retry, refusals,
 * ICMP errors, answers of other transactions ignored), the real socket's ICMP report on
 * loopback, and the bounded pool. The end-to-end run against scripted phones (Python, not our
 * code) through the executable is test/phones-resync.test.ts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSip, header, headerValues, type SipRequest } from '../src/sip/codec';
import { digestResponse, parseChallenge } from '../src/sip/digest';
import { buildNotify, mapBounded, notifyEventOf, requestUri, sendNotify, udpChannel, type Channel, type ChannelEvents, type NotifyResult, type NotifyTarget, type OpenChannel, type Timers } from '../src/sip/resync';
import { parseProfile } from '../src/phones/profile';
import { CISCO_SIP } from './helpers/profiles';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

const shipped = loadProfiles(shippedProfilesDir()).profiles;

/** FakeTimers: a manual clock; advance() runs what falls due, in order. */
class FakeTimers implements Timers {
  t = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; f: () => void }>();
  set(f: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.t + ms, f });
    return id;
  }
  clear(h: unknown): void {
    this.due.delete(h as number);
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.due.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (next === undefined) break;
      this.due.delete(next[0]);
      this.t = next[1].at;
      next[1].f();
    }
    this.t = end;
  }
  get pending(): number {
    return this.due.size;
  }
}

/** FakePhone: the channel's far end; it records what was sent and when, and answers on demand. */
class FakePhone {
  readonly sent: { at: number; req: SipRequest }[] = [];
  events: ChannelEvents | undefined;
  closed = false;
  constructor(private readonly timers: FakeTimers) {}
  readonly open: OpenChannel = async (_target, events) => {
    this.events = events;
    const channel: Channel = {
      local: { address: '192.0.2.10', port: 40000 },
      send: (d) => {
        const r = decodeSip(d);
        assert.ok(r.ok && r.message.kind === 'request', 'we send requests the codec decodes');
        this.sent.push({ at: this.timers.now(), req: r.message as SipRequest });
      },
      close: () => {
        this.closed = true;
      },
    };
    return channel;
  };
  last(): SipRequest {
    const l = this.sent[this.sent.length - 1];
    assert.ok(l !== undefined, 'something was sent');
    return l.req;
  }
  /** answer replies to the last request (or `to`) with a status, echoing Via/From/To/Call-ID/CSeq. */
  answer(status: number, reason: string, extra: readonly string[] = [], to: SipRequest = this.last()): void {
    const lines = [`SIP/2.0 ${status} ${reason}`, ...headerValues(to, 'via').map((v) => `Via: ${v}`), `From: ${header(to, 'from') ?? ''}`, `To: ${header(to, 'to') ?? ''};tag=ph1`, `Call-ID: ${header(to, 'call-id') ?? ''}`, `CSeq: ${header(to, 'cseq') ?? ''}`, ...extra, 'Content-Length: 0', '', ''];
    this.events?.message(Buffer.from(lines.join('\r\n')));
  }
}

const TARGET: NotifyTarget = { address: '192.0.2.50', port: 5060, user: '1001', event: { event: 'check-sync;reboot=false' } };

/** start runs sendNotify on the fake clock; the promise settles once the timers are advanced. */
async function start(target: NotifyTarget = TARGET, deadlineMs?: number): Promise<{ phone: FakePhone; timers: FakeTimers; result: Promise<NotifyResult> }> {
  const timers = new FakeTimers();
  const phone = new FakePhone(timers);
  const result = sendNotify(target, { open: phone.open, timers, userAgent: 'provisiond/test', ...(deadlineMs === undefined ? {} : { deadlineMs }) });
  await new Promise((r) => setImmediate(r)); // the channel opens (a resolved promise)
  return { phone, timers, result };
}

describe('resync events from the profiles (sip-phones.md §4.1)', () => {
  test('each shipped vendor: the resync and the reboot event', () => {
    const want: Record<string, [string, string]> = {
      yealink: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      snom: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      gigaset: ['check-sync;reboot=false', 'check-sync;reboot=true'],
      polycom: ['check-sync', 'check-sync'],
      grandstream: ['resync', 'check-sync;reboot=true'],
      fanvil: ['check-sync', 'check-sync;reboot=true'],
      'cisco-spa': ['resync', 'reboot_now'],
    };
    assert.deepEqual([...shipped.keys()].sort(), Object.keys(want).sort());
    for (const [vendor, [resync, reboot]] of Object.entries(want)) {
      const p = shipped.get(vendor);
      assert.ok(p !== undefined, vendor);
      assert.deepEqual(notifyEventOf(p, false), { event: resync }, vendor);
      assert.deepEqual(notifyEventOf(p, true), { event: reboot }, vendor);
    }
  });

  test("Cisco's service-control body goes out with its Content-Type, lines joined with CRLF", () => {
    const r = parseProfile(CISCO_SIP, 'cisco-sip/profile.yaml');
    assert.deepEqual(r.problems, []);
    const p = r.profile;
    assert.ok(p !== undefined);
    const resync = notifyEventOf(p, false);
    assert.equal(notifyEventOf(p, true).body?.[0], 'action=reset');
    const req = decodeSip(buildNotify({ ...TARGET, event: resync }, { address: '192.0.2.10', port: 40000 }, { callId: 'c@h', fromTag: 't' }, { cseq: 1, branch: 'z9hG4bK-x' }, { userAgent: 'u' }));
    assert.ok(req.ok);
    assert.equal(header(req.message, 'event'), 'service-control');
    assert.equal(header(req.message, 'content-type'), 'text/plain');
    assert.equal(req.message.body.toString(), 'action=restart\r\nRegisterCallId={}\r\nConfigVersionStamp={0000000000000000}\r\nDialplanVersionStamp={0000000000000000}\r\nSoftkeyVersionStamp={0000000000000000}\r\n');
  });
});

describe('the NOTIFY', () => {
  test('decodes with the codec: Request-URI and To name the line-1 user, Event, Subscription-State, Via branch, CSeq', () => {
    const d = decodeSip(buildNotify(TARGET, { address: '192.0.2.10', port: 40000 }, { callId: 'abc@192.0.2.10', fromTag: 'pd-1' }, { cseq: 1, branch: 'z9hG4bK-pd-1' }, { userAgent: 'provisiond/x' }));
    assert.ok(d.ok && d.message.kind === 'request');
    const m = d.message;
    assert.equal(m.method, 'NOTIFY');
    assert.equal(m.uri, 'sip:1001@192.0.2.50:5060');
    assert.equal(header(m, 'to'), '<sip:1001@192.0.2.50>');
    assert.equal(header(m, 'from'), '<sip:provisiond@192.0.2.10>;tag=pd-1');
    assert.equal(header(m, 'via'), 'SIP/2.0/UDP 192.0.2.10:40000;branch=z9hG4bK-pd-1;rport');
    assert.equal(header(m, 'event'), 'check-sync;reboot=false');
    assert.equal(header(m, 'subscription-state'), 'terminated');
    assert.equal(header(m, 'cseq'), '1 NOTIFY');
    assert.equal(header(m, 'content-length'), '0');
    assert.equal(header(m, 'content-type'), undefined);
  });

  test('a username unfit for a URI is left out; IPv6 goes in brackets', () => {
    assert.equal(requestUri({ address: '192.0.2.1', port: 5060, user: 'a b' }), 'sip:192.0.2.1:5060');
    assert.equal(requestUri({ address: '192.0.2.1', port: 5060, user: 'x@y' }), 'sip:192.0.2.1:5060');
    assert.equal(requestUri({ address: '2001:db8::1', port: 5062 }), 'sip:[2001:db8::1]:5062');
  });
});

describe('the transaction (fake clock, fake channel)', () => {
  test('Timer E: T1 doubling to T2, then every T2; a 200 ends it and closes the channel', async () => {
    const { phone, timers, result } = await start();
    timers.advance(12_000);
    assert.deepEqual(
      phone.sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 11500],
    );
    const branches = new Set(phone.sent.map((s) => header(s.req, 'via')));
    assert.equal(branches.size, 1, 'a retransmission is the same request');
    phone.answer(200, 'OK');
    const r = await result;
    assert.equal(r.outcome, 'accepted');
    assert.ok(r.outcome === 'accepted' && r.status === 200 && !r.authenticated);
    assert.equal(r.sent, 6);
    assert.equal(phone.closed, true);
    assert.equal(timers.pending, 0, 'no timer left behind');
  });

  test('Timer F: no answer in 64·T1 = 32 s is unreachable, after 11 sends', async () => {
    const { phone, timers, result } = await start();
    timers.advance(31_999);
    assert.equal(phone.closed, false);
    timers.advance(1);
    const r = await result;
    assert.equal(r.outcome, 'unreachable');
    assert.ok(r.outcome === 'unreachable' && /Timer F/.test(r.detail));
    assert.deepEqual(
      phone.sent.map((s) => s.at),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
    assert.equal(phone.closed, true);
  });

  test('--timeout shortens Timer F for the whole device', async () => {
    const { phone, timers, result } = await start(TARGET, 2000);
    timers.advance(2000);
    const r = await result;
    assert.equal(r.outcome, 'unreachable');
    assert.deepEqual(
      phone.sent.map((s) => s.at),
      [0, 500, 1500],
    );
  });

  test('a provisional answer moves retransmissions to every T2 (Proceeding)', async () => {
    const { phone, timers, result } = await start();
    timers.advance(600); // sends at 0 and 500
    phone.answer(100, 'Trying');
    timers.advance(10_000);
    assert.deepEqual(
      phone.sent.map((s) => s.at),
      [0, 500, 1500, 5500, 9500],
    );
    phone.answer(202, 'Accepted');
    const r = await result;
    assert.ok(r.outcome === 'accepted' && r.status === 202);
  });

  test('401: one retry with the digest of the line credentials (CSeq + 1, a new branch), then 200', async () => {
    const target: NotifyTarget = { ...TARGET, event: { event: 'resync' }, credentials: { username: 'auth1001', password: 'S3cret' } };
    const { phone, timers, result } = await start(target);
    const first = phone.last();
    phone.answer(401, 'Unauthorized', ['WWW-Authenticate: Digest realm="spa", nonce="n1", qop="auth"']);
    assert.equal(phone.sent.length, 2);
    const second = phone.last();
    assert.equal(header(second, 'cseq'), '2 NOTIFY');
    assert.notEqual(header(second, 'via'), header(first, 'via'));
    assert.equal(header(second, 'call-id'), header(first, 'call-id'));
    assert.equal(header(second, 'from'), header(first, 'from'));
    const auth = header(second, 'authorization') ?? '';
    const p = new Map([...auth.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1] ?? '', m[2] ?? m[3] ?? '']));
    assert.equal(p.get('username'), 'auth1001');
    assert.equal(p.get('uri'), second.uri);
    const c = parseChallenge('Digest realm="spa", nonce="n1", qop="auth"');
    assert.ok(c.ok);
    assert.equal(p.get('response'), digestResponse(c.challenge, { username: 'auth1001', password: 'S3cret' }, { method: 'NOTIFY', uri: second.uri }, { cnonce: p.get('cnonce') ?? '', nc: p.get('nc') ?? '' }));
    // A late retransmitted 401 of the first transaction changes nothing.
    phone.answer(401, 'Unauthorized', ['WWW-Authenticate: Digest realm="spa", nonce="n2"'], first);
    timers.advance(500);
    assert.equal(header(phone.last(), 'cseq'), '2 NOTIFY', 'the retransmission is the second request');
    phone.answer(200, 'OK');
    const r = await result;
    assert.ok(r.outcome === 'accepted' && r.authenticated);
    assert.equal(r.ignored, 1);
  });

  test('407 is answered with Proxy-Authorization', async () => {
    const { phone, result } = await start({ ...TARGET, credentials: { username: 'u', password: 'p' } });
    phone.answer(407, 'Proxy Authentication Required', ['Proxy-Authenticate: Digest realm="r", nonce="n"']);
    assert.match(header(phone.last(), 'proxy-authorization') ?? '', /^Digest username="u"/);
    phone.answer(200, 'OK');
    assert.equal((await result).outcome, 'accepted');
  });

  for (const [name, setup, detail] of [
    ['a second 401 (credentials refused)', (ph: FakePhone) => {
      ph.answer(401, 'Unauthorized', ['WWW-Authenticate: Digest realm="r", nonce="n"']);
      ph.answer(401, 'Unauthorized', ['WWW-Authenticate: Digest realm="r", nonce="n"']);
    }, /credentials were refused/],
    ['a 401 with an unusable challenge', (ph: FakePhone) => ph.answer(401, 'Unauthorized', ['WWW-Authenticate: Basic realm="r"']), /cannot be answered: scheme Basic/],
    ['a 401 with no challenge header', (ph: FakePhone) => ph.answer(401, 'Unauthorized'), /no WWW-Authenticate/],
  ] as const) {
    test(`refused: ${name}`, async () => {
      const { phone, result } = await start({ ...TARGET, credentials: { username: 'u', password: 'p' } });
      setup(phone);
      const r = await result;
      assert.ok(r.outcome === 'refused' && r.status === 401, JSON.stringify(r));
      assert.match(r.detail ?? '', detail);
    });
  }

  test('refused: 401 and the device has no line credentials', async () => {
    const { phone, result } = await start();
    phone.answer(401, 'Unauthorized', ['WWW-Authenticate: Digest realm="r", nonce="n"']);
    const r = await result;
    assert.ok(r.outcome === 'refused' && /no line-1 SIP credentials/.test(r.detail ?? ''));
    assert.equal(phone.sent.length, 1);
  });

  for (const [status, reason] of [
    [481, 'Call/Transaction Does Not Exist'],
    [489, 'Bad Event'],
    [603, 'Decline'],
  ] as const) {
    test(`refused: ${status} ${reason}, with the status and reason`, async () => {
      const { phone, result } = await start();
      phone.answer(status, reason);
      const r = await result;
      assert.deepEqual(r.outcome === 'refused' ? [r.status, r.reason] : r, [status, reason]);
    });
  }

  test('answers of another transaction and garbage are ignored and counted', async () => {
    const { phone, timers, result } = await start();
    phone.events?.message(Buffer.from('not sip at all'));
    phone.events?.message(Buffer.from('NOTIFY sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n'));
    const other = decodeSip(buildNotify(TARGET, { address: '192.0.2.10', port: 40000 }, { callId: 'other@h', fromTag: 'x' }, { cseq: 1, branch: 'z9hG4bK-other' }, { userAgent: 'u' }));
    assert.ok(other.ok && other.message.kind === 'request');
    phone.answer(200, 'OK', [], other.message);
    timers.advance(500);
    assert.equal(phone.sent.length, 2, 'still retransmitting');
    phone.answer(200, 'OK');
    const r = await result;
    assert.equal(r.outcome, 'accepted');
    assert.equal(r.ignored, 3);
  });

  test('an ICMP error on the connected socket is unreachable at once', async () => {
    const { phone, result } = await start();
    phone.events?.error(Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const r = await result;
    assert.ok(r.outcome === 'unreachable' && /ICMP port unreachable/.test(r.detail));
    assert.equal(phone.closed, true);
  });

  test('a channel that cannot open is unreachable, not a rejection', async () => {
    const timers = new FakeTimers();
    const r = await sendNotify(TARGET, { open: () => Promise.reject(Object.assign(new Error('no route'), { code: 'ENETUNREACH' })), timers, userAgent: 'u' });
    assert.ok(r.outcome === 'unreachable' && /ENETUNREACH/.test(r.detail));
    assert.equal(timers.pending, 0);
  });
});

describe('the socket', () => {
  test('udpChannel on loopback: a closed port reports ICMP port unreachable (ECONNREFUSED)', async () => {
    // A port that was free a moment ago: bind, read it, close.
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    const port = s.address().port;
    s.close();
    const r = await sendNotify({ ...TARGET, address: '127.0.0.1', port }, { userAgent: 'u', deadlineMs: 20_000 });
    assert.equal(r.outcome, 'unreachable');
    assert.ok(r.outcome === 'unreachable' && /ICMP port unreachable/.test(r.detail), r.outcome === 'unreachable' ? r.detail : '');
  });

  test('udpChannel on loopback: a real answer over a connected ephemeral socket', async () => {
    const phone = createSocket('udp4');
    phone.bind(0, '127.0.0.1');
    await once(phone, 'listening');
    phone.on('message', (msg, rinfo) => {
      const d = decodeSip(msg);
      if (!d.ok || d.message.kind !== 'request') return;
      const m = d.message;
      const out = [`SIP/2.0 200 OK`, `Via: ${header(m, 'via') ?? ''}`, `From: ${header(m, 'from') ?? ''}`, `To: ${header(m, 'to') ?? ''};tag=p`, `Call-ID: ${header(m, 'call-id') ?? ''}`, `CSeq: ${header(m, 'cseq') ?? ''}`, 'Content-Length: 0', '', ''].join('\r\n');
      phone.send(out, rinfo.port, rinfo.address);
    });
    try {
      const r = await sendNotify({ ...TARGET, address: '127.0.0.1', port: phone.address().port }, { userAgent: 'u', open: udpChannel });
      assert.equal(r.outcome, 'accepted');
    } finally {
      phone.close();
    }
  });
});

describe('mapBounded', () => {
  test('never runs more than the limit at once and keeps the order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapBounded([...Array(20).keys()], 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return i * 2;
    });
    assert.equal(peak, 3);
    assert.deepEqual(out, [...Array(20).keys()].map((i) => i * 2));
    assert.deepEqual(await mapBounded([], 3, async () => 1), []);
  });
});
