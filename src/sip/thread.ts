/**
 * thread.ts: the entry point of the SIP face's worker thread (server.ts says why it has one).
 *
 * As the DHCP face's thread (src/dhcp/thread.ts): the configuration comes at start and on each
 * reload; log lines are posted to the main thread (bounded in flight, dropped and counted beyond,
 * filtered at the main logger's level shared in an Int32); counters are posted every STATS_MS
 * when they changed. In addition the engine's questions (who gets a NOTIFY, with which URL: the
 * store lives in the main thread) are posted as `ask` and answered by `answer`; the engine bounds
 * how many are in flight (engine.ts ASK_IN_FLIGHT) and gives each up after a timeout.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { SipEngine, type AskAnswer, type AskQuery, type SipFaceConfig, type SipLog, type LogFields, type Served } from './engine';
import { deepFreeze } from '../readonly';
import { isProvError, errorMessage } from '../errors';
import { raisePriority } from '../priority';

/** ThreadLevel is a level the engine logs at. */
export type ThreadLevel = 'debug' | 'info' | 'warn' | 'error';

/** ThreadData is the worker's workerData. */
export interface ThreadData {
  /** level: [0] the main logger's level value, [1] the lines the main thread has written. */
  readonly level: SharedArrayBuffer;
  readonly checkPortFree: boolean;
}

/** ToThread are the main thread's messages. */
export type ToThread =
  | { readonly t: 'start'; readonly config: SipFaceConfig }
  | { readonly t: 'reload'; readonly id: number; readonly config: SipFaceConfig }
  | { readonly t: 'answer'; readonly id: number; readonly answer: AskAnswer }
  | { readonly t: 'stats'; readonly id: number }
  | { readonly t: 'close' };

/** FromThread are the worker thread's messages. */
export type FromThread =
  | { readonly t: 'log'; readonly level: ThreadLevel; readonly fields: LogFields; readonly msg: string }
  | { readonly t: 'bound'; readonly served: Served }
  | { readonly t: 'ask'; readonly id: number; readonly query: AskQuery }
  | { readonly t: 'ready' }
  | { readonly t: 'start-error'; readonly code: string; readonly message: string }
  | { readonly t: 'reloaded'; readonly id: number }
  | { readonly t: 'reload-error'; readonly id: number; readonly code: string; readonly message: string }
  | { readonly t: 'stats'; readonly id?: number; readonly stats: Record<string, number> }
  | { readonly t: 'closed'; readonly stats: Record<string, number> };

/** LEVEL_VALUES are pino's values of the levels the engine uses. */
export const LEVEL_VALUES: Readonly<Record<ThreadLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/** LOG_IN_FLIGHT bounds the log lines posted and not yet written by the main thread. */
const LOG_IN_FLIGHT = 1000;
/** STATS_MS: how often the counters are posted (only when they changed). */
export const STATS_MS = 1000;

function run(port: NonNullable<typeof parentPort>, data: ThreadData): void {
  const level = new Int32Array(data.level);
  const post = (m: FromThread): void => port.postMessage(m);
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
        post({ t: 'log', level: 'warn', fields: { dropped }, msg: 'SIP log lines dropped while the main thread was busy (answers were not delayed)' });
        dropped = 0;
      }
      posted++;
      post({ t: 'log', level: l, fields, msg });
    };
  const log: SipLog = { isLevelEnabled: enabled, debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

  // Questions to the main thread: the engine counts each until its answer arrives and asks no
  // more than ASK_IN_FLIGHT at once, so this map is bounded by it.
  let nextAsk = 1;
  const asks = new Map<number, (a: AskAnswer | undefined) => void>();
  const ask = (query: AskQuery): Promise<AskAnswer | undefined> =>
    new Promise((resolve) => {
      const id = nextAsk++;
      asks.set(id, resolve);
      post({ t: 'ask', id, query });
    });

  let engine: SipEngine | undefined;
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

  let queue: Promise<void> = Promise.resolve();
  const onMessage = (m: ToThread): void => {
    if (m.t === 'answer') {
      // Answers bypass the queue: a reload in progress must not hold a phone's NOTIFY.
      const r = asks.get(m.id);
      asks.delete(m.id);
      r?.(m.answer);
      return;
    }
    queue = queue.then(() => handle(m));
  };
  const handle = async (m: Exclude<ToThread, { t: 'answer' }>): Promise<void> => {
    switch (m.t) {
      case 'start': {
        raisePriority(log, 'SIP');
        engine = new SipEngine({ config: deepFreeze(m.config), log, ask, checkPortFree: data.checkPortFree, onBound: (served) => post({ t: 'bound', served }) });
        try {
          await engine.start();
          post({ t: 'ready' });
        } catch (err) {
          post({ t: 'start-error', code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', message: errorMessage(err) });
        }
        return;
      }
      case 'reload': {
        try {
          if (!engine) throw new Error('reload before start');
          await engine.reload(deepFreeze(m.config));
          post({ t: 'reloaded', id: m.id });
        } catch (err) {
          post({ t: 'reload-error', id: m.id, code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', message: errorMessage(err) });
        }
        return;
      }
      case 'stats':
        post({ t: 'stats', id: m.id, stats: engine?.stats() ?? {} });
        return;
      case 'close': {
        clearInterval(statsTimer);
        await engine?.close();
        for (const r of asks.values()) r(undefined);
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

if (!isMainThread && parentPort) run(parentPort, workerData as ThreadData);
