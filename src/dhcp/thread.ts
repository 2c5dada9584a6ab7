/**
 * thread.ts: the entry point of the DHCP face's worker thread (server.ts says why it has one; the
 * machinery every UDP face thread shares is src/facethread/guest.ts). The main thread sends the
 * configuration the engine reads (threadConfig) at start and on each reload; this thread runs a
 * DhcpEngine on it, with its own sockets, timers and rate limiters.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { DhcpEngine, type DhcpFaceConfig, type Served } from './engine';
import { runFaceThread, type ThreadData } from '../facethread/guest';

if (!isMainThread && parentPort) {
  runFaceThread<DhcpFaceConfig, Served>(parentPort, workerData as ThreadData, {
    label: 'DHCP',
    unharmed: 'answers',
    make: (a) => new DhcpEngine({ config: a.config, log: a.log, checkPortFree: a.checkPortFree, onBound: a.onBound }),
  });
}
