/**
 * listen.ts (test helper): what the kernel says about a listening TCP socket.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** listenBacklogs lists the accept-queue limit (ss's Send-Q of a LISTEN socket) of every socket listening on `port`. */
export function listenBacklogs(port: number): number[] {
  const r = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ss failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => Number(l.trim().split(/\s+/)[2]));
}

/** somaxconn is net.core.somaxconn, the kernel's cap on any listen backlog. */
export function somaxconn(): number {
  return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
}
