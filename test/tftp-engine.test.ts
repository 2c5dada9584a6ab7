/**
 * tftp-engine.test.ts: the TFTP engine (src/tftp/engine.ts) in this process on loopback, with an
 * injected `ask` (what the main thread answers in the daemon), and the pure handler
 * (src/tftp/handler.ts) by table: names, keys and refusals; asks bounded in flight with counted
 * drops; a resent RRQ starting one transfer; a stranger's packet to a transfer's port answered
 * ERROR 5 without disturbing it; tftp.maxTransfers; a source file that shrinks under a transfer.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TftpEngine, MAX_ASKS, type FileAnswer, type FileAsk, type TftpLog } from '../src/tftp/engine';
import { classify, splitName } from '../src/tftp/handler';
import { decode, encodeAck, encodeRequest, type Packet } from '../src/tftp/codec';
import { tftpSchema } from '../src/tftp/config';
import type { HostInterface } from '../src/net/interfaces';

const LOOPBACK: HostInterface = { name: 'lo', address: 0x7f000001, internal: true, cidr: { network: '127.0.0.0', prefix: 8, base: 0x7f000000, mask: 0xff000000 } };
const quiet: TftpLog = { isLevelEnabled: () => false, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('TFTP handler: file names by table', () => {
  const rows: Array<[string, ReturnType<typeof splitName>]> = [
    ['SEP001122334455.cnf.xml', { kind: 'ask', key: undefined, file: 'SEP001122334455.cnf.xml', logName: 'SEP001122334455.cnf.xml' }],
    ['/spa504g.cfg', { kind: 'ask', key: undefined, file: 'spa504g.cfg', logName: 'spa504g.cfg' }],
    ['\\spa504g.cfg', { kind: 'ask', key: undefined, file: 'spa504g.cfg', logName: 'spa504g.cfg' }],
    ['//k3y/0015654aa937.cfg', { kind: 'ask', key: 'k3y', file: '0015654aa937.cfg', logName: '<key>/0015654aa937.cfg' }],
    ['k3y\\0015654aa937.cfg', { kind: 'ask', key: 'k3y', file: '0015654aa937.cfg', logName: '<key>/0015654aa937.cfg' }],
    ['device/provisioning/k3y/a.cfg', { kind: 'ask', key: 'k3y', file: 'a.cfg', logName: 'device/provisioning/<key>/a.cfg' }],
    ['device/provisioning/a.cfg', { kind: 'ask', key: 'device', file: 'provisioning/a.cfg', logName: '<key>/provisioning/a.cfg' }],
  ];
  for (const [name, want] of rows) test(`${JSON.stringify(name)} → ${want.kind === 'ask' ? `key ${String(want.key)}, file ${want.file}` : ''}`, () => assert.deepEqual(splitName(name), want));

  const bad = ['', '/', '../etc/passwd', 'a/../b', 'k/./a.cfg', 'k//a.cfg', 'a\x01b', 'a\x7f', 'x'.repeat(401)];
  for (const name of bad) {
    test(`refused: ${JSON.stringify(name.slice(0, 20))}`, () => {
      const r = splitName(name);
      assert.equal(r.kind, 'refuse');
      if (r.kind === 'refuse') {
        assert.equal(r.code, 2);
        assert.equal(r.reason, 'bad-name');
      }
    });
  }

  test('WRQ → ERROR 2, netascii → ERROR 4, octet RRQ → ask', () => {
    assert.deepEqual(classify({ op: 'wrq', filename: 'a', mode: 'octet', options: [] }), { kind: 'refuse', code: 2, message: 'write requests are refused: provisiond serves files, it takes none', reason: 'wrq' });
    assert.equal(classify({ op: 'rrq', filename: 'a', mode: 'netascii', options: [] }).kind, 'refuse');
    assert.equal(classify({ op: 'rrq', filename: 'a', mode: 'octet', options: [] }).kind, 'ask');
  });
});

/** client opens a loopback socket that queues what it receives. */
async function client(): Promise<{ s: Socket; port: number; next(ms?: number): Promise<{ p: Packet; port: number } | undefined>; close(): void }> {
  const s = createSocket('udp4');
  const queue: { p: Packet; port: number }[] = [];
  let wake: (() => void) | undefined;
  s.on('message', (m, r) => {
    const d = decode(m);
    if (d.ok) queue.push({ p: d.packet, port: r.port });
    wake?.();
  });
  await new Promise<void>((resolve) => s.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
  return {
    s,
    port: s.address().port,
    async next(ms = 2000) {
      const end = Date.now() + ms;
      while (queue.length === 0 && Date.now() < end) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
      return queue.shift();
    },
    close: () => s.close(),
  };
}

describe('TFTP engine on loopback', () => {
  const dir = mkdtempSync(join(tmpdir(), 'provd-tftp-engine-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function engine(ask: (a: FileAsk) => Promise<FileAnswer>, over: Record<string, unknown> = {}): Promise<{ e: TftpEngine; port: number }> {
    const tftp = tftpSchema.parse({ enabled: true, port: 0, interfaces: ['lo'], rateLimit: { rate: 0 }, ...over });
    const e = new TftpEngine({ config: { tftp }, log: quiet, ask, listInterfaces: () => [LOOPBACK], checkPortFree: false });
    await e.start();
    return { e, port: e.boundPort ?? 0 };
  }

  test(`asks are bounded: ${MAX_ASKS} in flight, the rest dropped and counted; all released once answered`, async () => {
    const pending: ((a: FileAnswer) => void)[] = [];
    const { e, port } = await engine(() => new Promise((r) => pending.push(r)), { maxTransfers: 1000, maxTransfersPerSource: 1000 });
    const socks: Socket[] = [];
    try {
      for (let i = 0; i < MAX_ASKS + 36; i++) {
        const s = createSocket('udp4');
        socks.push(s);
        await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
        s.send(encodeRequest('rrq', `f${i}`, 'octet'), port, '127.0.0.1');
      }
      for (let i = 0; i < 100 && (e.stats()['received'] ?? 0) < MAX_ASKS + 36; i++) await sleep(20);
      const st = e.stats();
      assert.equal(st['asks-in-flight'], MAX_ASKS);
      assert.equal(st['dropped:asks-full'], 36);
      assert.equal(pending.length, MAX_ASKS);
      for (const r of pending) r({ kind: 'error', code: 1, message: 'File not found', reason: 'unknown-file' });
      for (let i = 0; i < 100 && (e.stats()['active'] ?? 1) > 0; i++) await sleep(20);
      assert.equal(e.stats()['active'], 0);
      assert.equal(e.stats()['asks-in-flight'], 0);
    } finally {
      for (const s of socks) s.close();
      await e.close();
    }
  });

  test('a resent RRQ starts one transfer; a stranger gets ERROR 5 and the transfer goes on; tftp.maxTransfers refuses the next', async () => {
    const body = Buffer.alloc(1500, 7);
    let asked = 0;
    const { e, port } = await engine(async () => {
      asked++;
      return { kind: 'data', body };
    }, { maxTransfers: 1 });
    const c = await client();
    const stranger = await client();
    const other = await client();
    try {
      const rrq = encodeRequest('rrq', 'a.cfg', 'octet');
      c.s.send(rrq, port, '127.0.0.1');
      c.s.send(rrq, port, '127.0.0.1');
      const d1 = await c.next();
      assert.deepEqual(d1?.p, { op: 'data', block: 1, data: body.subarray(0, 512) });
      const tid = d1?.port ?? 0;
      // Another source port to the transfer's TID: ERROR 5, the transfer is not disturbed.
      stranger.s.send(encodeAck(1), tid, '127.0.0.1');
      const e5 = await stranger.next();
      assert.equal(e5?.p.op, 'error');
      assert.equal(e5?.p.op === 'error' ? e5.p.code : -1, 5);
      // tftp.maxTransfers: 1 is running: the next client gets ERROR 0.
      other.s.send(encodeRequest('rrq', 'b.cfg', 'octet'), port, '127.0.0.1');
      const busy = await other.next();
      assert.deepEqual(busy?.p, { op: 'error', code: 0, message: 'server busy; retry later' });
      c.s.send(encodeAck(1), tid, '127.0.0.1');
      assert.equal((await c.next())?.p.op, 'data');
      c.s.send(encodeAck(2), tid, '127.0.0.1');
      const d3 = await c.next();
      assert.deepEqual(d3?.p, { op: 'data', block: 3, data: body.subarray(1024) });
      c.s.send(encodeAck(3), tid, '127.0.0.1');
      for (let i = 0; i < 100 && (e.stats()['transfers:complete'] ?? 0) < 1; i++) await sleep(20);
      const st = e.stats();
      assert.equal(asked, 1, 'one ask for the two RRQs');
      assert.equal(st['duplicate-request'], 1);
      assert.equal(st['unknown-tid'], 1);
      assert.equal(st['refused:busy'], 1);
      assert.equal(st['transfers:complete'], 1);
      assert.equal(st['active'], 0);
    } finally {
      c.close();
      stranger.close();
      other.close();
      await e.close();
    }
  });

  test('a static file that shrinks under its transfer ends it with an ERROR (source-error), no hang', async () => {
    const path = join(dir, 'fw.bin');
    writeFileSync(path, Buffer.alloc(512 * 400, 1));
    const { e, port } = await engine(async () => ({ kind: 'static', path }), { maxTransfers: 10000 });
    const c = await client();
    try {
      c.s.send(encodeRequest('rrq', 'fw.bin', 'octet'), port, '127.0.0.1');
      const d1 = await c.next();
      assert.equal(d1?.p.op, 'data');
      truncateSync(path, 1000);
      // Ack blocks until the read-ahead runs past the truncated end.
      let last: Packet | undefined = d1?.p;
      for (let b = 1; b < 400 && last?.op === 'data'; b++) {
        c.s.send(encodeAck(b), d1?.port ?? 0, '127.0.0.1');
        last = (await c.next())?.p;
      }
      assert.equal(last?.op, 'error', JSON.stringify(last));
      for (let i = 0; i < 100 && (e.stats()['active'] ?? 1) > 0; i++) await sleep(20);
      assert.equal(e.stats()['transfers:source-error'], 1);
      assert.equal(e.stats()['active'], 0);
    } finally {
      c.close();
      await e.close();
    }
  });
});
