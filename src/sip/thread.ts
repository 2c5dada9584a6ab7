/**
 * thread.ts: the entry point of the SIP face's worker thread (server.ts says why it has one; the
 * machinery every UDP face thread shares is src/facethread/guest.ts). Besides the configuration
 * (`sip` only) the engine's questions — who gets a NOTIFY, with which URL: the store lives in the
 * main thread — go out as asks and come back as answers; the engine bounds how many are in flight
 * (engine.ts ASK_IN_FLIGHT) and gives each up after a timeout.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { SipEngine, type AskAnswer, type AskQuery, type SipFaceConfig, type Served } from './engine';
import { runFaceThread, type ThreadData } from '../facethread/guest';

if (!isMainThread && parentPort) {
  runFaceThread<SipFaceConfig, Served, AskQuery, AskAnswer>(parentPort, workerData as ThreadData, {
    label: 'SIP',
    unharmed: 'answers',
    make: (a) => new SipEngine({ config: a.config, log: a.log, ask: a.ask, checkPortFree: a.checkPortFree, onBound: a.onBound }),
  });
}
