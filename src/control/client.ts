/**
 * client.ts: one request to the daemon's control socket, and its answer. Every way it can fail
 * is a PROVD_ERR_CONTROL naming the socket: nothing listens (no daemon), permission denied, no
 * valid answer within the timeout.
 */
import { connect } from 'node:net';
import { ProvError } from '../errors';
import { decodeAnswer, type Answer } from './protocol';

/** MAX_ANSWER_BYTES bounds an answer (a list of 100 000 bans fits). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** controlRequest sends one request object and resolves with the daemon's answer. */
export function controlRequest(path: string, request: Record<string, unknown>, timeoutMs: number): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect({ path });
    let buf = '';
    let done = false;
    const finish = (err: ProvError | undefined, a?: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else if (a) resolvePromise(a);
    };
    const timer = setTimeout(() => finish(new ProvError('PROVD_ERR_CONTROL', `no answer from the daemon on ${path} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const a = decodeAnswer(buf.slice(0, nl));
        finish(a ? undefined : new ProvError('PROVD_ERR_CONTROL', `the answer on ${path} is not provisiond's control protocol`), a);
      } else if (buf.length > MAX_ANSWER_BYTES) {
        finish(new ProvError('PROVD_ERR_CONTROL', `the answer on ${path} is larger than ${MAX_ANSWER_BYTES} bytes`));
      }
    });
    sock.on('end', () => finish(new ProvError('PROVD_ERR_CONTROL', `the daemon closed the control connection on ${path} without an answer`)));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `no provisiond is running: nothing answers on ${path} (start it, or pass the daemon's --config or --socket)`
          : err.code === 'EACCES' || err.code === 'EPERM'
            ? `permission denied on ${path}: the control socket is for root and the daemon's user only`
            : `cannot talk to the daemon on ${path}: ${err.message}`;
      finish(new ProvError('PROVD_ERR_CONTROL', why));
    });
  });
}
