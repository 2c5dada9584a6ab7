/**
 * writebehind.ts: the daemon's inventory writes never wait for a lock (issue 10, defect 16).
 *
 * better-sqlite3 is synchronous: a statement that waits for another process's lock (the CLI, an
 * `sqlite3` shell, a backup) waits on the event loop, and DHCP and every HTTP request with it.
 * The daemon's connection therefore has no busy timeout; a write that finds the lock taken is
 * kept here instead: coalesced per device (the latest observation wins, the request counts add
 * up), retried by a timer with back-off, and written in one transaction once the lock is free.
 * The buffer is bounded (devices beyond it are dropped and counted); a lock episode is logged
 * once when it starts and once, with what was written and dropped, when the buffer has drained.
 * While the buffer holds anything, new observations join it, so none overtakes an older one.
 */
import { StoreBusyError, type Device, type DeviceObservation, type DeviceRepository, type DeviceWrite } from './repository';
import { Episode } from '../episode';
import type { Logger } from '../log';
import { errorMessage } from '../errors';

/**
 * WRITE_BEHIND_MAX is how many devices the buffer holds at most: each holds one observation
 * (fields are capped at 256 characters: a few KiB at most, ~0.5 KiB for a real client).
 */
export const WRITE_BEHIND_MAX = 10_000;
/** RETRY_MIN_MS / RETRY_MAX_MS: the back-off of the flush timer while the lock is held. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;
/** FLUSH_BATCH: devices written per transaction (the next batch follows on the next tick). */
const FLUSH_BATCH = 500;
/** CLOSE_WAIT_MS: at shutdown only, how long the last flush may wait for the lock. */
const CLOSE_WAIT_MS = 2000;

/** WriteBehindOptions tune the buffer (tests shrink it). */
export interface WriteBehindOptions {
  readonly log: Logger;
  readonly maxPending?: number;
  /** setBusyTimeout lets the final flush at shutdown wait a little (Store.setBusyTimeout). */
  readonly setBusyTimeout?: (ms: number) => void;
}

interface Pending {
  /** ok: the latest successful observation and how many; fail: the same for failed ones. */
  ok?: DeviceWrite;
  fail?: DeviceWrite;
}

/** DeviceWriteBehind is the DeviceRepository the HTTP face writes through. */
export class DeviceWriteBehind implements DeviceRepository {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private delay = RETRY_MIN_MS;
  private readonly episode = new Episode(0);
  private readonly maxPending: number;
  private lastCount = 0;
  /** per episode: requests buffered, written, dropped. */
  private ep = { buffered: 0, written: 0, dropped: 0 };
  private readonly counters = { deferred: 0, written: 0, dropped: 0, episodes: 0, busyReads: 0, errors: 0 };
  private closed = false;
  /** flushing is the flush under way, if any. */
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: DeviceRepository,
    private readonly opts: WriteBehindOptions,
  ) {
    this.maxPending = opts.maxPending ?? WRITE_BEHIND_MAX;
  }

  /** size is the number of devices waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  async upsert(obs: DeviceObservation): Promise<void> {
    if (this.pending.size === 0 && !this.closed && this.flushing === undefined) {
      try {
        await this.store.upsert(obs);
        return;
      } catch (err) {
        if (!(err instanceof StoreBusyError)) throw err;
        this.busy();
      }
    }
    await this.buffer(obs);
  }

  async upsertMany(writes: readonly DeviceWrite[]): Promise<void> {
    for (const w of writes) for (let i = 0; i < w.count; i++) await this.upsert(w.obs);
  }

  async get(key: string): Promise<Device | undefined> {
    try {
      const d = await this.store.get(key);
      if (d !== undefined) return d;
    } catch (err) {
      if (!(err instanceof StoreBusyError)) throw err;
      this.counters.busyReads++;
    }
    const ok = this.pending.get(key)?.ok;
    return ok === undefined ? undefined : asDevice(ok);
  }

  list(): Promise<Device[]> {
    return this.store.list();
  }

  async count(): Promise<number> {
    try {
      this.lastCount = await this.store.count();
    } catch (err) {
      if (!(err instanceof StoreBusyError)) throw err;
      this.counters.busyReads++; // the device cap uses the last count read
    }
    return this.lastCount;
  }

  pruneUnprovisioned(before: string): Promise<number> {
    return this.store.pruneUnprovisioned(before);
  }

  /** stats are the counters SIGUSR1 shows. */
  stats(): Record<string, number> {
    const c = this.counters;
    return {
      'inventory-deferred': c.deferred,
      'inventory-deferred-written': c.written,
      'inventory-dropped:buffer-full': c.dropped,
      'inventory-pending': this.pending.size,
      'store-lock-episodes': c.episodes,
      'store-busy:reads': c.busyReads,
      'inventory-write-errors': c.errors,
    };
  }

  /** close writes what is buffered, waiting a little for the lock (shutdown only), and logs what is lost. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.pending.size === 0) return;
    this.opts.setBusyTimeout?.(CLOSE_WAIT_MS);
    try {
      while (this.pending.size > 0 && (await this.flushBatch())) {
        // one batch per transaction
      }
    } finally {
      this.opts.setBusyTimeout?.(0);
    }
    if (this.pending.size > 0) {
      let requests = 0;
      for (const p of this.pending.values()) requests += (p.ok?.count ?? 0) + (p.fail?.count ?? 0);
      this.opts.log.warn({ devices: this.pending.size, requests }, 'store still locked at shutdown: buffered inventory updates are lost');
    } else {
      this.endEpisode();
    }
  }

  private busy(): void {
    if (!this.episode.hit()) return;
    this.counters.episodes++;
    this.ep = { buffered: 0, written: 0, dropped: 0 };
    this.opts.log.warn(
      { maxPending: this.maxPending },
      'store locked by another process: inventory writes are buffered and retried; nothing waits for the lock (one line per episode)',
    );
  }

  private async buffer(obs: DeviceObservation): Promise<void> {
    const ok = obs.outcome.startsWith('200 ');
    let p = this.pending.get(obs.key);
    if (p !== undefined && (p.ok ?? p.fail)?.obs.tenant !== obs.tenant) return; // another tenant's: the store ignores it too
    if (p === undefined) {
      // A failure only counts against a record that exists: one for a device the store does not
      // know is a no-op, and must not take a place a real device needs.
      if (!ok && (await this.get(obs.key))?.tenant !== obs.tenant) return;
      p = this.pending.get(obs.key); // the lookup may have let another observation of it in
    }
    if (p !== undefined && (p.ok ?? p.fail)?.obs.tenant !== obs.tenant) return;
    if (p === undefined) {
      if (this.pending.size >= this.maxPending) {
        this.counters.dropped++;
        this.ep.dropped++;
        return;
      }
      p = {};
      this.pending.set(obs.key, p);
    }
    if (ok) p.ok = { obs, count: (p.ok?.count ?? 0) + 1 };
    else p.fail = { obs: failureOnly(obs), count: (p.fail?.count ?? 0) + 1 };
    this.counters.deferred++;
    this.ep.buffered++;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => this.startFlush(), this.delay);
    this.timer.unref();
  }

  /** startFlush runs one flush at a time (close waits for it). */
  private startFlush(): void {
    this.timer = undefined;
    if (this.closed || this.flushing !== undefined) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(): Promise<void> {
    if (this.closed) return;
    if (!(await this.flushBatch())) {
      this.delay = Math.min(RETRY_MAX_MS, this.delay * 2);
      this.schedule();
      return;
    }
    this.delay = RETRY_MIN_MS;
    if (this.pending.size > 0) {
      this.timer = setTimeout(() => this.startFlush(), 0); // the next batch, after other work
      this.timer.unref();
      return;
    }
    this.endEpisode();
  }

  /** flushBatch writes up to FLUSH_BATCH devices in one transaction; false when the lock is still held. */
  private async flushBatch(): Promise<boolean> {
    const ids: string[] = [];
    const writes: DeviceWrite[] = [];
    let requests = 0;
    for (const [id, p] of this.pending) {
      if (ids.length >= FLUSH_BATCH) break;
      ids.push(id);
      // The success first: failures that followed it count against the record it creates.
      for (const w of [p.ok, p.fail]) {
        if (w === undefined) continue;
        writes.push(w);
        requests += w.count;
      }
    }
    let landed = true;
    try {
      if (this.store.upsertMany) await this.store.upsertMany(writes);
      else for (const w of writes) for (let i = 0; i < w.count; i++) await this.store.upsert(w.obs);
    } catch (err) {
      if (err instanceof StoreBusyError) {
        this.episode.hit();
        return false;
      }
      // Not a lock (disk full, I/O error): these updates cannot be written; say so, keep going.
      landed = false;
      this.counters.errors++;
      this.counters.dropped += requests;
      this.ep.dropped += requests;
      this.opts.log.error({ err: errorMessage(err), devices: ids.length, requests }, 'buffered inventory updates could not be written; dropped');
    }
    for (const id of ids) this.pending.delete(id);
    if (landed) {
      this.counters.written += requests;
      this.ep.written += requests;
    }
    return true;
  }

  private endEpisode(): void {
    const s = this.episode.check();
    if (s === undefined) return;
    this.opts.log.info(
      { written: this.ep.written, dropped: this.ep.dropped, buffered: this.ep.buffered, busy: s.events, ms: s.ms },
      'store lock released: buffered inventory writes landed',
    );
  }
}

/** failureOnly keeps what a failed request may write (key, tenant, time, outcome): less to hold. */
function failureOnly(o: DeviceObservation): DeviceObservation {
  const none = { uuid: null, hwaddr: null, hostname: null, osname: null, arch: null, build: null, userAgent: null, username: null };
  return { ...none, key: o.key, ip: '', tenant: o.tenant, outcome: o.outcome, at: o.at };
}

/** asDevice shows a buffered new device to the device cap (DeviceQuota) as known. */
function asDevice(w: DeviceWrite): Device {
  const o = w.obs;
  return {
    key: o.key,
    uuid: o.uuid,
    hwaddr: o.hwaddr,
    ip: o.ip,
    hostname: o.hostname,
    osname: o.osname,
    arch: o.arch,
    build: o.build,
    userAgent: o.userAgent,
    username: o.username,
    tenant: o.tenant,
    firstSeen: o.at,
    lastSeen: o.at,
    lastOutcome: o.outcome,
    requests: w.count,
    failures: 0,
    lastFailureAt: null,
    lastFailure: null,
  };
}
