/**
 * daemon.ts (test helper): run the real `provisiond` executable as a child process and read
 * its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';

/** MAIN is the compiled executable. */
export const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

/** Running is a started daemon process with its captured output. */
export interface Running {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** waitForLog resolves with the first log line whose msg matches, or rejects after `ms`. */
  waitForLog(msg: string | RegExp, ms?: number): Promise<Record<string, unknown>>;
  /** exited resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/** startDaemon spawns `node dist/src/main.js ...args` (optionally under a command prefix like `ip netns exec NS`, and with `env` instead of this process's environment). */
export function startDaemon(args: readonly string[], prefix: readonly string[] = [], env?: NodeJS.ProcessEnv): Running {
  const cmd = prefix.length > 0 ? (prefix[0] as string) : process.execPath;
  const argv = prefix.length > 0 ? [...prefix.slice(1), process.execPath, MAIN, ...args] : [MAIN, ...args];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const lines = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog(msg, ms = 30_000) { // a deadline, not a wait: generous for a loaded CI box (the suite runs files side by side)
      const match = (l: Record<string, unknown>): boolean => (typeof msg === 'string' ? l['msg'] === msg : msg.test(String(l['msg'])));
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = lines().find(match);
          if (hit) {
            cleanup();
            resolve(hit);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no log line '${String(msg)}' within ${ms} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, ms);
        const onExit = (): void => {
          if (!check()) {
            cleanup();
            reject(new Error(`daemon exited before logging '${String(msg)}'; stdout:\n${out}\nstderr:\n${err}`));
          }
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          child.off('exit', onExit);
        };
        const listener = (): void => void check();
        if (check()) return;
        listeners.add(listener);
        child.once('exit', onExit);
      });
    },
  };
}

/** freeUdpPort asks the kernel for a currently free UDP port on loopback. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** runCli runs the executable to completion and returns its exit code and output. */
export async function runCli(args: readonly string[], ms = 20_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const r = startDaemon(args);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), ms);
  const code = await r.exited;
  clearTimeout(timer);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/**
 * cliWithInput runs `provisiond ...args` with `input` on stdin (never a TTY), killed after 30 s;
 * stdout is decoded as `stdoutEncoding` (latin1 shows a document's bytes one for one).
 */
export function cliWithInput(args: readonly string[], input = '', stdoutEncoding: BufferEncoding = 'utf8'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString(stdoutEncoding)));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** logLines parses a running daemon's JSON log lines. */
export function logLines(d: Running): Record<string, unknown>[] {
  return d
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
