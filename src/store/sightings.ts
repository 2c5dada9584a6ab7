/**
 * sightings.ts: a phone's sighting (its address, firmware and model, seen on each request) is
 * buffered and written in batches, never one synchronous write per request.
 *
 * Measured in the phone boot storm (BENCHMARKS.md "Phones: boot storm", a CPU profile): one
 * UPDATE transaction per request was 15 % of the HTTP face's CPU, and with `http.workers: 2` the
 * two processes fought for the write lock and 12 755 sightings of one storm were lost
 * (`store-busy:phone-observe`). Here sightings are coalesced per phone (the latest wins), written
 * every FLUSH_MS (or at FLUSH_BATCH) in one transaction, and kept when another process holds the
 * lock, then retried with back-off; the buffer is bounded (beyond it a new phone's sighting is
 * dropped and counted) and flushed at close. A sighting lands in the store at most FLUSH_MS after
 * the request (a phone looked up by IP sees its previous address until then).
 */
import { StoreBusyError, type PhoneRepository, type PhoneSighting, type PhoneSightingAt } from './repository';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

/** FLUSH_MS: how long a sighting may wait in the buffer. */
export const FLUSH_MS = 1000;
/** FLUSH_BATCH: sightings per transaction; a full batch is written at once. */
export const FLUSH_BATCH = 500;
/** SIGHTINGS_MAX bounds the buffer (phones, each one sighting of a few hundred bytes). */
export const SIGHTINGS_MAX = 20_000;
const RETRY_MAX_MS = 5000;

/** SightingsOptions tune the buffer (tests shrink it and drive the clock). */
export interface SightingsOptions {
  readonly log: Logger;
  readonly max?: number;
  readonly flushMs?: number;
  readonly now?: () => Date;
  /** setBusyTimeout lets the final flush at close wait a little for the lock (Store.setBusyTimeout). */
  readonly setBusyTimeout?: (ms: number) => void;
}

/** PhoneSightings buffers sightings for a PhoneRepository; see the file comment. */
export class PhoneSightings {
  private readonly pending = new Map<string, PhoneSightingAt>();
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private closed = false;
  private busyLogged = false;
  private readonly counters = { written: 0, dropped: 0, busy: 0, errors: 0 };

  constructor(
    private readonly phones: PhoneRepository,
    private readonly opts: SightingsOptions,
  ) {
    this.delay = opts.flushMs ?? FLUSH_MS;
  }

  /** record buffers one sighting; it never touches the store itself. */
  record(mac: string, seen: PhoneSighting): void {
    if (this.closed) return;
    const at = (this.opts.now?.() ?? new Date()).toISOString();
    if (!this.pending.has(mac) && this.pending.size >= (this.opts.max ?? SIGHTINGS_MAX)) {
      this.counters.dropped++;
      return;
    }
    this.pending.delete(mac); // re-inserted last: the batch order follows the latest sightings
    this.pending.set(mac, { mac, seen, at });
    if (this.pending.size >= FLUSH_BATCH && this.delay === (this.opts.flushMs ?? FLUSH_MS)) this.flush();
    else this.schedule();
  }

  /** size is how many phones wait in the buffer. */
  get size(): number {
    return this.pending.size;
  }

  /** stats are the face's counters for SIGUSR1. */
  stats(): Record<string, number> {
    return {
      'phone-sightings-written': this.counters.written,
      'phone-sightings-pending': this.pending.size,
      'phone-sightings-dropped:buffer-full': this.counters.dropped,
      'store-busy:phone-observe': this.counters.busy,
      'phone-sightings-errors': this.counters.errors,
    };
  }

  /** flush writes what is buffered now, batch by batch; a held lock keeps the rest for later. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.pending.size > 0) {
      const batch = [...this.pending.values()].slice(0, FLUSH_BATCH);
      try {
        this.counters.written += this.phones.observeMany(batch);
      } catch (err) {
        if (err instanceof StoreBusyError) {
          this.counters.busy++;
          if (!this.busyLogged) {
            this.busyLogged = true;
            this.opts.log.warn({ pending: this.pending.size }, 'phone sightings wait: another process holds the store lock (retried with back-off; counted as store-busy:phone-observe)');
          }
          this.delay = Math.min(this.delay * 2, RETRY_MAX_MS);
          this.schedule();
          return;
        }
        // Not a lock: this batch cannot be written (a value the store refuses); drop it, say so once per batch.
        this.counters.errors++;
        this.opts.log.error({ err: errorMessage(err), dropped: batch.length }, 'phone sightings not recorded');
      }
      for (const b of batch) if (this.pending.get(b.mac) === b) this.pending.delete(b.mac);
    }
    if (this.busyLogged) {
      this.busyLogged = false;
      this.opts.log.info('phone sightings written again');
    }
    this.delay = this.opts.flushMs ?? FLUSH_MS;
  }

  /** close writes the buffer a last time (waiting briefly for a lock) and stops the timer. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    this.opts.setBusyTimeout?.(2000);
    this.flush();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size > 0) this.opts.log.warn({ lost: this.pending.size }, 'phone sightings not recorded at shutdown: the store stayed locked');
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delay);
    this.timer.unref();
  }
}
