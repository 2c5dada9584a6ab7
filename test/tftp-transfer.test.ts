/**
 * tftp-transfer.test.ts: the pure transfer state machine (src/tftp/transfer.ts), driven by a
 * made-up clock: negotiation by table (OACK holds only what was asked), lock-step and windowed
 * transfers run to the end with a simulated client, block-number rollover, the duplicate ACK that
 * must not resend (Sorcerer's Apprentice), retransmission with back-off and its bound, Karn's
 * rule, the client's `timeout` option, an ERROR ending the transfer, a source that reads ahead.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode, type Packet, type TftpOption, ErrorCode } from '../src/tftp/codec';
import { Transfer, negotiate, checkMode, bufferSource, DEFAULT_LIMITS, type BlockSource, type Step, type TransferLimits } from '../src/tftp/transfer';

const L: TransferLimits = { ...DEFAULT_LIMITS, maxBlksize: 1468, maxWindowsize: 16, retries: 3, initialRtoMs: 1000, minRtoMs: 100, maxRtoMs: 8000 };

function dec(b: Buffer): Packet {
  const r = decode(b);
  if (!r.ok) assert.fail(r.error.detail);
  return r.packet;
}
const ack = (block: number): Packet => ({ op: 'ack', block: block & 0xffff });
const o = (name: string, value: string): TftpOption => ({ name, value });
/** blocksOf lists the DATA block numbers (wire) of a step's packets. */
const blocksOf = (s: Step): number[] => s.send.map(dec).flatMap((p) => (p.op === 'data' ? [p.block] : []));

describe('TFTP transfer: negotiation', () => {
  const rows: Array<[string, TftpOption[], number, { blksize: number; windowsize: number; timeoutMs: number | undefined; oack: TftpOption[] | undefined }]> = [
    ['no options: no OACK', [], 100, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
    ['blksize only: the OACK has blksize only', [o('blksize', '1024')], 100, { blksize: 1024, windowsize: 1, timeoutMs: undefined, oack: [o('blksize', '1024')] }],
    ['blksize over our maximum is answered with it', [o('blksize', '65464')], 100, { blksize: 1468, windowsize: 1, timeoutMs: undefined, oack: [o('blksize', '1468')] }],
    ['blksize below 8 is dropped', [o('blksize', '4')], 100, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
    ['tsize answered with the real size', [o('tsize', '0')], 123456, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: [o('tsize', '123456')] }],
    ['tsize garbage is dropped', [o('tsize', 'x')], 10, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
    ['timeout echoed and fixed', [o('timeout', '3')], 10, { blksize: 512, windowsize: 1, timeoutMs: 3000, oack: [o('timeout', '3')] }],
    ['timeout 0 is dropped', [o('timeout', '0')], 10, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
    ['windowsize capped at ours', [o('windowsize', '64')], 10, { blksize: 512, windowsize: 16, timeoutMs: undefined, oack: [o('windowsize', '16')] }],
    ['windowsize 0 is dropped', [o('windowsize', '0')], 10, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
    [
      'all four, in the client order; unknown options left out',
      [o('tsize', '0'), o('multicast', ''), o('windowsize', '8'), o('blksize', '1400'), o('timeout', '5')],
      7,
      { blksize: 1400, windowsize: 8, timeoutMs: 5000, oack: [o('tsize', '7'), o('windowsize', '8'), o('blksize', '1400'), o('timeout', '5')] },
    ],
    ['only unknown options: no OACK', [o('rollover', '0')], 7, { blksize: 512, windowsize: 1, timeoutMs: undefined, oack: undefined }],
  ];
  for (const [name, opts, size, want] of rows) {
    test(name, () => {
      assert.deepEqual(negotiate(opts, size, L), want);
    });
  }

  test('modes: octet served; netascii, mail and others refused with ERROR 4', () => {
    const req = (mode: string) => ({ op: 'rrq' as const, filename: 'f', mode, options: [] });
    assert.equal(checkMode(req('octet')), undefined);
    assert.deepEqual(checkMode(req('netascii')), { code: ErrorCode.IllegalOperation, message: 'mode netascii is not served: use octet (binary) mode', reason: 'mode-netascii' });
    assert.equal(checkMode(req('mail'))?.reason, 'mode-mail');
    assert.equal(checkMode(req('binary'))?.reason, 'mode-unknown');
  });
});

/** run plays a perfect client to the end and returns the bytes it assembled and the steps' counters. */
function runToEnd(t: Transfer, first: Step, opts: { loseAckOf?: number } = {}): { bytes: Buffer; counted: string[]; packets: number } {
  const parts: Buffer[] = [];
  const counted: string[] = [...first.counted];
  let now = 0;
  let step = first;
  let packets = 0;
  let expect = 1; // absolute block the client wants next
  let lost = false;
  for (let guard = 0; guard < 1_000_000; guard++) {
    if (step.end) break;
    let last: number | undefined;
    for (const b of step.send) {
      packets++;
      const p = dec(b);
      if (p.op === 'oack') last = 0;
      else if (p.op === 'data' && p.block === (expect & 0xffff)) {
        parts.push(p.data);
        last = expect;
        expect++;
        if (p.data.length < t.blksize) break;
      } else if (p.op === 'data' && p.block === ((expect - 1) & 0xffff)) {
        last = expect - 1; // a duplicate: the client acknowledges it again
      }
    }
    now += 1;
    if (last !== undefined && !(opts.loseAckOf === last && !lost)) {
      step = t.packet(ack(last), now);
    } else {
      if (opts.loseAckOf === last) lost = true;
      now = step.deadline ?? now;
      step = t.tick(now);
    }
    counted.push(...step.counted);
  }
  assert.ok(step.end, 'the transfer ended');
  assert.equal(step.end?.reason, 'complete', step.end?.detail);
  return { bytes: Buffer.concat(parts), counted, packets };
}

function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('TFTP transfer: whole transfers with a simulated client', () => {
  const rows: Array<[string, number, TftpOption[]]> = [
    ['empty file: one empty block', 0, []],
    ['smaller than a block', 100, []],
    ['exact multiple of 512: a last empty block', 1024, []],
    ['blksize 1468 + tsize', 10_000, [o('blksize', '1468'), o('tsize', '0')]],
    ['windowsize 4', 10_000, [o('windowsize', '4')]],
    ['windowsize 16, exact multiple', 512 * 32, [o('windowsize', '16')]],
    ['blksize 8', 100, [o('blksize', '8')]],
  ];
  for (const [name, size, opts] of rows) {
    test(name, () => {
      const file = data(size);
      const n = negotiate(opts, size, L);
      const t = new Transfer(bufferSource(file), n, L);
      const r = runToEnd(t, t.start(0));
      assert.ok(r.bytes.equals(file));
      assert.deepEqual(r.counted.filter((c) => c !== 'window-gap'), []);
    });
  }

  test('rollover: 70 000 blocks of 512 bytes go out as 1..65535, 0, 1, … and complete', () => {
    const size = 512 * 70_000 + 5;
    const file = data(size);
    const t = new Transfer(bufferSource(file), negotiate([], size, L), L);
    const wire: number[] = [];
    let step = t.start(0);
    let now = 0;
    while (!step.end) {
      const p = dec(step.send[0] as Buffer);
      assert.equal(p.op, 'data');
      if (p.op !== 'data') break;
      wire.push(p.block);
      step = t.packet(ack(p.block), ++now);
    }
    assert.equal(step.end?.reason, 'complete');
    assert.equal(wire.length, 70_001);
    assert.deepEqual(wire.slice(65533, 65538), [65534, 65535, 0, 1, 2]);
    assert.equal(wire[70_000], 70_001 & 0xffff);
  });

  test('windowed rollover: windowsize 16 across block 65536', () => {
    const size = 512 * 66_000;
    const file = data(size);
    const t = new Transfer(bufferSource(file), negotiate([o('windowsize', '16')], size, L), L);
    const r = runToEnd(t, t.start(0));
    assert.ok(r.bytes.equals(file));
  });
});

describe('TFTP transfer: loss, duplicates and timers', () => {
  test('a duplicate ACK sends nothing (Sorcerer\'s Apprentice) and keeps the deadline', () => {
    const file = data(2000);
    const t = new Transfer(bufferSource(file), negotiate([], 2000, L), L);
    const s0 = t.start(0);
    assert.deepEqual(blocksOf(s0), [1]);
    const s1 = t.packet(ack(1), 10);
    assert.deepEqual(blocksOf(s1), [2]);
    const dup = t.packet(ack(1), 20);
    assert.deepEqual(dup.send, []);
    assert.deepEqual(dup.counted, ['duplicate-ack']);
    assert.equal(dup.deadline, s1.deadline);
    // The real ACK of 2 then moves on, to 3 only once.
    assert.deepEqual(blocksOf(t.packet(ack(2), 30)), [3]);
    assert.deepEqual(t.packet(ack(2), 31).send, []);
  });

  test('a lost ACK: the block is resent once at the deadline, then the transfer goes on', () => {
    const file = data(1500);
    const t = new Transfer(bufferSource(file), negotiate([], 1500, L), L);
    const s0 = t.start(0);
    assert.equal(s0.deadline, 1000, 'the initial RTO');
    assert.deepEqual(t.tick(999).send, [], 'nothing before the deadline');
    const r = t.tick(1000);
    assert.deepEqual(blocksOf(r), [1]);
    assert.deepEqual(r.counted, ['retransmit']);
    assert.equal(r.deadline, 1000 + 2000, 'backed off (doubled)');
    assert.deepEqual(blocksOf(t.packet(ack(1), 1005)), [2]);
    assert.equal(t.state.timeouts, 0);
  });

  test('retries are bounded: after `retries` retransmissions an ERROR and the end', () => {
    const t = new Transfer(bufferSource(data(10)), negotiate([], 10, L), L);
    let s = t.start(0);
    const sends: number[] = [];
    for (let i = 0; i < 10 && !s.end; i++) {
      s = t.tick(s.deadline ?? 0);
      sends.push(s.send.length);
    }
    assert.equal(s.end?.reason, 'timeout');
    assert.deepEqual(sends, [1, 1, 1, 1], `${L.retries} resends, then the ERROR`);
    const last = dec(s.send[0] as Buffer);
    assert.equal(last.op, 'error');
  });

  test('the back-off is capped at maxRtoMs', () => {
    const lim = { ...L, retries: 10, maxRtoMs: 3000 };
    const t = new Transfer(bufferSource(data(10)), negotiate([], 10, lim), lim);
    let s = t.start(0);
    const gaps: number[] = [];
    let at = 0;
    for (let i = 0; i < 5; i++) {
      const d = s.deadline ?? 0;
      gaps.push(d - at);
      at = d;
      s = t.tick(d);
    }
    assert.deepEqual(gaps, [1000, 2000, 3000, 3000, 3000]);
  });

  test('the RTO adapts to the measured RTT (floor minRtoMs) and Karn\'s rule skips a retransmitted window', () => {
    const t = new Transfer(bufferSource(data(512 * 20)), negotiate([], 512 * 20, L), L);
    let s = t.start(0);
    let now = 0;
    for (let b = 1; b <= 5; b++) {
      now += 20; // a 20 ms RTT
      s = t.packet(ack(b), now);
    }
    // SRTT 20, RTTVAR shrinking from 10: RTO = max(100, 20 + 4·RTTVAR)
    assert.equal(t.state.rtoMs, 100);
    // A retransmitted window gives no sample: a late ACK (3 s) does not inflate the RTO.
    const before = t.state.rtoMs;
    s = t.tick(s.deadline ?? 0);
    assert.equal(t.state.rtoMs, before * 2);
    s = t.packet(ack(6), now + 3000);
    assert.equal(t.state.rtoMs, before * 2, 'unchanged by the ambiguous sample');
    assert.deepEqual(blocksOf(s), [7]);
  });

  test('the client\'s timeout option fixes the interval (no back-off)', () => {
    const t = new Transfer(bufferSource(data(10)), negotiate([o('timeout', '2')], 10, L), L);
    let s = t.start(0);
    assert.equal(dec(s.send[0] as Buffer).op, 'oack');
    assert.equal(s.deadline, 2000);
    s = t.tick(2000);
    assert.equal(dec(s.send[0] as Buffer).op, 'oack', 'the OACK is resent');
    assert.equal(s.deadline, 4000);
    s = t.packet(ack(0), 4001);
    assert.deepEqual(blocksOf(s), [1]);
    assert.equal(s.deadline, 6001);
  });

  test('OACK phase: only ACK 0 starts the data; an ERROR 8 ends it', () => {
    const t = new Transfer(bufferSource(data(10)), negotiate([o('blksize', '1024')], 10, L), L);
    t.start(0);
    assert.deepEqual(t.packet(ack(1), 1).counted, ['ignored:bad-ack']);
    const e = t.packet({ op: 'error', code: 8, message: 'option refused' }, 2);
    assert.equal(e.end?.reason, 'client-error');
    assert.deepEqual(e.send, []);
    assert.deepEqual(t.packet(ack(0), 3).counted, ['after-end']);
  });

  test('windowsize: a window is sent whole; the ACK of a lower block (a gap) restarts after it', () => {
    const t = new Transfer(bufferSource(data(512 * 20)), negotiate([o('windowsize', '4')], 512 * 20, L), L);
    t.start(0);
    assert.deepEqual(blocksOf(t.packet(ack(0), 1)), [1, 2, 3, 4]);
    // The client got 1 and 2, lost 3: it acks 2.
    const g = t.packet(ack(2), 2);
    assert.deepEqual(blocksOf(g), [3, 4, 5, 6]);
    assert.ok(g.counted.includes('window-gap'));
    assert.deepEqual(blocksOf(t.packet(ack(6), 3)), [7, 8, 9, 10]);
    // A duplicate of the window's ACK: nothing.
    assert.deepEqual(t.packet(ack(6), 4).send, []);
    // A timeout resends the whole outstanding window.
    const r = t.tick(10_000);
    assert.deepEqual(blocksOf(r), [7, 8, 9, 10]);
  });

  test('an ACK for a block never sent, or a stale one from before, is ignored', () => {
    const t = new Transfer(bufferSource(data(5000)), negotiate([], 5000, L), L);
    t.start(0);
    t.packet(ack(1), 1);
    assert.deepEqual(t.packet(ack(9), 2).counted, ['ignored:stale-ack']);
    assert.deepEqual(t.packet(ack(0), 3).counted, ['ignored:stale-ack']);
    assert.deepEqual(t.packet({ op: 'data', block: 1, data: Buffer.alloc(0) }, 4).counted, ['ignored:data']);
  });

  test('a lost ACK mid-transfer in a full simulated run: the file arrives intact', () => {
    const file = data(512 * 10 + 3);
    const t = new Transfer(bufferSource(file), negotiate([], file.length, L), L);
    const r = runToEnd(t, t.start(0), { loseAckOf: 4 });
    assert.ok(r.bytes.equals(file));
    assert.deepEqual(r.counted, ['retransmit']);
  });
});

describe('TFTP transfer: a source that reads ahead', () => {
  /** lazySource holds bytes back until fill() is called, as the engine's file reader does. */
  function lazySource(file: Buffer): BlockSource & { fill(upTo: number): void; released: number } {
    let avail = 0;
    const s = {
      size: file.length,
      released: 0,
      slice: (start: number, end: number) => (end <= avail ? file.subarray(start, end) : undefined),
      release: (off: number) => {
        s.released = off;
      },
      fill: (upTo: number) => {
        avail = upTo;
      },
    };
    return s;
  }

  test('waits without a timer until the bytes are there, then sends; releases acknowledged bytes', () => {
    const file = data(512 * 6);
    const src = lazySource(file);
    const t = new Transfer(src, negotiate([o('windowsize', '4')], file.length, L), L);
    let s = t.start(0);
    assert.equal(dec(s.send[0] as Buffer).op, 'oack');
    s = t.packet(ack(0), 1);
    assert.deepEqual(s.send, []);
    assert.equal(s.deadline, undefined);
    assert.deepEqual(s.counted, ['waiting-for-data']);
    src.fill(512 * 2);
    s = t.resume(5);
    assert.deepEqual(blocksOf(s), [1, 2]);
    src.fill(file.length);
    s = t.resume(6);
    assert.deepEqual(blocksOf(s), [3, 4], 'continues the window, resends nothing');
    s = t.packet(ack(4), 7);
    assert.equal(src.released, 512 * 4);
    assert.deepEqual(blocksOf(s), [5, 6, 7]);
  });

  test('a source that returns fewer bytes than asked ends the transfer with an ERROR', () => {
    const src: BlockSource = { size: 1000, slice: (start) => Buffer.alloc(start === 0 ? 512 : 3) };
    const t = new Transfer(src, negotiate([], 1000, L), L);
    let s = t.start(0);
    assert.deepEqual(blocksOf(s), [1]);
    s = t.packet(ack(1), 1);
    assert.equal(s.end?.reason, 'source-error');
    assert.equal(dec(s.send[s.send.length - 1] as Buffer).op, 'error');
  });
});
