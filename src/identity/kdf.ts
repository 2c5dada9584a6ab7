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
 *
 * Deadlines (issue 16): the gate measures each run's time on its thread (per cost, an EWMA),
 * which gives the pool's observed rate and an estimate of when a run queued now would finish
 * (kdfEstimate). A run queued with a deadline leaves the queue, never run, when it can no longer
 * finish by then (KdfExpiredError), so no KDF time goes to a client that has given up.
 *
 * The gate also checks its own admission: a login refused (429) notes until when a run for it
 * could still have started and answered in time (kdfRefused), and the gate adds up the thread
 * time it then leaves free before that moment (`missedMs`: capacity a refused client could have
 * used). Zero means every client left unanswered by a storm could not have been served by this
 * pool in its timeout; the storm bench prints it beside the pool's busy time (`busyMs`).
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
  job: { readonly id: number; readonly resolve: (k: Buffer, ms: number) => void; readonly reject: (e: Error) => void } | undefined;
}

/** Waiting is a run queued at the gate: how to start it, its expected time, and its deadline. */
interface Waiting {
  readonly go: () => void;
  readonly N: number;
  readonly expire: () => void;
  timer: NodeJS.Timeout | undefined;
}

/** KdfExpiredError: a queued run's deadline came before it could finish; it never ran. */
export class KdfExpiredError extends Error {
  constructor() {
    super('the KDF run could not finish before its deadline; it was not run');
    this.name = 'KdfExpiredError';
  }
}

let limit = defaultKdfThreads();
let running = 0;
/** waiting: the queue in arrival order (a Map: a run whose deadline passes leaves from anywhere). */
const waiting = new Map<number, Waiting>();
let nextWaiting = 1;
/** runningSince: the runs under way (start time, N), for the estimate of the work ahead. */
const runningSince = new Map<number, { readonly at: number; readonly N: number }>();
/** serviceMs: per N, the EWMA of a run's time on its thread (ms), measured. */
const serviceMs = new Map<number, number>();
/** recentMs: per N, the last RECENT run times (ms): admission plans with the fastest of them. */
const recentMs = new Map<number, number[]>();
const RECENT = 16;
/** EWMA_ALPHA: weight of the newest run time. */
const EWMA_ALPHA = 0.2;
/** expired counts queued runs dropped because their deadline came first. */
let expired = 0;
let completed = 0;
/** busyMs adds up the completed runs' times on their threads (ms). */
let busyMs = 0;
/** refusedUntil: the latest time (performance.now()) at which a run for a refused login could still have started and answered in time. */
let refusedUntil = Number.NEGATIVE_INFINITY;
/** missedMs: thread time left free (free threads × ms) before refusedUntil; markedAt: when it was last brought up to date. */
let missedMs = 0;
let markedAt = performance.now();
let nextRun = 1;
const idle: PoolThread[] = [];
let threads = 0;
let nextId = 1;
/** niceApplied: whether the last thread started lowered its priority (null: not yet known or refused). */
let niceApplied: number | null = null;
let workersBroken = false;

/** setKdfThreads sets how many scrypt runs may go at once (the configuration's passwords.kdfThreads); waiting runs start if the limit grew. */
export function setKdfThreads(n: number): void {
  account();
  limit = Math.max(1, Math.floor(n));
  while (running < limit && waiting.size > 0) {
    running++; // account() ran above: the free threads count from now
    takeNext()?.();
  }
  // Threads beyond the new limit are ended as they fall idle.
  while (idle.length > 0 && threads > limit) endThread(idle.pop() as PoolThread);
}

/** kdfState says how many scrypt runs go now and how many wait, and the KDF threads' priority (counters, tests). */
export function kdfState(): {
  readonly limit: number;
  readonly running: number;
  readonly waiting: number;
  readonly threads: number;
  readonly nice: number | null;
  readonly expired: number;
  readonly completed: number;
  readonly busyMs: number;
  readonly missedMs: number;
} {
  account();
  return { limit, running, waiting: waiting.size, threads, nice: niceApplied, expired, completed, busyMs, missedMs };
}

/**
 * account brings missedMs up to now: the threads free since the last change, for the part of
 * that time before refusedUntil. Called before every change of `running`, `limit` or
 * `refusedUntil`, so the free-thread count was constant over the interval it adds.
 */
function account(now = performance.now()): void {
  const until = Math.min(now, refusedUntil);
  if (until > markedAt && running < limit) missedMs += (limit - running) * (until - markedAt);
  markedAt = now;
}

/**
 * kdfRefused notes that a login of cost `ln` whose answer was due by `deadline`
 * (performance.now() time) was refused: until its latest useful start (the deadline less the
 * fastest recent run), a free thread is capacity that login could have used (missedMs).
 */
export function kdfRefused(ln: number, deadline: number): void {
  const N = 2 ** ln;
  const latestStart = deadline - (fastMs(N) ?? expectedMs(N) ?? 0);
  if (latestStart <= refusedUntil) return;
  account();
  refusedUntil = latestStart;
}

/** expectedMs is the measured run time at N, else scaled from another cost's (scrypt is linear in N); undefined before any run. */
function expectedMs(N: number): number | undefined {
  const m = serviceMs.get(N);
  if (m !== undefined) return m;
  for (const [n, ms] of serviceMs) return (ms * N) / n;
  return undefined;
}

/** fastMs is the fastest of the recent run times at N (scaled from another cost's when none); undefined before any run. */
function fastMs(N: number): number | undefined {
  const r = recentMs.get(N);
  if (r !== undefined && r.length > 0) return Math.min(...r);
  for (const [n, list] of recentMs) if (list.length > 0) return (Math.min(...list) * N) / n;
  return undefined;
}

/** KdfEstimate: when a run queued now would finish (ms from now), a run's average time, the pool's rate, and whether a thread is free now. */
export interface KdfEstimate {
  readonly finishMs: number;
  readonly runMs: number;
  readonly runsPerSecond: number;
  /** idle: a thread is free and nothing waits, so a run admitted now starts at once. */
  readonly idle?: boolean;
}

/**
 * kdfEstimate says, from the measured run times, how long a run of cost `ln` queued now could
 * take to finish (the work ahead shared by the pool's threads, plus its own run) and the pool's
 * rate at that cost (runs/s, from the average run time); undefined before the first run has been
 * measured. finishMs plans with the fastest of the recent runs, what the pool has shown it can
 * do when it gets its cores (a storm's own HTTP work slows it while the requests arrive, and it
 * speeds up once they stop): a run admitted on it that then cannot finish in time leaves the
 * queue unrun (its deadline timer uses the average), and its client's retry is admitted afresh,
 * where a 429 would be final.
 */
export function kdfEstimate(ln: number): KdfEstimate | undefined {
  const N = 2 ** ln;
  const avg = expectedMs(N);
  const own = fastMs(N) ?? avg;
  if (avg === undefined || own === undefined) return undefined;
  const runsPerSecond = (limit * 1000) / avg;
  if (running < limit && waiting.size === 0) return { finishMs: own, runMs: avg, runsPerSecond, idle: true };
  const now = performance.now();
  let ahead = 0;
  for (const r of runningSince.values()) ahead += Math.max(0, (fastMs(r.N) ?? own) - (now - r.at));
  for (const w of waiting.values()) ahead += fastMs(w.N) ?? own;
  return { finishMs: ahead / limit + own, runMs: avg, runsPerSecond };
}

/** takeNext removes and returns the next queued run's start (its deadline timer cleared). */
function takeNext(): (() => void) | undefined {
  for (const [id, w] of waiting) {
    waiting.delete(id);
    if (w.timer !== undefined) clearTimeout(w.timer);
    return w.go;
  }
  return undefined;
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
    if ('key' in m) job.resolve(Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength), m.ms);
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

/** Derived is a key and the run's time (ms) on the thread that made it. */
interface Derived {
  readonly key: Buffer;
  readonly ms: number;
}

/** onThread runs one scrypt on a pool thread; the time is the thread's own (its start and the messages left out). */
function onThread(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Derived> {
  return new Promise<Derived>((resolve, reject) => {
    const t = idle.pop() ?? startThread();
    const id = nextId++;
    t.job = { id, resolve: (key, ms) => resolve({ key, ms }), reject };
    t.worker.ref();
    t.worker.postMessage({ id, password, salt, N, r, p, keylen } satisfies KdfJob);
  });
}

/** onLibuv runs one scrypt on libuv's pool (the fallback; its time includes libuv's queue). */
function onLibuv(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Derived> {
  const t0 = performance.now();
  return new Promise<Derived>((resolve, reject) => {
    scrypt(password, salt, keylen, { N, r, p, maxmem: 256 * N * r + (1 << 20) }, (err, key) => (err ? reject(err) : resolve({ key, ms: performance.now() - t0 })));
  });
}

/**
 * runScrypt derives a key through the KDF gate, on a low-priority pool thread. With a deadline
 * (performance.now() time), a queued run that can no longer finish by then leaves the queue and
 * rejects with KdfExpiredError (checked when it would start and by a timer while it waits).
 */
export function runScrypt(password: string, salt: Buffer, ln: number, r: number, p: number, keylen: number, deadline?: number): Promise<Buffer> {
  const N = 2 ** ln;
  const run = (): Promise<Buffer> => {
    const id = nextRun++;
    runningSince.set(id, { at: performance.now(), N });
    let p1: Promise<Derived>;
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
    return p1
      .then(({ key, ms }) => {
        const prev = serviceMs.get(N);
        serviceMs.set(N, prev === undefined ? ms : prev + EWMA_ALPHA * (ms - prev));
        const recent = recentMs.get(N) ?? [];
        recent.push(ms);
        if (recent.length > RECENT) recent.shift();
        recentMs.set(N, recent);
        completed++;
        busyMs += ms;
        return key;
      })
      .finally(() => {
        runningSince.delete(id);
        // The slot passes to the next waiting run, unless the limit shrank meanwhile.
        const next = running <= limit ? takeNext() : undefined;
        if (next !== undefined) next();
        else {
          account();
          running--;
        }
      });
  };
  if (running < limit) {
    account();
    running++;
    return run();
  }
  return new Promise<void>((go, reject) => {
    const wid = nextWaiting++;
    const expire = (): void => {
      if (!waiting.delete(wid)) return;
      expired++;
      reject(new KdfExpiredError());
    };
    const w: Waiting = { go, N, expire, timer: undefined };
    waiting.set(wid, w);
    if (deadline !== undefined) {
      // Leave the queue once the run, started then, would finish after the deadline.
      const arm = (): void => {
        const latestStart = deadline - (expectedMs(N) ?? 0);
        const ms = latestStart - performance.now();
        if (ms <= 0) return expire();
        w.timer = setTimeout(arm, ms); // re-armed: the measured run time may have changed meanwhile
        w.timer.unref(); // the request waiting for it keeps the process alive, not this timer
      };
      arm();
    }
  }).then(run);
}
