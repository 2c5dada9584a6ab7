/**
 * thread.ts: the entry point of the TFTP face's worker thread (server.ts says why it has one; the
 * machinery every UDP face thread shares is src/facethread/guest.ts). What a request gets is
 * decided in the main thread (the store, the templates, the bans): the engine's `ask` posts the
 * request and the answer comes back (a rendered file's bytes arrive as a transferred Uint8Array,
 * viewed as a Buffer again here without a copy). An ask the main thread never answers is
 * forgotten after ASK_FORGET_MS (the engine gave up after 10 s) and answered "busy".
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { TftpEngine, type TftpEngineConfig, type Served, type FileAsk, type FileAnswer } from './engine';
import { runFaceThread, type ThreadData } from '../facethread/guest';

/** ASK_FORGET_MS: an ask the main thread never answered is forgotten (the map stays bounded). */
const ASK_FORGET_MS = 11_000;

/** BUSY is the answer to an ask the main thread did not answer in time (or at close). */
const BUSY: FileAnswer = { kind: 'error', code: 0, message: 'busy; retry shortly', reason: 'ask-timeout' };

/** revive views a transferred body as a Buffer again (no copy). */
function revive(a: FileAnswer): FileAnswer {
  return a.kind === 'data' ? { kind: 'data', body: Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength) } : a;
}

if (!isMainThread && parentPort) {
  runFaceThread<TftpEngineConfig, Served, FileAsk, FileAnswer>(parentPort, workerData as ThreadData, {
    label: 'TFTP',
    unharmed: 'transfers',
    askForgetMs: ASK_FORGET_MS,
    revive,
    make: (a) => new TftpEngine({ config: a.config, log: a.log, ask: async (q) => (await a.ask(q)) ?? BUSY, checkPortFree: a.checkPortFree, onBound: a.onBound }),
  });
}
