/**
 * server.ts: the admin listener, a face of its own (its own fastify instance, never on the
 * provisioning port): the Prometheus metrics, the health checks, and whatever else is mounted on
 * it (the REST API, the status page) as fastify plugins registered before it starts.
 *
 * A reload re-reads admin.tls (certificate renewals) and, when admin.host, admin.port or whether
 * TLS is on changes, moves to a new listener: the new one is listening before the old one closes,
 * and if it cannot listen the old one keeps serving (PROVD_ERR_ADMIN_BIND logged, retried).
 * Nothing here logs a request's query (the API's tokens travel in headers).
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import { ProvError, errorMessage } from '../errors';
import type { Face, FaceHealth } from '../face';
import type { Logger } from '../log';
import type { AdminConfig } from './config';
import { readAdminTls } from './tls';

/** AdminFaceConfig is what the admin listener reads: its own section. */
export interface AdminFaceConfig {
  readonly admin: AdminConfig;
}

/** AdminPlugin registers routes on the admin listener's fastify instance (before it listens). */
export type AdminPlugin = (app: FastifyInstance) => Promise<void>;

/** AdminFaceOptions are the listener's dependencies. */
export interface AdminFaceOptions {
  readonly config: AdminFaceConfig;
  readonly log: Logger;
  /** plugins are registered, in order, on every instance the face builds (start, and a move). */
  readonly plugins?: readonly AdminPlugin[];
  /** frameworkErrors answers the errors fastify raises before a route runs (the API's: problem+json for a malformed URL escape). */
  readonly frameworkErrors?: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void;
}

/** placeOf is what needs a new listening socket when it changes. */
function placeOf(a: AdminConfig): string {
  return JSON.stringify([a.host, a.port, a.tls !== undefined]);
}

/** MAX_CONNECTIONS bounds the admin listener's open connections (more are closed on arrival). */
export const MAX_CONNECTIONS = 256;

/** RETRY_MS: how often a listener that could not listen (port in use, TLS files missing) is tried again. */
export const RETRY_MS = 10_000;

/**
 * AdminFace serves the admin listener. Its start and reload never reject: the provisioning faces
 * must not stop (or have a reload refused) because the admin port is taken or a certificate is
 * missing. A listener that cannot listen is logged at error (PROVD_ERR_ADMIN_BIND, once per
 * distinct problem) and tried again every RETRY_MS; /readyz is unreachable meanwhile, which is
 * the signal a load balancer or a watchdog needs.
 */
export class AdminFace implements Face<AdminFaceConfig> {
  readonly name = 'admin';
  private readonly log: Logger;
  private config: AdminFaceConfig;
  private readonly plugins: AdminPlugin[];
  private readonly frameworkErrors: AdminFaceOptions['frameworkErrors'];
  private app: FastifyInstance | undefined;
  private place = '';
  private closed = false;
  private started = false;
  private retry: NodeJS.Timeout | undefined;
  private lastProblem: string | undefined;
  private settling: Promise<void> = Promise.resolve();
  private readonly counters = new Map<string, number>();

  constructor(opts: AdminFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.plugins = [...(opts.plugins ?? [])];
    this.frameworkErrors = opts.frameworkErrors;
  }

  /**
   * mount adds a plugin; it applies from the next listener built (call it before start: a
   * mounted plugin reaches a running listener only when a reload moves it).
   */
  mount(plugin: AdminPlugin): void {
    this.plugins.push(plugin);
  }

  /** address is where the listener listens (tests bind port 0), undefined while it does not. */
  get address(): { readonly host: string; readonly port: number } | undefined {
    const a = this.app?.server.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    await this.settle();
  }

  async reload(config: AdminFaceConfig): Promise<void> {
    this.config = config;
    if (this.started) await this.settle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    await this.settling;
    const app = this.app;
    this.app = undefined;
    if (app) await app.close();
  }

  /** settle makes the listener match the configuration (serialized); failures are logged and retried. */
  private settle(): Promise<void> {
    this.settling = this.settling.then(() => this.apply());
    return this.settling;
  }

  private async apply(): Promise<void> {
    if (this.closed) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const a = this.config.admin;
    try {
      const old = this.app;
      if (old && placeOf(a) === this.place) {
        if (a.tls) {
          const m = readAdminTls(a.tls); // SIGHUP re-reads the certificate (renewals)
          (old.server as unknown as { setSecureContext(o: { cert: Buffer; key: Buffer }): void }).setSecureContext(m);
        }
      } else {
        // A new place: the new listener listens before the old one closes.
        const fresh = await this.listen(a);
        this.app = fresh;
        this.place = placeOf(a);
        if (old) {
          this.count('moves');
          await old.close().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'the previous admin listener did not close cleanly'));
        }
      }
      if (this.lastProblem !== undefined) this.log.info({ host: a.host, port: a.port }, 'admin listener problem resolved');
      this.lastProblem = undefined;
    } catch (err) {
      const problem = errorMessage(err);
      this.count('listen-failures');
      if (problem !== this.lastProblem) {
        this.log.error({ code: 'PROVD_ERR_ADMIN_BIND', err: problem, retryMs: RETRY_MS, serving: this.app !== undefined }, this.app ? 'admin listener not moved: the previous one keeps serving; retrying' : 'admin listener not serving (provisioning continues); retrying');
      }
      this.lastProblem = problem;
      this.retry = setTimeout(() => void this.settle(), RETRY_MS);
      this.retry.unref();
    }
  }

  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  health(): FaceHealth {
    return this.app?.server.listening === true ? { ready: true } : { ready: false, reason: 'the admin listener is not listening' };
  }

  /** count increments one of the listener's counters (its own, and the API's and the status page's). */
  count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  /** listen builds a fastify instance with every plugin and listens on `a`. */
  private async listen(a: AdminConfig): Promise<FastifyInstance> {
    const tls = a.tls ? readAdminTls(a.tls) : undefined;
    const app = Fastify({
      logger: false,
      ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
      requestTimeout: 30_000,
      bodyLimit: 1 << 20,
      ...(this.frameworkErrors ? { frameworkErrors: this.frameworkErrors } : {}),
    }) as unknown as FastifyInstance;
    app.addHook('onResponse', async (_req, reply) => {
      this.count(`status:${reply.statusCode}`);
    });
    try {
      for (const p of this.plugins) await app.register(async (scope) => p(scope));
      app.server.maxConnections = MAX_CONNECTIONS;
      await app.listen({ host: a.host, port: a.port });
    } catch (err) {
      await app.close().catch(() => undefined);
      throw new ProvError('PROVD_ERR_ADMIN_BIND', `the admin listener cannot listen on ${a.host}:${a.port}: ${errorMessage(err)}`, { cause: err });
    }
    const where = app.server.address() as AddressInfo;
    this.log.info({ host: where.address, port: where.port, tls: tls !== undefined }, 'admin listener serving (metrics, health)');
    return app;
  }
}
