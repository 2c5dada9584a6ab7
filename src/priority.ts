/**
 * priority.ts: a thread's own scheduling priority (Linux: setpriority on the thread's id is per
 * thread). The threads that answer datagrams (the DHCP, SIP and TFTP faces') raise theirs so a
 * storm of HTTP work and scrypt runs on the same cores cannot hold an answer back; the KDF threads
 * lower theirs. Raising a priority (a negative nice) needs CAP_SYS_NICE (root, or the systemd
 * unit's AmbientCapabilities); lowering one needs nothing.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** FACE_THREAD_NICE is the priority the UDP faces' threads ask for (BENCHMARKS.md, "DHCP under a cold storm"). */
export const FACE_THREAD_NICE = -20;

/** ThreadNice is what setOwnThreadNice did: the nice applied, or why not. */
export type ThreadNice = { readonly ok: true; readonly nice: number } | { readonly ok: false; readonly reason: string };

/** ownThreadId is the calling thread's kernel id (/proc/thread-self), undefined where there is none. */
function ownThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** setOwnThreadNice sets the calling thread's nice value (−20 … 19); it never throws. */
export function setOwnThreadNice(nice: number): ThreadNice {
  const tid = ownThreadId();
  if (tid === undefined) return { ok: false, reason: 'no per-thread priorities here (not Linux)' };
  try {
    setPriority(tid, nice);
    return { ok: true, nice };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    return { ok: false, reason: nice < 0 ? `${code}: raising a priority needs CAP_SYS_NICE` : code };
  }
}

/** PriorityLog is the part of a face's logger raisePriority writes to. */
export interface PriorityLog {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
}

/**
 * raisePriority gives the calling face thread FACE_THREAD_NICE and says so once: at debug when
 * it worked, at info when it did not (the face works the same, but under a storm on the same cores
 * its answers can wait behind HTTP and scrypt work).
 */
export function raisePriority(log: PriorityLog, face: string): ThreadNice {
  const r = setOwnThreadNice(FACE_THREAD_NICE);
  if (r.ok) log.debug({ nice: r.nice }, `${face} face thread: priority raised`);
  else log.info({ nice: FACE_THREAD_NICE, reason: r.reason }, `${face} face thread keeps the process's priority (its answers can wait behind HTTP and scrypt work under a storm)`);
  return r;
}
