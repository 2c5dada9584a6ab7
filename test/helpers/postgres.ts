/**
 * postgres.ts (test helper): a real PostgreSQL server in a temporary directory (Debian's
 * `postgresql` package, scripts/install-test-deps.sh), started for one test file and removed
 * after it. The server refuses to run as root: as root the helper runs initdb and pg_ctl as
 * `nobody` (runuser), in a directory it gives to nobody. It listens on a unix socket in that
 * directory (trust) and on a free loopback TCP port (scram-sha-256: the password tests).
 * startPostgres returns a string (the reason) where it cannot run: the tests skip with it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { before, after } from 'node:test';

/** PgServer is a running test server. */
export interface PgServer {
  readonly dir: string;
  /** socketUrl is a database URL over the unix socket (superuser `postgres`, trust). */
  socketUrl(db: string): string;
  /** tcpUrl is a database URL over 127.0.0.1 for `user` (password authentication). */
  tcpUrl(db: string, user: string, password?: string): string;
  /** createDb makes a fresh, empty database and returns its socket URL. */
  createDb(name: string): Promise<string>;
  /** sql runs one statement as the superuser in `db`. */
  sql(db: string, text: string): Promise<Record<string, unknown>[]>;
  /** halt stops the server (fast), keeping its data: a server restart or failover as a node sees it. */
  halt(): void;
  /** resume starts it again after halt. */
  resume(): void;
  /** stop stops the server (immediate) and removes its directory. */
  stop(): void;
}

/** binDir finds Debian's PostgreSQL binaries (the newest installed major). */
function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const majors = readdirSync(base).filter((d) => /^\d+$/.test(d) && existsSync(join(base, d, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(base, majors[0], 'bin');
}

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/** startPostgres starts a server, or returns why it cannot. */
export async function startPostgres(): Promise<PgServer | string> {
  const bin = binDir();
  if (bin === undefined) return 'PostgreSQL is not installed (Debian package postgresql: scripts/install-test-deps.sh)';
  const root = process.getuid?.() === 0;
  if (root && !existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) return 'runuser (util-linux) is missing: the server cannot be started as a non-root user';
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-pg-'));
  const as = (cmd: string, args: readonly string[]): string[] => (root ? ['runuser', '-u', 'nobody', '--', join(bin, cmd), ...args] : [join(bin, cmd), ...args]);
  const run = (argv: string[], timeout: number): void => {
    execFileSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout, cwd: dir });
  };
  const port = await freeTcpPort();
  let opts = '';
  try {
    if (root) {
      chownSync(dir, 65534, 65534);
      chmodSync(dir, 0o700);
    }
    const data = join(dir, 'data');
    run(as('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions']), 120_000);
    opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB`;
    run(as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start']), 90_000);
  } catch (err) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8').slice(-500) : '';
    try {
      execFileSync(as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', 'stop'])[0] as string, as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']).slice(1), { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // not started
    }
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message?: string };
    return `the test PostgreSQL server did not start: ${(e.stderr?.toString('utf8') ?? e.message ?? String(err)).trim().slice(0, 400)} ${log}`;
  }
  const socketUrl = (db: string): string => `postgres://postgres@/${db}?host=${encodeURIComponent(dir)}&port=${port}`;
  const sql = async (db: string, text: string): Promise<Record<string, unknown>[]> => {
    const c = new Client({ connectionString: socketUrl(db) });
    await c.connect();
    try {
      return (await c.query(text)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };
  return {
    dir,
    socketUrl,
    tcpUrl: (db, user, password) => `postgres://${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${port}/${db}`,
    createDb: async (name) => {
      await sql('postgres', `CREATE DATABASE ${name}`);
      return socketUrl(name);
    },
    sql,
    halt: () => run(as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'fast', '-w', '-t', '30', 'stop']), 40_000),
    resume: () => run(as('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start']), 90_000),
    stop: () => {
      try {
        const argv = as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', '-t', '30', 'stop']);
        execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore', timeout: 40_000 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** writeSecret writes a 0600 file the tests point store.passwordFile at. */
export function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

/** PgSuite is a test file's PostgreSQL server (see usePostgres). */
export interface PgSuite {
  /** server: the running server, undefined where it could not start (then `skip` says why). */
  readonly server: PgServer | undefined;
  /** skip: false, or the reason the server could not start (for `t.skip`). */
  readonly skip: string | false;
  /** tmp: a scratch directory removed after the file. */
  readonly tmp: string;
  /** freshDb makes an empty database (named `<prefix><pid>_<n>`) and its store options. */
  freshDb(): Promise<{ url: string; pool: { max: number; connectTimeout: number; statementTimeout: number; maxWaiting: number }; name: string }>;
}

/**
 * usePostgres registers the file's before/after hooks: a server started once (or the reason it
 * cannot), a scratch directory, both removed after the file; `prefix` names its databases.
 */
export function usePostgres(prefix: string, pool = { max: 4, connectTimeout: 3, statementTimeout: 5, maxWaiting: 100 }): PgSuite {
  let server: PgServer | undefined;
  let skip: string | false = false;
  let seq = 0;
  const tmp = mkdtempSync(join(tmpdir(), `provisiond-${prefix}pg-`));
  before(async () => {
    const r = await startPostgres();
    if (typeof r === 'string') skip = r;
    else server = r;
  });
  after(() => {
    server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });
  return {
    get server() {
      return server;
    },
    get skip() {
      return skip;
    },
    tmp,
    async freshDb() {
      if (!server) throw new Error('no server');
      const name = `${prefix}${process.pid}_${++seq}`;
      return { url: await server.createDb(name), pool, name };
    },
  };
}
