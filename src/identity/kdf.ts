/**
 * kdf.ts: where scrypt runs. At most `kdfThreads` runs go at once (the KDF gate); each runs in
 * a worker thread of a small pool that has lowered its own scheduling priority (nice 10, per
 * thread on Linux), so that the threads that answer — the DHCP face's, the SIP and TFTP faces',
 * the HTTP face's event loop answering cached logins — take a core from a running scrypt as
 * soon as they wake, instead of waiting for the scheduler to share it out. Before, scrypt ran on
 * libuv's pool at the process's priority: on a 2-core host four runs took both cores and the
 * DHCP thread waited behind them (BENCHMARKS.md, "DHCP under a cold storm").
 *
 * The pool starts its threads on first use and keeps them (unref'd: an idle pool never keeps a
 * process alive; a thread with a job does). A thread that dies fails its job and is replaced.
 * Where a worker thread cannot start, scrypt runs on libuv's pool as before.
 */
import { Worker } from 'node:worker_threads';
import { scrypt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { KdfJob, KdfDone, KdfHello, KdfThreadData } from './kdfthread';

/** KDF_NICE is the scheduling priority of the KDF threads (0 = the process's, 19 = the lowest). */
export const KDF_NICE = 10;

/** defaultKdfThreads is the host's cores minus one, at least one. */
export function defaultKdfThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface PoolThread {
  readonly worker: Worker;
  /** dead: ended or exited (counted out of `threads` once). */
  dead: boolean;
  /** job is the run this thread is doing, if any. */
  job: { readonly id: number; readonly resolve: (k: Buffer) => void; readonly reject: (e: Error) => void } | undefined;
}

let limit = defaultKdfThreads();
let running = 0;
const waiting: (() => void)[] = [];
const idle: PoolThread[] = [];
let threads = 0;
let nextId = 1;
/** niceApplied: whether the last thread started lowered its priority (null: not yet known or refused). */
let niceApplied: number | null = null;
let workersBroken = false;

/** setKdfThreads sets how many scrypt runs may go at once (the configuration's passwords.kdfThreads); waiting runs start if the limit grew. */
export function setKdfThreads(n: number): void {
  limit = Math.max(1, Math.floor(n));
  while (running < limit && waiting.length > 0) {
    running++;
    waiting.shift()?.();
  }
  // Threads beyond the new limit are ended as they fall idle.
  while (idle.length > 0 && threads > limit) endThread(idle.pop() as PoolThread);
}

/** kdfState says how many scrypt runs go now and how many wait, and the KDF threads' priority (counters, tests). */
export function kdfState(): { readonly limit: number; readonly running: number; readonly waiting: number; readonly threads: number; readonly nice: number | null } {
  return { limit, running, waiting: waiting.length, threads, nice: niceApplied };
}

function endThread(t: PoolThread): void {
  if (t.dead) return;
  t.dead = true;
  threads--;
  void t.worker.terminate();
}

function startThread(): PoolThread {
  const worker = new Worker(join(__dirname, 'kdfthread.js'), { workerData: { nice: KDF_NICE } satisfies KdfThreadData });
  const t: PoolThread = { worker, dead: false, job: undefined };
  threads++;
  worker.unref();
  worker.on('message', (m: KdfDone | KdfHello) => {
    if ('hello' in m) {
      niceApplied = m.nice;
      return;
    }
    const job = t.job;
    if (job === undefined || job.id !== m.id) return;
    t.job = undefined;
    worker.unref();
    if (threads > limit) endThread(t);
    else idle.push(t);
    if ('key' in m) job.resolve(Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength));
    else job.reject(new Error(m.error));
  });
  // A thread that fails or exits by itself is counted out and its job, if any, fails; the next run starts a new one.
  const fail = (e: Error): void => {
    const i = idle.indexOf(t);
    if (i >= 0) idle.splice(i, 1);
    if (!t.dead) {
      t.dead = true;
      threads--;
    }
    if (t.job !== undefined) {
      const job = t.job;
      t.job = undefined;
      job.reject(e);
    }
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`KDF thread exited (${code})`)));
  return t;
}

/** onThread runs one scrypt on a pool thread. */
function onThread(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const t = idle.pop() ?? startThread();
    const id = nextId++;
    t.job = { id, resolve, reject };
    t.worker.ref();
    t.worker.postMessage({ id, password, salt, N, r, p, keylen } satisfies KdfJob);
  });
}

/** onLibuv runs one scrypt on libuv's pool (the fallback). */
function onLibuv(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, keylen, { N, r, p, maxmem: 256 * N * r + (1 << 20) }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** runScrypt derives a key through the KDF gate, on a low-priority pool thread. */
export function runScrypt(password: string, salt: Buffer, ln: number, r: number, p: number, keylen: number): Promise<Buffer> {
  const N = 2 ** ln;
  const run = (): Promise<Buffer> => {
    let p1: Promise<Buffer>;
    if (workersBroken) p1 = onLibuv(password, salt, N, r, p, keylen);
    else {
      try {
        p1 = onThread(password, salt, N, r, p, keylen);
      } catch {
        // A worker thread could not start (resources): scrypt still runs, on libuv's pool.
        workersBroken = true;
        p1 = onLibuv(password, salt, N, r, p, keylen);
      }
    }
    return p1.finally(() => {
      // The slot passes to the next waiting run, unless the limit shrank meanwhile.
      const next = running <= limit ? waiting.shift() : undefined;
      if (next !== undefined) next();
      else running--;
    });
  };
  if (running < limit) {
    running++;
    return run();
  }
  return new Promise<void>((go) => waiting.push(go)).then(run);
}
