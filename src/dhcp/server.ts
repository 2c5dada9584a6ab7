/**
 * server.ts: DhcpFace, the DHCP face the daemon runs. The socket loop itself is engine.ts.
 *
 * Thread mode (the daemon's): the engine runs in a node:worker_threads Worker of its own
 * (thread.ts), with its own event loop, so a main loop saturated by the HTTP face or the KDF
 * queue never delays an ACK (issue 15: DHCP p50 rose to 1.37 s in a cold storm on one loop).
 * The thread machinery the UDP faces share (what crosses the boundary, log lines, counters,
 * restarts with back-off, PROVD_ERR_DHCP_WORKER after MAX_DEATHS deaths) is
 * src/facethread/host.ts; the thread gets `threadConfig` below, not the whole configuration.
 *
 * In-process mode: a function cannot cross a thread, so when a test injects `listInterfaces` the
 * engine runs on the caller's event loop, as before issue 15.
 */
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { DhcpEngine, SEND_QUEUE_MAX, type DhcpFaceConfig, type Served } from './engine';
import { FaceThread, MAX_DEATHS } from '../facethread/host';
import type { ProvError } from '../errors';
import type { ServedInterface } from './handler';
import { listHostInterfaces, type InterfaceLister } from '../net/interfaces';
import { formatIPv4 } from '../net/ipv4';
import type { Face, FaceHealth } from '../face';
import type { Logger } from '../log';

export { SEND_QUEUE_MAX, MAX_DEATHS, type DhcpFaceConfig };

/** DhcpFaceOptions are the face's dependencies. */
export interface DhcpFaceOptions {
  readonly config: DhcpFaceConfig;
  readonly log: Logger;
  /** listInterfaces (tests) replaces the host's interface list; it keeps the engine in-process. */
  readonly listInterfaces?: InterfaceLister;
  /** checkPortFree turns "another process holds the port" into a startup error (default true). */
  readonly checkPortFree?: boolean;
  /** onFatal is told when the thread keeps dying (PROVD_ERR_DHCP_WORKER); the CLI then exits non-zero. */
  readonly onFatal?: (err: ProvError) => void;
  /** restartBaseMs (tests) replaces RESTART_BASE_MS. */
  readonly restartBaseMs?: number;
}

/** threadConfig is the part of the configuration the engine reads: what goes to the thread. */
export function threadConfig(c: DhcpFaceConfig): DhcpFaceConfig {
  const tenants = Object.fromEntries(Object.entries(c.provisioning?.tenants ?? {}).map(([name, t]) => [name, t.urlKey === undefined ? {} : { urlKey: t.urlKey }]));
  return {
    dhcp: c.dhcp,
    http: { host: c.http.host, port: c.http.port, ...(c.http.tls === undefined ? {} : { tls: true }) },
    provisioning: { tenants },
  };
}

/** DhcpFace is the DHCP responder: DHCPINFORM in, DHCPACK with option 224 out. */
export class DhcpFace implements Face<DhcpFaceConfig> {
  readonly name = 'dhcp';
  /** engine is set in in-process mode only; host in thread mode. */
  private readonly engine: DhcpEngine | undefined;
  private readonly host: FaceThread<DhcpFaceConfig, Served> | undefined;

  constructor(opts: DhcpFaceOptions) {
    if (opts.listInterfaces) {
      this.engine = new DhcpEngine({
        config: opts.config,
        log: opts.log,
        listInterfaces: opts.listInterfaces,
        ...(opts.checkPortFree === undefined ? {} : { checkPortFree: opts.checkPortFree }),
      });
    } else {
      this.host = new FaceThread<DhcpFaceConfig, Served>({
        label: 'DHCP',
        script: join(__dirname, 'thread.js'),
        threadName: 'provisiond-dhcp',
        workerCode: 'PROVD_ERR_DHCP_WORKER',
        startTimeoutCode: 'PROVD_ERR_DHCP_BIND',
        log: opts.log,
        checkPortFree: opts.checkPortFree !== false,
        ...(opts.onFatal ? { onFatal: opts.onFatal } : {}),
        ...(opts.restartBaseMs === undefined ? {} : { restartBaseMs: opts.restartBaseMs }),
      });
    }
    this.config = opts.config;
  }

  private config: DhcpFaceConfig;

  /** inThread says whether the sockets run in a worker thread (false: in-process, tests). */
  get inThread(): boolean {
    return this.engine === undefined;
  }

  /** thread is the running worker thread (thread mode; for diagnostics and tests). */
  get thread(): Worker | undefined {
    return this.host?.thread;
  }

  /** port is the bound UDP port (useful when the config asked for port 0 in tests). */
  get port(): number | undefined {
    return this.engine ? this.engine.port : this.host?.served?.port;
  }

  /** interfaces lists the served interfaces, for logs and tests. */
  get interfaces(): readonly ServedInterface[] {
    return this.engine ? this.engine.interfaces : (this.host?.served?.interfaces ?? []);
  }

  async start(): Promise<void> {
    if (this.engine) return this.engine.start();
    return this.host?.start(threadConfig(this.config));
  }

  async reload(config: DhcpFaceConfig): Promise<void> {
    if (this.engine) return this.engine.reload(config);
    await this.host?.reload(threadConfig(config), config.log?.level);
    this.config = config;
  }

  async close(): Promise<void> {
    if (this.engine) return this.engine.close();
    return this.host?.close();
  }

  /**
   * health: the thread serves, and each interface it serves still has the address its sockets
   * are bound to (an address taken away stops the answers on that link until it comes back or
   * the face rebinds, within 30 s of a change).
   */
  health(): FaceHealth {
    if (this.engine) return { ready: true }; // in-process (tests inject the interfaces)
    if (!this.host?.up) return { ready: false, reason: 'the DHCP thread is not serving (starting, restarting after a death, or closed)' };
    const have = listHostInterfaces();
    const lost = (this.host.served?.interfaces ?? []).filter((s) => !have.some((h) => h.name === s.name && h.address === s.address));
    if (lost.length === 0) return { ready: true };
    return { ready: false, reason: `served interface(s) lost their address: ${lost.map((l) => `${l.name} (${formatIPv4(l.address)})`).join(', ')}` };
  }

  stats(): Record<string, number> {
    if (this.engine) return this.engine.stats();
    return this.host?.stats() ?? {};
  }

  /** fetchStats asks the thread for its counters now (stats() may be a second old). */
  async fetchStats(): Promise<Record<string, number>> {
    if (this.engine || !this.host) return this.stats();
    return this.host.fetchStats();
  }
}
