/**
 * kdfthread.ts: the entry point of a KDF worker thread (see kdf.ts). It lowers its own
 * scheduling priority once, then runs each scrypt it is sent, synchronously, one at a time.
 */
import { parentPort, isMainThread, workerData } from 'node:worker_threads';
import { scryptSync } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

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

/** KdfDone is a KDF thread's answer to a job. */
export type KdfDone = { readonly id: number; readonly key: Uint8Array } | { readonly id: number; readonly error: string };

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

/** ownThreadId is this thread's kernel id on Linux (/proc/thread-self), undefined elsewhere. */
function ownThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as KdfThreadData;
  let nice: number | null = null;
  const tid = ownThreadId();
  if (tid !== undefined && data.nice > 0) {
    try {
      // On Linux setpriority(PRIO_PROCESS, tid) is per thread: only this thread gets the lower priority.
      setPriority(tid, data.nice);
      nice = data.nice;
    } catch {
      nice = null;
    }
  }
  port.postMessage({ hello: true, nice } satisfies KdfHello);
  port.on('message', (j: KdfJob) => {
    try {
      const key = scryptSync(j.password, j.salt, j.keylen, { N: j.N, r: j.r, p: j.p, maxmem: 256 * j.N * j.r + (1 << 20) });
      port.postMessage({ id: j.id, key } satisfies KdfDone);
    } catch (e) {
      port.postMessage({ id: j.id, error: e instanceof Error ? e.message : String(e) } satisfies KdfDone);
    }
  });
}
