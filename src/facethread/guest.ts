/**
 * guest.ts: the thread side of a UDP face that runs in a worker thread of its own (the DHCP,
 * SIP and TFTP faces; host.ts is the main-thread side, and src/dhcp/README.md "The worker thread"
 * says why). A face's thread.ts is one call to runFaceThread with the face's engine.
 *
 * What it does for every face, the same way:
 *  - raises the thread's scheduling priority at start (src/priority.ts);
 *  - runs the engine on the configuration the main thread sends at start and on each reload,
 *    one message at a time (a close that arrives while the start still binds waits for it),
 *    reporting each outcome with the ProvError's code and message;
 *  - posts each log line to the main thread, which writes it through the face's pino logger;
 *    lines below the main logger's level (shared in an Int32) are not posted, and at most
 *    LOG_IN_FLIGHT are in flight: while the main thread is blocked, more are dropped and one
 *    warning then says how many (answers never wait for a log line);
 *  - posts the counters every STATS_MS when they changed, on request and at close;
 *  - for engines that need the main thread's store (SIP, TFTP): each `ask` is posted and its
 *    `answer` resolves it, bypassing the message queue (a reload in progress never holds one);
 *    an ask unanswered after askForgetMs (when set) resolves undefined, and so does every ask
 *    still open at close. The engine bounds how many it has in flight.
 */
import type { MessagePort } from 'node:worker_threads';
import { deepFreeze } from '../readonly';
import { isProvError, errorMessage } from '../errors';
import { raisePriority } from '../priority';

/** ThreadLevel is a level an engine logs at. */
export type ThreadLevel = 'debug' | 'info' | 'warn' | 'error';

/** LogFields are a log line's fields. */
export type LogFields = Record<string, unknown>;

/** ThreadLog is the logger an engine gets in its thread (the part of pino's Logger engines use). */
export interface ThreadLog {
  isLevelEnabled(level: ThreadLevel): boolean;
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}

/** ThreadData is a face thread's workerData. */
export interface ThreadData {
  /** level holds two Int32s: [0] the main logger's level value (pino's: debug 20 … error 50; silent = 2^31-1), [1] the lines the main thread has written (bounds those in flight). */
  readonly level: SharedArrayBuffer;
  readonly checkPortFree: boolean;
}

/** ToThread are the main thread's messages (C: the thread's configuration, A: an answer to an ask). */
export type ToThread<C, A = never> =
  | { readonly t: 'start'; readonly config: C }
  | { readonly t: 'reload'; readonly id: number; readonly config: C }
  | { readonly t: 'answer'; readonly id: number; readonly answer: A }
  | { readonly t: 'stats'; readonly id: number }
  | { readonly t: 'close' };

/** FromThread are the thread's messages (S: where it serves, Q: a question to the main thread). */
export type FromThread<S, Q = never> =
  | { readonly t: 'log'; readonly level: ThreadLevel; readonly fields: LogFields; readonly msg: string }
  | { readonly t: 'bound'; readonly served: S }
  | { readonly t: 'ask'; readonly id: number; readonly query: Q }
  | { readonly t: 'ready' }
  | { readonly t: 'start-error'; readonly code: string; readonly message: string }
  | { readonly t: 'reloaded'; readonly id: number }
  | { readonly t: 'reload-error'; readonly id: number; readonly code: string; readonly message: string }
  | { readonly t: 'stats'; readonly id?: number; readonly stats: Record<string, number> }
  | { readonly t: 'closed'; readonly stats: Record<string, number> };

/** LEVEL_VALUES are pino's values of the levels engines use. */
export const LEVEL_VALUES: Readonly<Record<ThreadLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/** LOG_IN_FLIGHT bounds the log lines posted and not yet written by the main thread. */
const LOG_IN_FLIGHT = 1000;
/** STATS_MS: how often the counters are posted to the main thread (only when they changed). */
export const STATS_MS = 1000;

/** FaceEngine is what a face thread runs: the face's sockets, timers and limiters. */
export interface FaceEngine<C> {
  start(): Promise<void>;
  reload(config: C): Promise<void>;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

/** EngineArgs are what a face's engine is made with in its thread. */
export interface EngineArgs<C, S, Q, A> {
  readonly config: C;
  readonly log: ThreadLog;
  readonly checkPortFree: boolean;
  readonly onBound: (served: S) => void;
  /** ask posts a question to the main thread; undefined when it was never answered (timeout, close). */
  readonly ask: (query: Q) => Promise<A | undefined>;
}

/** GuestOptions say what differs between faces. */
export interface GuestOptions<C, S, Q, A> {
  /** label names the face in log lines ('DHCP', 'SIP', 'TFTP'). */
  readonly label: string;
  /** unharmed says what dropped log lines did not delay ('answers', 'transfers'). */
  readonly unharmed: string;
  /** askForgetMs: an ask not answered this long resolves undefined (unset: only the engine's own bound). */
  readonly askForgetMs?: number;
  /** revive turns an answer as it arrived (a structured clone) back into what the engine expects. */
  readonly revive?: (answer: A) => A;
  make(args: EngineArgs<C, S, Q, A>): FaceEngine<C>;
}

/** runFaceThread runs a face's engine in this worker thread until the main thread says close. */
export function runFaceThread<C, S, Q = never, A = never>(port: MessagePort, data: ThreadData, opts: GuestOptions<C, S, Q, A>): void {
  const level = new Int32Array(data.level);
  const post = (m: FromThread<S, Q>): void => port.postMessage(m);
  const enabled = (l: ThreadLevel): boolean => LEVEL_VALUES[l] >= Atomics.load(level, 0);
  let posted = 0;
  let dropped = 0;
  const line =
    (l: ThreadLevel) =>
    (fields: LogFields, msg: string): void => {
      if (!enabled(l)) return;
      if (posted - Atomics.load(level, 1) >= LOG_IN_FLIGHT) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        posted++;
        post({ t: 'log', level: 'warn', fields: { dropped }, msg: `${opts.label} log lines dropped while the main thread was busy (${opts.unharmed} were not delayed)` });
        dropped = 0;
      }
      posted++;
      post({ t: 'log', level: l, fields, msg });
    };
  const log: ThreadLog = { isLevelEnabled: enabled, debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

  let nextAsk = 1;
  const asks = new Map<number, (a: A | undefined) => void>();
  const ask = (query: Q): Promise<A | undefined> =>
    new Promise((resolve) => {
      const id = nextAsk++;
      let forget: NodeJS.Timeout | undefined;
      if (opts.askForgetMs !== undefined) {
        forget = setTimeout(() => {
          if (asks.delete(id)) resolve(undefined);
        }, opts.askForgetMs);
        forget.unref();
      }
      asks.set(id, (a) => {
        if (forget) clearTimeout(forget);
        asks.delete(id);
        resolve(a);
      });
      post({ t: 'ask', id, query });
    });

  let engine: FaceEngine<C> | undefined;
  let lastStats = '';
  const statsTimer = setInterval(() => {
    if (!engine) return;
    const stats = engine.stats();
    const text = JSON.stringify(stats);
    if (text === lastStats) return;
    lastStats = text;
    post({ t: 'stats', stats });
  }, STATS_MS);
  statsTimer.unref();

  const failure = (err: unknown): { code: string; message: string } => ({ code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', message: errorMessage(err) });
  let queue: Promise<void> = Promise.resolve();
  const onMessage = (m: ToThread<C, A>): void => {
    if (m.t === 'answer') {
      // Answers bypass the queue: a reload in progress must not hold one.
      const r = asks.get(m.id);
      if (r) r(opts.revive ? opts.revive(m.answer) : m.answer);
      return;
    }
    queue = queue.then(() => handle(m));
  };
  const handle = async (m: Exclude<ToThread<C, A>, { t: 'answer' }>): Promise<void> => {
    switch (m.t) {
      case 'start': {
        raisePriority(log, opts.label);
        engine = opts.make({ config: deepFreeze(m.config), log, checkPortFree: data.checkPortFree, onBound: (served) => post({ t: 'bound', served }), ask });
        try {
          await engine.start();
          post({ t: 'ready' });
        } catch (err) {
          post({ t: 'start-error', ...failure(err) });
        }
        return;
      }
      case 'reload': {
        try {
          if (!engine) throw new Error('reload before start');
          await engine.reload(deepFreeze(m.config));
          post({ t: 'reloaded', id: m.id });
        } catch (err) {
          post({ t: 'reload-error', id: m.id, ...failure(err) });
        }
        return;
      }
      case 'stats':
        post({ t: 'stats', id: m.id, stats: engine?.stats() ?? {} });
        return;
      case 'close': {
        clearInterval(statsTimer);
        await engine?.close();
        for (const r of [...asks.values()]) r(undefined);
        asks.clear();
        post({ t: 'closed', stats: engine?.stats() ?? {} });
        port.off('message', onMessage);
        port.unref();
        return;
      }
    }
  };
  port.on('message', onMessage);
}
