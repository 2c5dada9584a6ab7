/**
 * thread.ts: the entry point of the TFTP face's worker thread (see server.ts for why).
 *
 * The main thread sends the `tftp` section at start and on each reload and asks for the
 * counters; this thread runs a TftpEngine with its own sockets, timers and rate limiter. What a
 * request gets is decided in the main thread (the store, the templates, the bans): the engine's
 * `ask` posts the request and waits for the answer (the engine bounds the asks in flight). Log
 * lines are posted to the main thread, bounded in flight, as the DHCP face's thread does.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { TftpEngine, type TftpEngineConfig, type TftpLog, type LogFields, type Served, type FileAsk, type FileAnswer } from './engine';
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
  | { readonly t: 'start'; readonly config: TftpEngineConfig }
  | { readonly t: 'reload'; readonly id: number; readonly config: TftpEngineConfig }
  | { readonly t: 'answer'; readonly id: number; readonly answer: FileAnswer }
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
  | { readonly t: 'ask'; readonly id: number; readonly ask: FileAsk }
  | { readonly t: 'stats'; readonly id?: number; readonly stats: Record<string, number> }
  | { readonly t: 'closed'; readonly stats: Record<string, number> };

/** LEVEL_VALUES are pino's values of the levels the engine uses. */
export const LEVEL_VALUES: Readonly<Record<ThreadLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/** LOG_IN_FLIGHT bounds the log lines posted and not yet written by the main thread. */
const LOG_IN_FLIGHT = 1000;
/** ASK_FORGET_MS: an ask the main thread never answered is forgotten (the map stays bounded). */
const ASK_FORGET_MS = 11_000;
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
        post({ t: 'log', level: 'warn', fields: { dropped }, msg: 'TFTP log lines dropped while the main thread was busy (transfers were not delayed)' });
        dropped = 0;
      }
      posted++;
      post({ t: 'log', level: l, fields, msg });
    };
  const log: TftpLog = { isLevelEnabled: enabled, debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

  // Asks waiting for the main thread; the engine bounds how many (MAX_ASKS) and how long.
  let nextAsk = 1;
  const waiting = new Map<number, (a: FileAnswer) => void>();
  const ask = (a: FileAsk): Promise<FileAnswer> =>
    new Promise((resolve) => {
      const id = nextAsk++;
      // The engine gives up on an ask after 10 s; its entry here goes soon after, answered or not.
      const forget = setTimeout(() => {
        if (waiting.delete(id)) resolve({ kind: 'error', code: 0, message: 'busy; retry shortly', reason: 'ask-timeout' });
      }, ASK_FORGET_MS);
      forget.unref();
      waiting.set(id, (answer) => {
        clearTimeout(forget);
        waiting.delete(id);
        resolve(answer);
      });
      post({ t: 'ask', id, ask: a });
    });

  let engine: TftpEngine | undefined;
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
    // Answers are not queued behind a reload: a transfer never waits for one.
    if (m.t === 'answer') {
      const w = waiting.get(m.id);
      // A transferred Buffer arrives as a plain Uint8Array: view it as a Buffer again (no copy).
      const a = m.answer;
      if (w) w(a.kind === 'data' ? { kind: 'data', body: Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength) } : a);
      else waiting.delete(m.id); // answered after the engine gave up (ask timeout)
      return;
    }
    queue = queue.then(() => handle(m));
  };
  const handle = async (m: ToThread): Promise<void> => {
    switch (m.t) {
      case 'start': {
        raisePriority(log, 'TFTP');
        engine = new TftpEngine({ config: deepFreeze(m.config), log, ask, checkPortFree: data.checkPortFree, onBound: (served) => post({ t: 'bound', served }) });
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
        port.off('message', onMessage);
        port.unref();
        return;
      }
      default:
        return;
    }
  };
  port.on('message', onMessage);
}

if (!isMainThread && parentPort) run(parentPort, workerData as ThreadData);
