/**
 * netns.ts: network-namespace helpers for the interoperability tests.
 *
 * A NetnsLab owns a set of uniquely named namespaces (prefix + process.pid, so parallel runs
 * cannot clash) and the veth pairs between them. Veth ends are created directly inside their
 * namespaces (`ip -n A link add … peer … netns B`), so no interface ever appears in the host's
 * namespace and no traffic can reach the host's real interfaces.
 *
 * Everything is bounded: every command has a timeout, every wait has a deadline, and every
 * process the lab starts is tracked by PID so it can be killed (by PID only) on teardown, or,
 * as a last resort, from a process 'exit' hook if the test run is torn down abruptly.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** RunResult is the outcome of one command. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** DEFAULT_CMD_TIMEOUT_MS bounds every short administrative command (ip …). */
const DEFAULT_CMD_TIMEOUT_MS = 10_000;
/** MAX_CAPTURE bounds the output kept from any child (bytes per stream). */
const MAX_CAPTURE = 4 << 20;

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup: PIDs and namespaces still registered when the process exits.

const livePids = new Set<number>();
const liveNamespaces = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'delete', ns], { timeout: 5000, stdio: 'ignore' });
  });
}

// ---------------------------------------------------------------------------------------------
// Commands

/** runSync runs a command synchronously, bounded by timeoutMs. */
export function runSync(cmd: string, args: readonly string[], timeoutMs = DEFAULT_CMD_TIMEOUT_MS): RunResult {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: MAX_CAPTURE, killSignal: 'SIGKILL' });
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error && !timedOut ? String(r.error.message) : ''),
    timedOut,
  };
}

/** RunOptions tune an asynchronous command. */
export interface RunOptions {
  /** timeoutMs kills the command (by PID, SIGKILL) when it runs longer. */
  readonly timeoutMs: number;
  /** input is written to the command's stdin, which is then closed. */
  readonly input?: string;
  readonly cwd?: string;
}

/** run runs a command asynchronously and collects its output; it never rejects. */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(cmd, [...args], { cwd: opts.cwd, stdio: 'pipe' });
    } catch (err) {
      resolve({ code: null, signal: null, stdout: '', stderr: `spawn ${cmd}: ${String(err)}`, timedOut: false });
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) livePids.add(pid);
    installExitHook();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killPid(pid, 'SIGKILL');
    }, opts.timeoutMs);
    let spawnError = '';
    child.on('error', (err) => {
      spawnError = `spawn ${cmd}: ${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) livePids.delete(pid);
      resolve({ code, signal, stdout, stderr: stderr + spawnError, timedOut });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** killPid sends a signal to one PID, ignoring "no such process". */
export function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already exited
  }
}

/** ip runs `ip ARGS`, throwing with the command line and stderr when it fails. */
export function ip(...args: string[]): string {
  const r = runSync('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${String(r.code)}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// Capability checks (for skip messages)

/** isRoot reports whether the tests run as uid 0. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** haveIp reports whether the `ip` (iproute2) command can be run. */
export function haveIp(): boolean {
  const r = runSync('ip', ['-V'], 5000);
  return r.code === 0;
}

/**
 * netnsSkipReason returns why namespace tests cannot run here (a message for t.skip), or
 * undefined when they can: root, iproute2 present, and `ip netns add` actually works (a
 * container without CAP_SYS_ADMIN is root but cannot create namespaces).
 */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (!isRoot()) return 'network-namespace tests need root (process.getuid() !== 0); run them as root or in CI';
  if (!haveIp()) return "network-namespace tests need iproute2's `ip` command (apt-get install iproute2)";
  const probe = `pvdprobe${process.pid}`;
  const add = runSync('ip', ['netns', 'add', probe], 5000);
  runSync('ip', ['netns', 'delete', probe], 5000);
  if (add.code !== 0) return `cannot create a network namespace here (ip netns add: ${add.stderr.trim() || `exit ${String(add.code)}`})`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Waiting

/** waitFor polls `probe` until it returns a value other than undefined, or throws at the deadline. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxPolls = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let i = 0; i < maxPolls; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** sleep resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** udpPortsIn lists the local UDP ports bound in a namespace (read from its /proc/net/udp). */
export function udpPortsIn(ns: string): Set<number> {
  const r = runSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/udp'], 5000);
  return parseProcNetUdp(r.code === 0 ? r.stdout : '');
}

/** udpPortsOfPid lists the UDP ports bound in the network namespace of a PID. */
export function udpPortsOfPid(pid: number): Set<number> {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/net/udp`, 'utf8');
  } catch {
    // process gone
  }
  return parseProcNetUdp(text);
}

function parseProcNetUdp(text: string): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    const portHex = local?.split(':')[1];
    if (portHex !== undefined) ports.add(parseInt(portHex, 16));
  }
  return ports;
}

/** waitForUdpPort waits (bounded) until `port` is bound in namespace `ns`. */
export async function waitForUdpPort(ns: string, port: number, timeoutMs: number): Promise<void> {
  await waitFor(`UDP port ${port} to be bound in netns ${ns}`, () => (udpPortsIn(ns).has(port) ? true : undefined), timeoutMs, 100);
}

// ---------------------------------------------------------------------------------------------
// Long-running children with line-oriented output

/** LineProcess is a child process whose stdout is consumed line by line (never left to block). */
export class LineProcess {
  readonly pid: number;
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private partial = '';
  private readonly waiters = new Set<() => void>();
  private readonly exited: Promise<void>;

  /** MAX_LINES bounds the kept stdout lines; older ones are dropped first. */
  static readonly MAX_LINES = 20_000;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    if (child.pid === undefined) throw new Error('child process has no PID (spawn failed)');
    this.pid = child.pid;
    livePids.add(this.pid);
    installExitHook();
    child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < MAX_CAPTURE) this.stderr += d;
    });
    child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exit = { code, signal };
        livePids.delete(this.pid);
        if (this.partial) this.pushLine(this.partial);
        this.partial = '';
        this.notify();
        resolve();
      });
    });
  }

  /** spawn starts `cmd args` and wraps it (the PID is registered for cleanup at once). */
  static spawn(cmd: string, args: readonly string[], cwd?: string): Promise<LineProcess> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, [...args], { cwd, stdio: 'pipe' });
      child.once('spawn', () => resolve(new LineProcess(child)));
      child.once('error', (err) => reject(new Error(`cannot start ${cmd}: ${err.message}`)));
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  private onData(d: string): void {
    this.partial += d;
    let nl = this.partial.indexOf('\n');
    while (nl >= 0) {
      this.pushLine(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
      nl = this.partial.indexOf('\n');
    }
    this.notify();
  }

  private pushLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > LineProcess.MAX_LINES) this.lines.splice(0, this.lines.length - LineProcess.MAX_LINES);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** closeStdin ends the child's stdin (a stop request for children that watch it). */
  closeStdin(): void {
    this.child.stdin.end();
  }

  /**
   * waitForLine resolves with the first line at index >= `from` that `match` accepts; it rejects
   * when the deadline passes or the process exits first.
   */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      let next = from;
      const check = (): void => {
        for (; next < this.lines.length; next++) {
          const l = this.lines[next];
          if (l !== undefined && match(l)) {
            done();
            resolve(l);
            return;
          }
        }
        if (!this.running) {
          done();
          reject(new Error(`process ${this.pid} exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr.slice(-2000)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last output: ${this.lines.slice(-5).join(' | ')}; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** waitForExit resolves true if the process exited within timeoutMs. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    if (!this.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([this.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return r;
  }

  /** signal sends a signal to this child's PID (only). */
  signal(sig: NodeJS.Signals): void {
    if (this.running) killPid(this.pid, sig);
  }

  /** stop sends SIGTERM, then SIGKILL after graceMs; it resolves once the child is gone (bounded). */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    if (await this.waitForExit(graceMs)) return;
    this.signal('SIGKILL');
    await this.waitForExit(2000);
  }
}

// ---------------------------------------------------------------------------------------------
// The lab: namespaces, veth pairs, addresses, routes

/** Endpoint is one end of a veth pair. */
export interface Endpoint {
  /** ns is the full namespace name. */
  readonly ns: string;
  readonly ifname: string;
  /** cidr is the address with its prefix, e.g. 10.77.1.1/24. */
  readonly cidr: string;
}

/** NetnsLab creates namespaces and links, and tears all of them down. */
export class NetnsLab {
  readonly namespaces: string[] = [];
  private readonly processes: LineProcess[] = [];

  /** prefix should be short; process.pid is appended so concurrent runs never share a name. */
  constructor(private readonly prefix: string) {}

  /** name returns the full namespace name for a short role name. */
  name(role: string): string {
    return `${this.prefix}${process.pid}-${role}`;
  }

  /** addNamespace creates a namespace with loopback up and returns its full name. */
  addNamespace(role: string): string {
    const ns = this.name(role);
    installExitHook();
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    liveNamespaces.add(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /**
   * link creates a veth pair between two namespaces (each end created in its namespace, never in
   * the host's), assigns the addresses and sets both ends up.
   */
  link(a: Endpoint, b: Endpoint): void {
    if (a.ifname.length > 15 || b.ifname.length > 15) throw new Error('interface names are at most 15 characters');
    ip('-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns);
    for (const e of [a, b]) {
      ip('-n', e.ns, 'addr', 'add', e.cidr, 'dev', e.ifname);
      ip('-n', e.ns, 'link', 'set', e.ifname, 'up');
    }
  }

  /** route adds a route inside a namespace: route(ns, '255.255.255.255/32', 'dev', 'veth0'). */
  route(ns: string, ...args: string[]): void {
    ip('-n', ns, 'route', 'add', ...args);
  }

  /** mac returns the MAC address of an interface inside a namespace (lowercase, colon-separated). */
  mac(ns: string, ifname: string): string {
    const out = ip('-n', ns, '-j', 'link', 'show', 'dev', ifname);
    const parsed: unknown = JSON.parse(out);
    const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
    const addr = typeof first === 'object' && first !== null && 'address' in first ? (first as { address: unknown }).address : undefined;
    if (typeof addr !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(addr)) throw new Error(`no MAC address for ${ifname} in ${ns}: ${out}`);
    return addr;
  }

  /** waitForLinkUp waits (bounded) until an interface reports operstate UP (veth carrier). */
  async waitForLinkUp(ns: string, ifname: string, timeoutMs = 5000): Promise<void> {
    await waitFor(
      `${ifname} in ${ns} to be UP`,
      () => {
        const r = runSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname], 5000);
        return r.code === 0 && r.stdout.includes('"operstate":"UP"') ? true : undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** exec runs a command inside a namespace to completion (bounded by timeoutMs). */
  exec(ns: string, cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /**
   * spawn starts a long-running command inside a namespace. `ip netns exec` execs the command in
   * place, so the returned PID is the command's own PID; teardown kills it by that PID.
   */
  async spawn(ns: string, cmd: string, args: readonly string[], cwd?: string): Promise<LineProcess> {
    const p = await LineProcess.spawn('ip', ['netns', 'exec', ns, cmd, ...args], cwd);
    this.processes.push(p);
    return p;
  }

  /** destroy stops every process the lab started (by PID), then deletes its namespaces. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(this.processes.map((p) => p.stop()));
    for (const p of this.processes) if (p.running) problems.push(`process ${p.pid} did not exit`);
    for (const ns of this.namespaces.splice(0)) {
      const r = runSync('ip', ['netns', 'delete', ns], 5000);
      if (r.code !== 0) problems.push(`ip netns delete ${ns}: ${r.stderr.trim()}`);
      liveNamespaces.delete(ns);
    }
    return problems;
  }
}
