/**
 * notify.ts (test helper): a service manager's end of sd_notify: an AF_UNIX datagram socket the
 * test owns (a tiny /usr/bin/python3 listener) whose messages are read in order.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PY = '/usr/bin/python3';
const haveNotify = spawnSync('systemd-notify', ['--version']).status === 0;
/** notifySkip says why the protocol cannot be tested here (false when it can). */
export const notifySkip: string | false = !existsSync(PY) ? `${PY} is not installed` : !haveNotify ? 'systemd-notify is not installed' : false;

/** LISTENER prints each datagram as one JSON line (a list of its FIELD=value lines). */
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps(["LISTENING"]), flush=True)
s.settimeout(60)
while True:
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    print(json.dumps(data.decode().split("\\n")), flush=True)
`;

/** Listener is the notification socket's reader. */
export class Listener {
  readonly messages: string[][] = [];
  private readonly proc: ChildProcess;
  private buf = '';
  private waiters = new Set<() => void>();
  constructor(readonly path: string) {
    this.proc = spawn(PY, ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const fields = JSON.parse(line) as string[];
        // systemd-notify's own synchronisation message is not the daemon's.
        if (fields.length === 1 && fields[0] === 'BARRIER=1') continue;
        this.messages.push(fields);
        for (const w of this.waiters) w();
      }
    });
  }
  /** next waits (bounded) until a message after index `from` has `field`, and returns its index. */
  wait(field: string | RegExp, from: number, ms = 30_000): Promise<number> { // a deadline: generous for a loaded CI box
    const find = (): number => this.messages.findIndex((m, i) => i >= from && m.some((f) => (typeof field === 'string' ? f === field : field.test(f))));
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const i = find();
        if (i >= 0) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(i);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no notification ${String(field)} after #${from} within ${ms} ms; got ${JSON.stringify(this.messages)}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }
  close(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
  }
}

export const field = (m: string[] | undefined, name: string): string | undefined => m?.find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
