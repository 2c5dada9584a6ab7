/**
 * daemon.ts: builds the faces from a configuration and runs their lifecycle.
 *
 * createDaemon() only builds; start() binds; close() drains and is idempotent; reload() applies
 * an already validated configuration atomically (a face that cannot apply it keeps the old one).
 * Nothing here reads files, parses arguments or exits the process: that is the CLI's job.
 */
import { DhcpFace } from './dhcp/server';
import { HttpFace } from './http/server';
import { HttpClusterFace } from './http/cluster';
import type { Store } from './store/repository';
import type { Config } from './config/schema';
import type { Face } from './face';
import type { Logger } from './log';
import type { InterfaceLister } from './net/interfaces';
import { errorMessage } from './errors';

/** DaemonDeps are the daemon's injectable dependencies. */
export interface DaemonDeps {
  readonly log: Logger;
  readonly listInterfaces?: InterfaceLister;
  /** checkPortFree: see DhcpFaceOptions (tests that bind port 0 turn it off). */
  readonly checkPortFree?: boolean;
  /** store: an opened store for the HTTP face (tests); by default it opens stateDir's. */
  readonly store?: Store;
}

/** Daemon is a built provisiond instance. */
export interface Daemon {
  readonly config: Config;
  /** faces are the running faces, by name. */
  readonly faces: ReadonlyMap<string, Face>;
  start(): Promise<void>;
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
  stats(): Record<string, Record<string, number>>;
}

/** createDaemon builds the faces the configuration enables; it opens no socket. */
export function createDaemon(initial: Config, deps: DaemonDeps): Daemon {
  const log = deps.log;
  let config = initial;
  const faces = new Map<string, Face>();
  let closing: Promise<void> | undefined;
  let started = false;

  const makeDhcp = (cfg: Config): DhcpFace =>
    new DhcpFace({
      config: cfg,
      log: log.child({ face: 'dhcp' }),
      ...(deps.listInterfaces ? { listInterfaces: deps.listInterfaces } : {}),
      ...(deps.checkPortFree === undefined ? {} : { checkPortFree: deps.checkPortFree }),
    });

  const makeHttp = (cfg: Config): Face =>
    cfg.http.workers > 1
      ? new HttpClusterFace({ config: cfg, log: log.child({ face: 'http' }) })
      : new HttpFace({ config: cfg, log: log.child({ face: 'http' }), ...(deps.store ? { store: deps.store } : {}) });

  // The HTTP face starts first: the URLs the other faces hand out point at it.
  if (config.http.enabled) faces.set('http', makeHttp(config));
  if (config.dhcp.enabled) faces.set('dhcp', makeDhcp(config));

  const daemon: Daemon = {
    get config() {
      return config;
    },
    faces,
    async start() {
      if (started) return;
      started = true;
      const done: Face[] = [];
      try {
        for (const face of faces.values()) {
          await face.start();
          done.push(face);
        }
      } catch (err) {
        await Promise.allSettled(done.map((f) => f.close()));
        throw err;
      }
      if (config.mdns.enabled) log.child({ face: 'mdns' }).info('mDNS face is not part of this build yet; nothing advertised');
      log.info({ faces: [...faces.keys()], stateDir: config.stateDir }, 'provisiond started');
    },
    async reload(next) {
      // DHCP: reconfigure in place, or start/stop it when dhcp.enabled flips.
      const dhcp = faces.get('dhcp');
      if (next.dhcp.enabled && dhcp) await dhcp.reload(next);
      else if (next.dhcp.enabled && !dhcp) {
        const face = makeDhcp(next);
        if (started) await face.start();
        faces.set('dhcp', face);
      } else if (!next.dhcp.enabled && dhcp) {
        await dhcp.close();
        faces.delete('dhcp');
      }
      // HTTP: reconfigure in place (SIGHUP also re-reads the TLS certificate), or start/stop it.
      let http = faces.get('http');
      if (http && next.http.enabled && (next.http.workers > 1) !== (config.http.workers > 1)) {
        // switching between in-process and worker processes: replace the face
        await http.close();
        faces.delete('http');
        http = undefined;
      }
      if (next.http.enabled && http) await http.reload(next);
      else if (next.http.enabled && !http) {
        const face = makeHttp(next);
        if (started) await face.start();
        faces.set('http', face);
      } else if (!next.http.enabled && http) {
        await http.close();
        faces.delete('http');
      }
      if (next.log.level !== config.log.level) log.level = next.log.level;
      config = next;
      log.info('configuration reloaded');
    },
    close() {
      closing ??= (async () => {
        const results = await Promise.allSettled([...faces.values()].map((f) => f.close()));
        for (const r of results) if (r.status === 'rejected') log.warn({ err: errorMessage(r.reason) }, 'a face did not close cleanly');
        log.info({ stats: daemon.stats() }, 'provisiond stopped');
      })();
      return closing;
    },
    stats() {
      return Object.fromEntries([...faces].map(([n, f]) => [n, f.stats()]));
    },
  };
  return daemon;
}
