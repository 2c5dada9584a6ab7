/**
 * dhcp-thread.test.ts: the DHCP face in its worker thread (issue 15 §1), on real loopback
 * sockets: it answers, reloads, refuses a bad reload, logs through the main logger at its level,
 * keeps answering while the main thread is blocked, is restarted when the thread dies (and
 * reports itself dead when that repeats), and its close waits for the thread to exit.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DhcpFace, MAX_DEATHS } from '../src/dhcp/server';
import { createDaemon } from '../src/daemon';
import { decode } from '../src/dhcp/codec';
import { parseConfigText } from '../src/config/load';
import type { ProvError } from '../src/errors';
import type { HostInterface } from '../src/net/interfaces';
import { jitsiInform } from './helpers/jitsi';
import { udpClient, type UdpClient } from './helpers/udp-client';
import { captureLog, type CapturedLog } from './helpers/log';

const LOOPBACK: HostInterface = { name: 'lo', address: 0x7f000001, internal: true, cidr: { network: '127.0.0.0', prefix: 8, base: 0x7f000000, mask: 0xff000000 } };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client socket on loopback that collects replies. */
const client = (): Promise<UdpClient> => udpClient(2000);

function inform(xid: number): Buffer {
  return jitsiInform({ xid, ciaddr: [127, 0, 0, 1], mac: [2, 0, 0, 0, 0, 1] });
}

const yaml = (replyPort: number, host = 'prov.example', iface = 'lo'): string =>
  `dhcp:\n  port: 0\n  replyPort: ${replyPort}\n  interfaces: [${iface}]\n  url: "https://${host}/jitsi?u=\${username}"\n  rateLimit: { rate: 0 }\n`;

/** waitFor polls `cond` (bounded) and fails with `what` when it never holds. */
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 20) {
    if (waited >= ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const logged = (cap: CapturedLog, msg: string): Record<string, unknown>[] => cap.lines.filter((l) => l['msg'] === msg);

describe('DHCP face in its worker thread, on loopback sockets', () => {
  let face: DhcpFace;
  let c: Awaited<ReturnType<typeof client>>;
  const cap = captureLog('info');

  before(async () => {
    c = await client();
    face = new DhcpFace({ config: parseConfigText(yaml(c.port), 't.yaml'), log: cap.log.child({ face: 'dhcp' }), checkPortFree: false });
    await face.start();
  });
  after(async () => {
    await face.close();
    c.sock.close();
  });

  const send = (b: Buffer): void => c.sock.send(b, face.port ?? 0, '127.0.0.1');

  test('runs in a thread, reports where it serves and logs through the main logger', () => {
    assert.equal(face.inThread, true);
    assert.ok(face.thread, 'a worker thread');
    assert.ok((face.port ?? 0) > 0);
    assert.deepEqual(
      face.interfaces.map((i) => i.name),
      ['lo'],
    );
    const serving = logged(cap, 'DHCP face serving');
    assert.equal(serving.length, 1);
    assert.equal(serving[0]?.['face'], 'dhcp', "the face's child logger wrote it");
    assert.equal(serving[0]?.['pid'], process.pid);
    assert.equal(serving[0]?.['level'], 'info');
  });

  test('an INFORM gets a DHCPACK with option 224; the counters come back from the thread', async () => {
    send(inform(0x11111111));
    const reply = await c.next();
    assert.ok(reply, 'no reply within 2 s');
    const d = decode(reply);
    assert.ok(d.ok);
    if (!d.ok) return;
    assert.equal(d.message.xid, 0x11111111);
    assert.equal(d.message.options.get(224)?.toString(), 'https://prov.example/jitsi?u=${username}');
    const s = await face.fetchStats();
    assert.equal(s['received'], 1);
    assert.equal(s['acked'], 1);
    assert.equal(s['send-queue-bound'], 64);
    assert.deepEqual(face.stats(), s, 'stats() holds the last counters the thread sent');
  });

  test('debug lines reach the main logger once its level says so, never before', async () => {
    send(inform(0x22222221));
    assert.ok(await c.next());
    await sleep(100);
    assert.equal(logged(cap, 'DHCPINFORM answered').length, 0, 'not at info');
    cap.log.level = 'debug';
    try {
      await sleep(400); // the level is copied for the thread every 250 ms
      send(inform(0x22222222));
      assert.ok(await c.next());
      await waitFor(() => logged(cap, 'DHCPINFORM answered').length === 1, "the thread's debug line");
      assert.equal(logged(cap, 'DHCPINFORM answered')[0]?.['xid'], '22222222');
    } finally {
      cap.log.level = 'info';
    }
  });

  test("a reload's log.level reaches the thread before the daemon sets it on the logger, and stays until it has", async () => {
    const before = logged(cap, 'DHCPINFORM answered').length;
    await face.reload(parseConfigText(`${yaml(c.port)}log: {level: debug}\n`, 't.yaml'));
    await sleep(300); // at least one copy of the logger's level (still info) has run since
    cap.log.level = 'debug'; // what the daemon does right after its faces reload
    try {
      send(inform(0x22222223));
      assert.ok(await c.next());
      await waitFor(() => logged(cap, 'DHCPINFORM answered').length === before + 1, "the thread's debug line");
    } finally {
      cap.log.level = 'info';
    }
  });

  test('reload swaps the URL without rebinding; a reload the thread cannot apply is refused and changes nothing', async () => {
    const port = face.port;
    await face.reload(parseConfigText(yaml(c.port, 'new.example'), 't.yaml'));
    assert.equal(face.port, port);
    send(inform(0x33333333));
    const r1 = await c.next();
    assert.ok(r1);
    const d1 = decode(r1);
    assert.ok(d1.ok && d1.message.options.get(224)?.toString().startsWith('https://new.example/'));

    await assert.rejects(face.reload(parseConfigText(yaml(c.port, 'bad.example', 'nosuch0'), 't.yaml')), (err: ProvError) => err.code === 'PROVD_ERR_DHCP_INTERFACE' && /nosuch0/.test(err.message));
    send(inform(0x33333334));
    const r2 = await c.next();
    assert.ok(r2);
    const d2 = decode(r2);
    assert.ok(d2.ok && d2.message.options.get(224)?.toString().startsWith('https://new.example/'), 'still the previous URL');
  });
});

/**
 * A second thread (not the main one, which is blocked) sends the INFORM while the main thread
 * busy-loops, and notes when it sent it and when the ACK arrived, in a SharedArrayBuffer the
 * blocked main thread can read (no message or timer runs on it). The block lasts until the ACK
 * arrived (thread mode) or until 300 ms after the INFORM left (the in-process control), at most
 * 5 s: on a loaded box the client thread's send itself can come late, so the block is tied to
 * the events, not to a fixed length. All times are wall-clock Date.now() values; the property
 * is an order, not a speed.
 */
const CLIENT_THREAD = `
const { parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
let sentAt = 0;
let shared;
s.on('message', (msg) => {
  const receivedAt = Date.now();
  if (shared) { Atomics.store(shared, 2, 1); Atomics.store(shared, 3, receivedAt - sentAt); }
  parentPort.postMessage({ t: 'reply', sentAt, receivedAt, xid: msg.readUInt32BE(4) });
});
s.bind(0, '127.0.0.1', () => parentPort.postMessage({ t: 'port', port: s.address().port }));
parentPort.on('message', (m) => {
  if (m.t === 'go') {
    shared = new Int32Array(m.shared);
    setTimeout(() => { sentAt = Date.now(); Atomics.store(shared, 0, 1); s.send(Buffer.from(m.packet), m.port, '127.0.0.1'); }, m.delayMs);
  }
  if (m.t === 'close') s.close(() => parentPort.close());
});
`;

interface Reply {
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly xid: number;
}

/** BLOCK_CAP_MS bounds a block (a face that never answers fails the round, it does not hang). */
const BLOCK_CAP_MS = 5000;

/**
 * blockedRound sends an INFORM from another thread while this one busy-loops: until the ACK
 * arrived (`until: 'ack'`) or until 300 ms after the INFORM left (`until: 'sent+300'`).
 */
async function blockedRound(face: DhcpFace, clientThread: Worker, xid: number, until: 'ack' | 'sent+300'): Promise<{ blockStart: number; blockEnd: number; reply: Reply }> {
  const answered = new Promise<Reply>((resolve) => clientThread.once('message', (m: Reply) => resolve(m)));
  const shared = new Int32Array(new SharedArrayBuffer(16));
  clientThread.postMessage({ t: 'go', port: face.port, packet: inform(xid), delayMs: 50, shared: shared.buffer });
  const blockStart = Date.now();
  let sentSeenAt = 0;
  for (;;) {
    // a saturated main thread: no timer, no socket, no message runs here
    const now = Date.now();
    if (now - blockStart >= BLOCK_CAP_MS) break;
    if (until === 'ack' && Atomics.load(shared, 2) === 1) break;
    if (Atomics.load(shared, 0) === 1) {
      if (sentSeenAt === 0) sentSeenAt = now;
      if (until === 'sent+300' && now - sentSeenAt >= 300) break;
    }
  }
  const blockEnd = Date.now();
  const reply = await Promise.race([answered, sleep(3000).then(() => assert.fail('no ACK within 3 s of the block'))]);
  return { blockStart, blockEnd, reply };
}

test('the ACK leaves while the main thread is blocked (thread mode), and waits for it in-process', async () => {
  const clientThread = new Worker(CLIENT_THREAD, { eval: true });
  const [hello] = (await once(clientThread, 'message')) as [{ port: number }];
  const cap = captureLog('info');
  const config = parseConfigText(yaml(hello.port), 't.yaml');
  const threaded = new DhcpFace({ config, log: cap.log, checkPortFree: false });
  const inProcess = new DhcpFace({ config, log: cap.log, listInterfaces: () => [LOOPBACK], checkPortFree: false });
  try {
    await threaded.start();
    await inProcess.start();
    const t = await blockedRound(threaded, clientThread, 0x44444444, 'ack');
    assert.equal(t.reply.xid, 0x44444444);
    assert.ok(t.reply.sentAt >= t.blockStart && t.reply.sentAt < t.blockEnd, `the INFORM was sent during the block: ${JSON.stringify(t)}`);
    assert.ok(t.blockEnd - t.blockStart < BLOCK_CAP_MS && t.reply.receivedAt <= t.blockEnd, `the ACK arrived while the main thread was still blocked: ${JSON.stringify(t)}`);

    // The control: the same face on the blocked loop cannot answer before the loop is free.
    const p = await blockedRound(inProcess, clientThread, 0x44444445, 'sent+300');
    assert.equal(p.reply.xid, 0x44444445);
    assert.ok(p.reply.sentAt < p.blockEnd, `the INFORM was sent during the block: ${JSON.stringify(p)}`);
    assert.ok(p.reply.receivedAt >= p.blockEnd, `in-process, the ACK waits for the loop: ${JSON.stringify(p)}`);
  } finally {
    await threaded.close();
    await inProcess.close();
    clientThread.postMessage({ t: 'close' });
    await once(clientThread, 'exit');
  }
});

test('a thread that dies is restarted and serves again; a reload while it is down is refused', async () => {
  const c = await client();
  const cap = captureLog('info');
  const face = new DhcpFace({ config: parseConfigText(yaml(c.port), 't.yaml'), log: cap.log, checkPortFree: false, restartBaseMs: 300 });
  try {
    await face.start();
    const first = face.thread;
    assert.ok(first);
    await first.terminate(); // as an uncaught exception would end it
    await waitFor(() => logged(cap, 'DHCP thread died').length === 1, "'DHCP thread died'");
    assert.equal(logged(cap, 'DHCP thread died')[0]?.['restartInMs'], 300);
    await assert.rejects(face.reload(parseConfigText(yaml(c.port, 'other.example'), 't.yaml')), (err: ProvError) => err.code === 'PROVD_ERR_DHCP_WORKER');
    await waitFor(() => logged(cap, 'DHCP thread restarted').length === 1, "'DHCP thread restarted'");
    assert.notEqual(face.thread, first);
    c.sock.send(inform(0x55555555), face.port ?? 0, '127.0.0.1');
    const reply = await c.next();
    assert.ok(reply, 'the restarted thread answers');
    const d = decode(reply);
    assert.ok(d.ok && d.message.options.get(224)?.toString().startsWith('https://prov.example/'), 'on the running configuration');
    assert.equal((await face.fetchStats())['thread-restarts'], 1);
  } finally {
    await face.close();
    c.sock.close();
  }
});

test(`${MAX_DEATHS} deaths in a row are fatal (onFatal, PROVD_ERR_DHCP_WORKER), once`, async () => {
  const cap = captureLog('info');
  const fatal: ProvError[] = [];
  const face = new DhcpFace({ config: parseConfigText(yaml(9), 't.yaml'), log: cap.log, checkPortFree: false, restartBaseMs: 10, onFatal: (e) => fatal.push(e) });
  try {
    await face.start();
    for (let i = 0; i < MAX_DEATHS; i++) {
      await waitFor(() => face.thread !== undefined && (face.stats()['thread-restarts'] ?? 0) === i, `restart ${i}`);
      await face.thread?.terminate();
      await waitFor(() => logged(cap, 'DHCP thread died').length === i + 1, `death ${i + 1}`);
    }
    assert.equal(fatal.length, 1);
    assert.equal(fatal[0]?.code, 'PROVD_ERR_DHCP_WORKER');
    assert.equal(logged(cap, 'DHCP face dead: exiting so that the service manager restarts the daemon').length, 1);
  } finally {
    await face.close();
  }
});

test('close waits for the thread to exit and keeps its last counters; start errors leave no thread', async () => {
  const c = await client();
  const cap = captureLog('info');
  const face = new DhcpFace({ config: parseConfigText(yaml(c.port), 't.yaml'), log: cap.log, checkPortFree: false });
  await face.start();
  c.sock.send(inform(0x66666666), face.port ?? 0, '127.0.0.1');
  assert.ok(await c.next());
  const w = face.thread;
  assert.ok(w);
  let exited = false;
  w.once('exit', () => (exited = true));
  await face.close();
  assert.equal(exited, true, 'the thread has exited when close() resolves');
  assert.equal(face.thread, undefined);
  assert.equal(face.port, undefined);
  assert.equal(face.stats()['acked'], 1, 'the counters the thread sent at close');
  await face.close();
  c.sock.close();

  const bad = new DhcpFace({ config: parseConfigText(yaml(9, 'x.example', 'nosuch0'), 't.yaml'), log: cap.log, checkPortFree: false });
  await assert.rejects(bad.start(), (err: ProvError) => err.code === 'PROVD_ERR_DHCP_INTERFACE' && /nosuch0/.test(err.message));
  assert.equal(bad.thread, undefined);
  await bad.close();
});

test('the daemon runs the DHCP face in its thread; a reload to debug is heard at once; close collects the counters', async () => {
  const c = await client();
  const cfg = (level: string): string => `dhcp: {port: 0, replyPort: ${c.port}, interfaces: [lo]}\nmdns: {enabled: false}\nhttp: {enabled: false}\nlog: {level: ${level}}\n`;
  const cap = captureLog('info');
  const d = createDaemon(parseConfigText(cfg('info'), 'd.yaml'), { log: cap.log, checkPortFree: false });
  try {
    await d.start();
    const face = d.faces.get('dhcp') as DhcpFace | undefined;
    assert.equal(face?.inThread, true);
    await d.reload(parseConfigText(cfg('debug'), 'd.yaml'));
    c.sock.send(inform(0x77777777), face?.port ?? 0, '127.0.0.1');
    assert.ok(await c.next());
    await waitFor(() => logged(cap, 'DHCPINFORM answered').some((l) => l['face'] === 'dhcp'), 'the debug line at the reloaded level');
    assert.equal((await d.fetchStats())['dhcp']?.['acked'], 1, 'fetchStats (SIGUSR1) asks the thread');
  } finally {
    await d.close();
    c.sock.close();
  }
  const stopped = logged(cap, 'provisiond stopped')[0]?.['stats'] as Record<string, Record<string, number>> | undefined;
  assert.equal(stopped?.['dhcp']?.['acked'], 1);
});
