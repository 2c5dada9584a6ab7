/**
 * thread.ts: the entry point of the DHCP face's worker thread (see server.ts for why).
 *
 * The main thread sends the configuration (a structured clone of the plain configuration the
 * face reads; re-frozen here) at start and on each reload, and asks for the counters; this thread
 * runs a DhcpEngine on it, with its own sockets, timers and rate limiters. Log lines are not
 * written here: each one is posted to the main thread, which writes it through the face's pino
 * logger (same format, fields, redaction, level and destination as before). Lines below the main
 * logger's level are not even posted: the main thread keeps its level in a shared Int32.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { DhcpEngine, type DhcpFaceConfig, type DhcpLog, type LogFields, type Served } from './engine';
import { deepFreeze } from '../readonly';
import { isProvError, errorMessage } from '../errors';
import { raisePriority } from '../priority';

/** ThreadLevel is a level the engine logs at. */
export type ThreadLevel = 'debug' | 'info' | 'warn' | 'error';

/** ThreadData is the worker's workerData. */
export interface ThreadData {
  /** level holds two Int32s: [0] the main logger's level value (pino's: debug 20 … error 50; silent = 2^31-1), [1] the lines the main thread has written (bounds those in flight). */
  readonly level: SharedArrayBuffer;
  readonly checkPortFree: boolean;
}

/** ToThread are the main thread's messages. */
export type ToThread =
  | { readonly t: 'start'; readonly config: DhcpFaceConfig }
  | { readonly t: 'reload'; readonly id: number; readonly config: DhcpFaceConfig }
  | { readonly t: 'stats'; readonly id: number }
  | { readonly t: 'close' };

/** FromThread are the worker thread's messages. */
export type FromThread =
  | { readonly t: 'log'; readonly level: ThreadLevel; readonly fields: LogFields; readonly msg: string }
  | { readonly t: 'bound'; readonly served: Served }
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
/** STATS_MS: how often the counters are posted to the main thread (only when they changed). */
export const STATS_MS = 1000;

function run(port: NonNullable<typeof parentPort>, data: ThreadData): void {
  const level = new Int32Array(data.level);
  const post = (m: FromThread): void => port.postMessage(m);
  const enabled = (l: ThreadLevel): boolean => LEVEL_VALUES[l] >= Atomics.load(level, 0);
  // Lines in flight (posted, not yet written by the main thread) are bounded: while the main
  // thread is blocked, lines beyond LOG_IN_FLIGHT are dropped and counted, and one line says how
  // many once it writes again. Answers never wait for a log line either way.
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
        post({ t: 'log', level: 'warn', fields: { dropped }, msg: 'DHCP log lines dropped while the main thread was busy (answers were not delayed)' });
        dropped = 0;
      }
      posted++;
      post({ t: 'log', level: l, fields, msg });
    };
  const log: DhcpLog = { isLevelEnabled: enabled, debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

  let engine: DhcpEngine | undefined;
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

  // One message at a time: a close that arrives while the start still binds waits for it.
  let queue: Promise<void> = Promise.resolve();
  const onMessage = (m: ToThread): void => {
    queue = queue.then(() => handle(m));
  };
  const handle = async (m: ToThread): Promise<void> => {
    switch (m.t) {
      case 'start': {
        raisePriority(log, 'DHCP');
        engine = new DhcpEngine({ config: deepFreeze(m.config), log, checkPortFree: data.checkPortFree, onBound: (served) => post({ t: 'bound', served }) });
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
        post({ t: 'closed', stats: engine?.stats() ?? {} });
        // Nothing is left to keep this thread alive: it exits once the port is let go.
        port.off('message', onMessage);
        port.unref();
        return;
      }
    }
  };
  port.on('message', onMessage);
}

if (!isMainThread && parentPort) run(parentPort, workerData as ThreadData);
