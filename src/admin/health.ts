/**
 * health.ts: the admin listener's health checks, for load balancers, systemd and Kubernetes-style
 * probes.
 *
 *  - GET /healthz: 200 `ok` while the process's event loop answers (nothing else is checked).
 *  - GET /readyz: 200 when every enabled face serves now (Face.health: listening, its thread
 *    alive, its interfaces addressed) and the store is writable; else 503. Both carry a JSON body
 *    `{ ready, faces: { name: { ready, reason? } }, store: { ready, reason? } }` naming what is not
 *    ready.
 */
import { randomBytes } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors';
import type { Face, FaceHealth } from '../face';
import type { Store } from '../store/repository';
import type { AdminPlugin } from './server';

/** ReadyReport is /readyz's body. */
export interface ReadyReport {
  readonly ready: boolean;
  readonly faces: Record<string, FaceHealth>;
  readonly store: FaceHealth;
}

/** faceHealth is each face's health (a face without health() is ready once the daemon started). */
export function faceHealth(faces: ReadonlyMap<string, Face<never>>, started: boolean): Record<string, FaceHealth> {
  const out: Record<string, FaceHealth> = {};
  for (const [name, f] of faces) out[name] = f.health ? f.health() : started ? { ready: true } : { ready: false, reason: 'not started' };
  return out;
}

/**
 * storeWritable checks the store: for SQLite (stateDir's file), that a file can be created, written
 * and removed in stateDir and that the store answers a read; for PostgreSQL, that it answers a read
 * (the daemon's role writes through the same connection pool).
 */
export async function storeWritable(store: Store | undefined, stateDir: string): Promise<FaceHealth> {
  if (store === undefined) return { ready: false, reason: 'the store is not open' };
  try {
    if (store.backend !== 'postgres') {
      const probe = join(stateDir, `.readyz-${randomBytes(4).toString('hex')}`);
      await writeFile(probe, 'readyz\n', { flag: 'wx' });
      await unlink(probe);
    }
    await store.devices.count();
    return { ready: true };
  } catch (err) {
    return { ready: false, reason: `the store is not writable: ${errorMessage(err)}` };
  }
}

/** registerHealth mounts /healthz and /readyz; `check` builds the report at each request. */
export function registerHealth(check: () => Promise<ReadyReport>): AdminPlugin {
  return async (app) => {
    app.get('/healthz', async (_req, reply) => {
      void reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('ok\n');
    });
    app.get('/readyz', async (_req, reply) => {
      const r = await check();
      void reply.code(r.ready ? 200 : 503).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(r));
    });
  };
}
