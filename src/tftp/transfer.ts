/**
 * transfer.ts: one read transfer (RRQ) as a pure state machine: packets and clock ticks in,
 * packets to send, the next deadline and the end out. No socket, no timer, no clock of its own:
 * the engine (engine.ts) feeds it, tests drive it with a made-up clock.
 *
 * - Negotiation (negotiate): octet mode only (netascii and mail are refused with ERROR 4: phones
 *   fetch in octet mode, sip-phones.md §5.1, and a byte-exact firmware or config must not be
 *   rewritten). The OACK holds only options the client asked for, with the values we accept
 *   (RFC 2347): blksize up to the face's maximum, windowsize up to ours, timeout echoed, tsize =
 *   the real size. No usable option: no OACK, DATA 1 straight away (RFC 1350).
 * - Blocks are numbered from 1, absolute; on the wire modulo 2^16, so block 65536 goes out as 0
 *   (the rollover tftp-hpa's, curl's and atftp's clients follow: their counters are 16-bit and
 *   wrap to 0). An ACK is mapped back to the one absolute block in (acked - 2^16, sent] it can
 *   name: the window is capped well below 2^16, so that is unambiguous.
 * - Windows (RFC 7440): up to `windowsize` blocks are sent, then the ACK of the window's last
 *   block, or of a lower one (the client saw a gap), moves the window to start after it.
 * - Retransmission: adaptive (RFC 6298's SRTT/RTTVAR estimator, Karn's rule: no sample from a
 *   retransmitted window), doubled per timeout, at most `retries` timeouts in a row; a client's
 *   `timeout` option fixes the interval instead (RFC 2349). A duplicate ACK (the block already
 *   acknowledged) never triggers a resend: the Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1).
 * - An ERROR from the client ends the transfer; so does the last block's ACK.
 */
import {
  encodeData,
  encodeError,
  encodeOack,
  readOptions,
  ErrorCode,
  DEFAULT_BLKSIZE,
  type RequestPacket,
  type TftpOption,
  type Packet,
} from './codec';

/** TransferLimits are the face's limits on what a client may negotiate, and the retransmission bounds. */
export interface TransferLimits {
  /** maxBlksize: the largest block we agree to (8..65464). */
  readonly maxBlksize: number;
  /** maxWindowsize: the largest window we agree to (1..MAX_WINDOW). */
  readonly maxWindowsize: number;
  /** retries: timeouts in a row before the transfer is abandoned. */
  readonly retries: number;
  /** initialRtoMs: the first retransmission timeout, before any RTT sample. */
  readonly initialRtoMs: number;
  /** minRtoMs / maxRtoMs bound the adaptive timeout. */
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
}

/** MAX_WINDOW caps windowsize so that an ACK's 16-bit block number names one block only. */
export const MAX_WINDOW = 4096;

/** DEFAULT_LIMITS are the face's defaults (config.ts mirrors them). */
export const DEFAULT_LIMITS: TransferLimits = { maxBlksize: 65464, maxWindowsize: 64, retries: 5, initialRtoMs: 1000, minRtoMs: 200, maxRtoMs: 10_000 };

/** Negotiated is what a request turned into: the transfer's parameters and the OACK (if any). */
export interface Negotiated {
  readonly blksize: number;
  readonly windowsize: number;
  /** timeoutMs: the client's `timeout` option, fixed; undefined: adaptive. */
  readonly timeoutMs: number | undefined;
  /** oack: the options to acknowledge, in the client's order; undefined: no OACK (DATA 1 first). */
  readonly oack: readonly TftpOption[] | undefined;
}

/** Refusal is a request answered with an ERROR packet instead of a transfer. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  /** reason: a stable counter suffix. */
  readonly reason: string;
}

/** checkMode refuses any mode but octet (ERROR 4, as tftpd-hpa answers an unknown mode). */
export function checkMode(req: RequestPacket): Refusal | undefined {
  if (req.mode === 'octet') return undefined;
  if (req.mode === 'netascii' || req.mode === 'mail') return { code: ErrorCode.IllegalOperation, message: `mode ${req.mode} is not served: use octet (binary) mode`, reason: `mode-${req.mode}` };
  return { code: ErrorCode.IllegalOperation, message: 'unknown transfer mode', reason: 'mode-unknown' };
}

/**
 * negotiate decides the transfer's parameters from the request's options and the file's size
 * (RFC 2347: only options asked for, with values we accept; an unusable value drops the option).
 */
export function negotiate(options: readonly TftpOption[], size: number, limits: TransferLimits): Negotiated {
  const known = readOptions(options);
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = 1;
  let timeoutMs: number | undefined;
  const oack: TftpOption[] = [];
  // Walk the request's own order, so the OACK lists options as the client did.
  for (const o of options) {
    switch (o.name) {
      case 'blksize':
        if (known.blksize.kind === 'ok') {
          blksize = Math.min(known.blksize.value, limits.maxBlksize);
          oack.push({ name: 'blksize', value: String(blksize) });
        }
        break;
      case 'windowsize':
        if (known.windowsize.kind === 'ok') {
          windowsize = Math.max(1, Math.min(known.windowsize.value, limits.maxWindowsize, MAX_WINDOW));
          oack.push({ name: 'windowsize', value: String(windowsize) });
        }
        break;
      case 'timeout':
        if (known.timeout.kind === 'ok') {
          timeoutMs = known.timeout.value * 1000;
          oack.push({ name: 'timeout', value: String(known.timeout.value) });
        }
        break;
      case 'tsize':
        // RFC 2349: a RRQ carries tsize 0; the OACK carries the file's size.
        if (known.tsize.kind === 'ok') oack.push({ name: 'tsize', value: String(size) });
        break;
      default:
        break; // unknown options are ignored (RFC 2347 §2)
    }
  }
  return { blksize, windowsize, timeoutMs, oack: oack.length > 0 ? oack : undefined };
}

/** BlockSource gives a transfer its bytes. */
export interface BlockSource {
  readonly size: number;
  /**
   * slice returns bytes [start, end) of the file, or undefined when they are not read yet (the
   * engine reads ahead and calls Transfer.resume once they are). Never more than asked.
   */
  slice(start: number, end: number): Buffer | undefined;
  /** release says that no byte below `offset` will be asked for again (read-ahead may drop them). */
  release?(offset: number): void;
}

/** bufferSource serves a file held in memory (a rendered file). */
export function bufferSource(buf: Buffer): BlockSource {
  return { size: buf.length, slice: (start, end) => buf.subarray(start, Math.min(end, buf.length)) };
}

/** EndReason is how a transfer ended. */
export type EndReason = 'complete' | 'client-error' | 'timeout' | 'source-error';

/** Step is what one event produced: packets to send (in order), the next deadline, the end. */
export interface Step {
  readonly send: readonly Buffer[];
  /** deadline: when to call tick() next (ms, the injected clock's); undefined: no timer (ended, or waiting for data). */
  readonly deadline: number | undefined;
  readonly end?: { readonly reason: EndReason; readonly detail: string };
  /** counted: stable counter names for what happened (retransmit, duplicate-ack, …). */
  readonly counted: readonly string[];
}

/** TransferState is a snapshot for tests and counters. */
export interface TransferState {
  readonly acked: number;
  readonly sent: number;
  readonly totalBlocks: number;
  readonly rtoMs: number;
  readonly timeouts: number;
  readonly ended: boolean;
}

/**
 * Transfer sends one file to one client. Call start() once, then packet() for each datagram of
 * the client's TID, tick() at the deadline, resume() when a BlockSource that returned undefined
 * has the bytes.
 */
export class Transfer {
  readonly blksize: number;
  readonly windowsize: number;
  /** totalBlocks: the last one is shorter than blksize (possibly empty). */
  readonly totalBlocks: number;
  private readonly fixedTimeout: number | undefined;
  /** acked: the highest absolute block acknowledged (0 = none; also the OACK's ACK). */
  private acked = 0;
  /** sent: the highest absolute block sent so far. */
  private sent = 0;
  /** oackPending: the OACK was sent and its ACK 0 has not come. */
  private oackPending: boolean;
  private srtt: number | undefined;
  private rttvar = 0;
  private rto: number;
  private timeouts = 0;
  /** windowAt: when the current window was first sent; windowRetransmitted: Karn's rule. */
  private windowAt = 0;
  private windowRetransmitted = false;
  private deadline: number | undefined;
  private ended = false;
  /** waiting: a block of the window is not read yet (resume() continues). */
  private waiting = false;

  constructor(
    private readonly source: BlockSource,
    private readonly negotiated: Negotiated,
    private readonly limits: TransferLimits,
  ) {
    this.blksize = negotiated.blksize;
    this.windowsize = negotiated.windowsize;
    this.totalBlocks = Math.floor(source.size / negotiated.blksize) + 1;
    this.fixedTimeout = negotiated.timeoutMs;
    this.oackPending = negotiated.oack !== undefined;
    this.rto = negotiated.timeoutMs ?? limits.initialRtoMs;
  }

  get state(): TransferState {
    return { acked: this.acked, sent: this.sent, totalBlocks: this.totalBlocks, rtoMs: this.rto, timeouts: this.timeouts, ended: this.ended };
  }

  /** start sends the OACK, or the first window. */
  start(now: number): Step {
    if (this.negotiated.oack !== undefined) {
      this.windowAt = now;
      this.windowRetransmitted = false;
      return this.arm(now, [encodeOack(this.negotiated.oack)], []);
    }
    return this.sendWindow(now, []);
  }

  /** packet handles one decoded datagram from the client's TID. */
  packet(p: Packet, now: number): Step {
    if (this.ended) return { send: [], deadline: undefined, counted: ['after-end'] };
    if (p.op === 'error') return this.finish('client-error', `the client sent ERROR ${p.code}: ${p.message.slice(0, 100)}`, [], []);
    if (p.op !== 'ack') return { send: [], deadline: this.deadline, counted: [`ignored:${p.op}`] };
    if (this.oackPending) {
      if (p.block !== 0) return { send: [], deadline: this.deadline, counted: ['ignored:bad-ack'] };
      this.oackPending = false;
      this.sample(now);
      this.timeouts = 0;
      return this.sendWindow(now, []);
    }
    // Map the 16-bit block to the absolute one: the only candidate in (acked - 65536, acked + 65536).
    const a = this.acked + ((p.block - (this.acked & 0xffff)) & 0xffff);
    if (a === this.acked) {
      // RFC 1123 §4.2.3.1: a duplicate ACK is never answered with DATA (Sorcerer's Apprentice).
      return { send: [], deadline: this.deadline, counted: ['duplicate-ack'] };
    }
    if (a > this.sent) {
      // Either an old ACK from before a wrap (a block already acknowledged) or a block never sent.
      return { send: [], deadline: this.deadline, counted: ['ignored:stale-ack'] };
    }
    const windowEnd = this.sent;
    this.acked = a;
    this.source.release?.(a * this.blksize);
    if (a === windowEnd) this.sample(now);
    this.timeouts = 0;
    if (a === this.totalBlocks) return this.finish('complete', `${this.source.size} bytes in ${this.totalBlocks} blocks`, [], []);
    // RFC 7440: the ACK of the window's last block, or of a lower one (a gap): the next window starts after it.
    return this.sendWindow(now, a < windowEnd ? ['window-gap'] : []);
  }

  /** tick is called at (or after) the deadline: retransmit or give up. */
  tick(now: number): Step {
    if (this.ended || this.deadline === undefined) return { send: [], deadline: this.deadline, counted: [] };
    if (now < this.deadline) return { send: [], deadline: this.deadline, counted: [] };
    this.timeouts++;
    if (this.timeouts > this.limits.retries) {
      return this.finish('timeout', `no ACK after ${this.limits.retries} retransmissions`, [encodeError(ErrorCode.NotDefined, 'timed out')], ['timeout']);
    }
    // Back off: doubled per timeout (an adaptive one only; the client's own `timeout` is kept).
    if (this.fixedTimeout === undefined) this.rto = Math.min(this.limits.maxRtoMs, this.rto * 2);
    this.windowRetransmitted = true;
    if (this.oackPending) return this.arm(now, [encodeOack(this.negotiated.oack ?? [])], ['retransmit']);
    return this.sendWindow(now, ['retransmit'], true);
  }

  /** resume continues a window that waited for the source's bytes. */
  resume(now: number): Step {
    if (this.ended || !this.waiting) return { send: [], deadline: this.deadline, counted: [] };
    return this.sendWindow(now, [], false, true);
  }

  /** abort ends the transfer with an ERROR to the client (source failure, shutdown). */
  abort(reason: EndReason, detail: string, message: string): Step {
    if (this.ended) return { send: [], deadline: undefined, counted: [] };
    return this.finish(reason, detail, [encodeError(ErrorCode.NotDefined, message)], []);
  }

  /**
   * sendWindow sends blocks acked+1 .. acked+windowsize (fewer at the end of the file). Blocks
   * up to `sent` are retransmissions; `continuing` resends nothing already sent (resume).
   */
  private sendWindow(now: number, counted: string[], retransmit = false, continuing = false): Step {
    const first = continuing ? this.sent + 1 : this.acked + 1;
    const last = Math.min(this.acked + this.windowsize, this.totalBlocks);
    const out: Buffer[] = [];
    let resent = 0;
    this.waiting = false;
    for (let b = first; b <= last; b++) {
      const start = (b - 1) * this.blksize;
      const end = Math.min(start + this.blksize, this.source.size);
      const data = this.source.slice(start, end);
      if (data === undefined) {
        this.waiting = true;
        break;
      }
      if (data.length !== end - start) return this.finish('source-error', `the file gave ${data.length} bytes at offset ${start}, ${end - start} expected (changed or truncated?)`, [...out, encodeError(ErrorCode.NotDefined, 'file read error')], counted);
      out.push(encodeData(b, data));
      if (b <= this.sent) resent++;
      else this.sent = b;
    }
    if (resent > 0 && !retransmit) this.windowRetransmitted = true;
    if (!continuing) {
      this.windowAt = now;
      if (!retransmit) this.windowRetransmitted = resent > 0;
    }
    const c = resent > 0 && !counted.includes('retransmit') ? [...counted, 'resent-blocks'] : counted;
    if (this.waiting && out.length === 0 && !retransmit) {
      // Nothing to send until the source has the bytes; the timer stays off until then.
      this.deadline = undefined;
      return { send: [], deadline: undefined, counted: [...c, 'waiting-for-data'] };
    }
    return this.arm(now, out, c);
  }

  private arm(now: number, send: Buffer[], counted: readonly string[]): Step {
    this.deadline = now + this.rto;
    return { send, deadline: this.deadline, counted };
  }

  /** sample feeds one RTT measurement into the estimator (RFC 6298 §2), unless Karn's rule forbids it. */
  private sample(now: number): void {
    if (this.fixedTimeout !== undefined || this.windowRetransmitted) return;
    const r = Math.max(0, now - this.windowAt);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(this.limits.maxRtoMs, Math.max(this.limits.minRtoMs, this.srtt + 4 * this.rttvar));
  }

  private finish(reason: EndReason, detail: string, send: Buffer[], counted: readonly string[]): Step {
    this.ended = true;
    this.deadline = undefined;
    return { send, deadline: undefined, end: { reason, detail }, counted };
  }
}
