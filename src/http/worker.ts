/**
 * worker.ts: the entry point of an HTTP worker process (http.workers > 1, see cluster.ts).
 *
 * The primary sends the validated configuration over IPC; the worker runs an HttpFace on it
 * (node:cluster shares the listening socket between the workers) and answers reload, stats and
 * close requests. Nothing else runs here: no DHCP, no signals of its own (the primary relays).
 */
import { HttpFace } from './server';
import { deepFreeze } from '../readonly';
import { createLogger } from '../log';
import { isProvError, errorMessage } from '../errors';
import type { ToWorker, FromWorker } from './cluster';

const STATS_MS = 2000;

function send(m: FromWorker): void {
  process.send?.(m);
}

let face: HttpFace | undefined;
let statsTimer: NodeJS.Timeout | undefined;

process.on('message', (raw: unknown) => {
  const m = raw as ToWorker;
  void (async () => {
    switch (m.t) {
      case 'start': {
        const config = deepFreeze(m.config);
        const log = createLogger(config.log.level).child({ face: 'http', worker: m.worker });
        face = new HttpFace({ config, log, warnings: false, checkStore: false, syncDeclared: false });
        try {
          await face.start();
          send({ t: 'ready', port: face.port ?? 0, plainPort: face.plainPort });
          statsTimer = setInterval(() => face && send({ t: 'stats', stats: face.stats() }), STATS_MS);
          statsTimer.unref();
        } catch (err) {
          send({ t: 'error', code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', message: errorMessage(err) });
        }
        return;
      }
      case 'reload': {
        try {
          await face?.reload(deepFreeze(m.config));
          send({ t: 'reloaded' });
        } catch (err) {
          send({ t: 'reload-error', code: isProvError(err) ? err.code : 'PROVD_ERR_INTERNAL', message: errorMessage(err) });
        }
        return;
      }
      case 'close': {
        if (statsTimer) clearInterval(statsTimer);
        if (face) {
          await face.close();
          send({ t: 'stats', stats: face.stats() });
        }
        send({ t: 'closed' });
        process.disconnect?.();
        return;
      }
    }
  })();
});
// The primary coordinates shutdown and reload: signals sent to the whole process group
// (Ctrl-C, systemd's KillMode=control-group) must not cut a worker's requests short.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'] as const) process.on(sig, () => undefined);
// The primary going away (crash, SIGKILL) must not leave a worker serving on its own.
process.on('disconnect', () => {
  void (face?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
