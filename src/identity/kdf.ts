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
 * A busy thread is handed its next run ahead (one per thread) when runs wait: it starts it the
 * moment the one before ends, instead of idling until the main thread hears of the end and
 * sends another (in a 10 000-client cold storm the event loop took 0.3-1 s to hear of each end).
 * The thread itself drops such a run unrun if its deadline can no longer be met when its turn
 * comes; raising kdfThreads does not move a run already handed ahead.
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

/** Job is one scrypt run: its input, its deadline (performance.now() time; undefined: none) and its promise's ends. */
interface Job {
  readonly id: number;
  readonly password: string;
  readonly salt: Buffer;
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keylen: number;
  readonly deadline: number | undefined;
  readonly resolve: (key: Buffer) => void;
  readonly reject: (e: Error) => void;
  /** timer: the deadline timer while it waits at the gate. */
  timer: NodeJS.Timeout | undefined;
  /** ahead: handed to a busy thread as its next. */
  ahead: boolean;
}

interface PoolThread {
  readonly worker: Worker;
  /** dead: ended or exited (counted out of `threads` once). */
  dead: boolean;
  /** current is the run this thread is doing, if any. */
  current: Job | undefined;
  /**
   * next is the run the thread was given while doing `current` (prefetched): it starts it as
   * soon as `current` ends, without waiting for the main thread to hear of the end (a storm's
   * event loop can take a second for that), and drops it unrun if its deadline has come.
   */
  next: Job | undefined;
}

/** KdfExpiredError: a queued run's deadline came before it could finish; it never ran. */
export class KdfExpiredError extends Error {
  constructor() {
    super('the KDF run could not finish before its deadline; it was not run');
    this.name = 'KdfExpiredError';
  }
}

let limit = defaultKdfThreads();
/** running counts the runs under way (a thread's current run, or a run on libuv's pool): at most `limit`, bar a shrunk limit. */
let running = 0;
/** prefetched counts the runs handed to a busy thread as its next (at most one per thread). */
let prefetched = 0;
/** waiting: the queue in arrival order (a Map: a run whose deadline passes leaves from anywhere). */
const waiting = new Map<number, Job>();
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
/** aheadRuns counts the runs a thread started by itself, handed to it ahead while it did the one before. */
let aheadRuns = 0;
/** busyMs adds up the completed runs' times on their threads (ms). */
let busyMs = 0;
/** refusedUntil: the latest time (performance.now()) at which a run for a refused login could still have started and answered in time. */
let refusedUntil = Number.NEGATIVE_INFINITY;
/** missedMs: thread time left free (free threads × ms) before refusedUntil; markedAt: when it was last brought up to date. */
let missedMs = 0;
let markedAt = performance.now();
let nextRun = 1;
const idle: PoolThread[] = [];
/** busy: the live threads with a current run. */
const busy = new Set<PoolThread>();
let threads = 0;
/** niceApplied: whether the last thread started lowered its priority (null: not yet known or refused). */
let niceApplied: number | null = null;
let workersBroken = false;

/** setKdfThreads sets how many scrypt runs may go at once (the configuration's passwords.kdfThreads); waiting runs start if the limit grew. */
export function setKdfThreads(n: number): void {
  account();
  limit = Math.max(1, Math.floor(n));
  pump();
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
  readonly aheadRuns: number;
} {
  account();
  return { limit, running, waiting: waiting.size + prefetched, threads, nice: niceApplied, expired, completed, busyMs, missedMs, aheadRuns };
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
  if (running < limit && waiting.size === 0 && prefetched === 0) return { finishMs: own, runMs: avg, runsPerSecond, idle: true };
  const now = performance.now();
  let ahead = 0;
  for (const r of runningSince.values()) ahead += Math.max(0, (fastMs(r.N) ?? own) - (now - r.at));
  for (const t of busy) if (t.next !== undefined) ahead += fastMs(t.next.N) ?? own;
  for (const w of waiting.values()) ahead += fastMs(w.N) ?? own;
  return { finishMs: ahead / limit + own, runMs: avg, runsPerSecond };
}

/** takeWaiting removes and returns the oldest queued run (its deadline timer cleared). */
function takeWaiting(): Job | undefined {
  for (const [id, j] of waiting) {
    waiting.delete(id);
    if (j.timer !== undefined) clearTimeout(j.timer);
    j.timer = undefined;
    return j;
  }
  return undefined;
}

/**
 * pump hands queued runs to the pool: to free threads (started as needed, up to `limit`) as
 * their current run, then to busy threads as their next. On libuv's pool (no worker thread
 * could start) runs go at most `limit` at once, none ahead.
 */
function pump(): void {
  while (running < limit && waiting.size > 0) {
    let t: PoolThread | undefined;
    if (!workersBroken) {
      t = idle.pop();
      if (t === undefined) {
        try {
          t = startThread();
        } catch {
          // A worker thread could not start (resources): scrypt still runs, on libuv's pool.
          workersBroken = true;
        }
      }
    }
    const j = takeWaiting() as Job;
    account();
    running++;
    runningSince.set(j.id, { at: performance.now(), N: j.N });
    if (t === undefined) onLibuv(j);
    else {
      t.current = j;
      busy.add(t);
      post(t, j, false);
    }
  }
  if (waiting.size === 0 || workersBroken) return;
  for (const t of busy) {
    if (t.next !== undefined || t.dead) continue;
    const j = takeWaiting();
    if (j === undefined) return;
    t.next = j;
    j.ahead = true;
    prefetched++;
    post(t, j, true);
  }
}

/**
 * post sends a run to its thread. A run handed on `ahead` (the thread's next) carries its
 * deadline (epoch ms), which the thread checks just before it starts it, as the gate would; a
 * run given to a free thread starts at once, whatever the estimate says (it measures afresh).
 */
function post(t: PoolThread, j: Job, ahead: boolean): void {
  t.worker.ref();
  const deadline = ahead && j.deadline !== undefined ? performance.timeOrigin + j.deadline : undefined;
  t.worker.postMessage({ id: j.id, password: j.password, salt: j.salt, N: j.N, r: j.r, p: j.p, keylen: j.keylen, deadline, expectMs: expectedMs(j.N) ?? 0 } satisfies KdfJob);
}

/** finished records a completed run's time on its thread (the measured rate) and resolves it. */
function finished(j: Job, key: Buffer, ms: number): void {
  const prev = serviceMs.get(j.N);
  serviceMs.set(j.N, prev === undefined ? ms : prev + EWMA_ALPHA * (ms - prev));
  const recent = recentMs.get(j.N) ?? [];
  recent.push(ms);
  if (recent.length > RECENT) recent.shift();
  recentMs.set(j.N, recent);
  completed++;
  busyMs += ms;
  j.resolve(key);
}

/** released gives a slot back (a run ended, failed or was dropped by its thread); the caller pumps. */
function released(j: Job): void {
  runningSince.delete(j.id);
  account();
  running--;
}

function endThread(t: PoolThread): void {
  if (t.dead) return;
  t.dead = true;
  threads--;
  void t.worker.terminate();
}

function startThread(): PoolThread {
  const worker = new Worker(join(__dirname, 'kdfthread.js'), { workerData: { nice: KDF_NICE } satisfies KdfThreadData });
  const t: PoolThread = { worker, dead: false, current: undefined, next: undefined };
  threads++;
  worker.unref();
  worker.on('message', (m: KdfDone | KdfHello) => {
    if ('hello' in m) {
      niceApplied = m.nice;
      return;
    }
    const j = t.current;
    if (j === undefined || j.id !== m.id) return;
    // The thread went on to its next run (if it had one) the moment this one ended.
    const next = t.next;
    t.current = next;
    t.next = undefined;
    if (next !== undefined) {
      prefetched--;
      runningSince.delete(j.id);
      runningSince.set(next.id, { at: 'endedAt' in m ? m.endedAt - performance.timeOrigin : performance.now(), N: next.N });
    } else {
      released(j);
      busy.delete(t);
      worker.unref();
      if (threads > limit) endThread(t);
      else idle.push(t);
    }
    if ('key' in m) {
      if (j.ahead) aheadRuns++;
      finished(j, Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength), m.ms);
    } else if ('expired' in m) {
      expired++;
      j.reject(new KdfExpiredError());
    } else j.reject(new Error(m.error));
    pump();
  });
  // A thread that fails or exits by itself is counted out and its runs, if any, fail; the next run starts a new one.
  const fail = (e: Error): void => {
    const i = idle.indexOf(t);
    if (i >= 0) idle.splice(i, 1);
    busy.delete(t);
    if (!t.dead) {
      t.dead = true;
      threads--;
    }
    const { current, next } = t;
    t.current = undefined;
    t.next = undefined;
    if (current !== undefined) {
      released(current);
      current.reject(e);
    }
    if (next !== undefined) {
      prefetched--;
      next.reject(e);
    }
    pump();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`KDF thread exited (${code})`)));
  return t;
}

/** onLibuv runs one scrypt on libuv's pool (the fallback; its time includes libuv's queue). */
function onLibuv(j: Job): void {
  const t0 = performance.now();
  scrypt(j.password, j.salt, j.keylen, { N: j.N, r: j.r, p: j.p, maxmem: 256 * j.N * j.r + (1 << 20) }, (err, key) => {
    released(j);
    if (err) j.reject(err);
    else finished(j, key, performance.now() - t0);
    pump();
  });
}

/**
 * runScrypt derives a key through the KDF gate, on a low-priority pool thread. With a deadline
 * (performance.now() time), a queued run that can no longer finish by then leaves the queue and
 * rejects with KdfExpiredError (checked by a timer while it waits at the gate, and by its thread
 * just before it starts).
 */
export function runScrypt(password: string, salt: Buffer, ln: number, r: number, p: number, keylen: number, deadline?: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise<Buffer>((resolve, reject) => {
    const j: Job = { id: nextRun++, password, salt, N, r, p, keylen, deadline, resolve, reject, timer: undefined, ahead: false };
    waiting.set(j.id, j);
    pump();
    if (!waiting.has(j.id) || deadline === undefined) return;
    // Leave the queue once the run, started then, would finish after the deadline.
    const arm = (): void => {
      if (!waiting.has(j.id)) return;
      const latestStart = deadline - (expectedMs(N) ?? 0);
      const ms = latestStart - performance.now();
      if (ms <= 0) {
        waiting.delete(j.id);
        expired++;
        reject(new KdfExpiredError());
        return;
      }
      j.timer = setTimeout(arm, ms); // re-armed: the measured run time may have changed meanwhile
      j.timer.unref(); // the request waiting for it keeps the process alive, not this timer
    };
    arm();
  });
}
