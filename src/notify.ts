/**
 * notify.ts: the systemd notification protocol (sd_notify), native-free.
 *
 * Node's dgram module cannot send on an AF_UNIX datagram socket, so each message is handed to
 * `systemd-notify --pid=<our pid> FIELD=value…` (the unit sets NotifyAccess=all: the sender is
 * that short-lived child; systemd 252's systemd-notify waits with a BARRIER=1 until the manager
 * has read the message, so the child's exit cannot race it). Messages are sent one after the
 * other, in the order they were asked for. Everything here is a no-op when $NOTIFY_SOCKET is
 * unset (not started by systemd with Type=notify), and a missing systemd-notify is one warning.
 */
import { execFile } from 'node:child_process';
import type { Logger } from './log';

/** NOTIFY_TIMEOUT_MS bounds one systemd-notify run (it waits for the manager's barrier). */
const NOTIFY_TIMEOUT_MS = 5000;
/** STATUS_MAX bounds a STATUS= text (one line). */
const STATUS_MAX = 400;

/** Notifier sends the daemon's state to the service manager. */
export interface Notifier {
  /** enabled is true when $NOTIFY_SOCKET is set. */
  readonly enabled: boolean;
  /** ready: every enabled face listens (also after a reload, applied or refused). */
  ready(status: string): void;
  /** reloading: a reload starts (RELOADING=1 with MONOTONIC_USEC=, as systemd asks). */
  reloading(status: string): void;
  /** stopping: the daemon shuts down. */
  stopping(status: string): void;
  /** status: a STATUS= line alone. */
  status(status: string): void;
  /**
   * watchdog starts WATCHDOG=1 pings every WATCHDOG_USEC/2 from the main event loop while
   * healthy() says so (no-op without WATCHDOG_USEC, or when WATCHDOG_PID names another process);
   * it returns the function that stops them.
   */
  watchdog(healthy: () => boolean): () => void;
  /** flush resolves once every message asked for so far has been handed over. */
  flush(): Promise<void>;
}

/** oneLine makes a STATUS= text: one line, bounded. */
function oneLine(s: string): string {
  const t = s.replace(/[\r\n]+/g, ' ').trim();
  return t.length > STATUS_MAX ? `${t.slice(0, STATUS_MAX - 1)}…` : t;
}

/** monotonicUsec is CLOCK_MONOTONIC in microseconds (Node's hrtime reads that clock on Linux). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** createNotifier builds the notifier for this process's environment. */
export function createNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env): Notifier {
  const socket = env['NOTIFY_SOCKET'];
  const enabled = socket !== undefined && socket !== '';
  let chain: Promise<void> = Promise.resolve();
  let broken = false;
  let pending = 0;
  let announced = false;

  const send = (fields: readonly string[]): void => {
    if (!enabled || broken) return;
    pending++;
    chain = chain.then(
      () =>
        new Promise<void>((resolve) => {
          execFile('systemd-notify', [`--pid=${process.pid}`, ...fields], { timeout: NOTIFY_TIMEOUT_MS, env }, (err) => {
            pending--;
            if (err) {
              const code = (err as NodeJS.ErrnoException).code;
              if (code === 'ENOENT') {
                broken = true;
                log.warn({ notifySocket: socket }, 'NOTIFY_SOCKET is set but systemd-notify is not on PATH: the service manager is not told the daemon is ready');
              } else {
                log.warn({ err: err.message, fields: fields.map((f) => f.split('=')[0]) }, 'systemd-notify failed');
              }
            }
            resolve();
          });
        }),
    );
  };

  return {
    enabled,
    ready: (status) => send(['READY=1', `STATUS=${oneLine(status)}`]),
    reloading: (status) => send(['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, `STATUS=${oneLine(status)}`]),
    stopping: (status) => send(['STOPPING=1', `STATUS=${oneLine(status)}`]),
    status: (status) => send([`STATUS=${oneLine(status)}`]),
    watchdog(healthy) {
      const usec = Number(env['WATCHDOG_USEC'] ?? '');
      const pid = env['WATCHDOG_PID'];
      if (!enabled || !Number.isFinite(usec) || usec <= 0 || (pid !== undefined && pid !== '' && Number(pid) !== process.pid)) return () => undefined;
      const everyMs = Math.max(1, Math.floor(usec / 2000));
      if (!announced) log.info({ watchdogMs: Math.floor(usec / 1000), pingMs: everyMs }, 'systemd watchdog enabled');
      announced = true;
      const timer = setInterval(() => {
        // A ping still on its way is enough; unhealthy faces stop the pings, and systemd acts.
        if (pending === 0 && healthy()) send(['WATCHDOG=1']);
      }, everyMs);
      timer.unref();
      return () => clearInterval(timer);
    },
    flush: () => chain,
  };
}
