/**
 * kdfthread.ts: the entry point of a KDF worker thread (see kdf.ts). It lowers its own
 * scheduling priority once, then runs each scrypt it is sent, synchronously, one at a time.
 */
import { parentPort, isMainThread, workerData } from 'node:worker_threads';
import { scryptSync } from 'node:crypto';
import { setOwnThreadNice } from '../priority';

/** KdfJob is one scrypt run sent to a KDF thread. */
export interface KdfJob {
  readonly id: number;
  readonly password: string;
  readonly salt: Uint8Array;
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keylen: number;
}

/** KdfDone is a KDF thread's answer to a job; `ms` is the run's wall time on the thread (the gate's measured rate). */
export type KdfDone = { readonly id: number; readonly key: Uint8Array; readonly ms: number } | { readonly id: number; readonly error: string };

/** KdfThreadData is the thread's workerData. */
export interface KdfThreadData {
  /** nice is the scheduling priority the thread gives itself (Linux: per thread, 0..19; raising it needs no privilege). */
  readonly nice: number;
}

/** KdfHello is the thread's first message: whether lowering its priority worked. */
export interface KdfHello {
  readonly hello: true;
  readonly nice: number | null;
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as KdfThreadData;
  const set = data.nice > 0 ? setOwnThreadNice(data.nice) : undefined;
  const nice = set?.ok === true ? set.nice : null;
  port.postMessage({ hello: true, nice } satisfies KdfHello);
  port.on('message', (j: KdfJob) => {
    try {
      const t0 = performance.now();
      const key = scryptSync(j.password, j.salt, j.keylen, { N: j.N, r: j.r, p: j.p, maxmem: 256 * j.N * j.r + (1 << 20) });
      port.postMessage({ id: j.id, key, ms: performance.now() - t0 } satisfies KdfDone);
    } catch (e) {
      port.postMessage({ id: j.id, error: e instanceof Error ? e.message : String(e) } satisfies KdfDone);
    }
  });
}
