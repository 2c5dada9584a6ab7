#!/usr/bin/env node
/**
 * main.ts: the `provisiond` executable. It runs the CLI and exits with its code.
 */
import { main } from './cli/index';

// A reader that goes away (`provisiond devices list | head`) closes the pipe under the next
// write: the command's output is no longer wanted, so it ends quietly with status 0, as a shell
// pipeline expects, instead of an unhandled 'error' event and a stack trace. Any other stdout
// error is reported in one line. The daemon logs through its own file descriptor (pino).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  process.stderr.write(`provisiond: cannot write to standard output: ${err.message} [PROVD_ERR_INTERNAL]\n`);
  process.exit(4);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sockets are closed by now; exit explicitly so a stray timer cannot keep the process alive,
    // but only once stdout has flushed: a pipe whose reader is slower than us holds the rest of a
    // large output (over the 64 KiB pipe buffer) in our queue, and exiting would cut it.
    process.stdout.write('', () => setImmediate(() => process.exit(code)));
  },
  (err: unknown) => {
    process.stderr.write(`provisiond: internal error: ${String(err)} [PROVD_ERR_INTERNAL]\n`);
    process.exit(4);
  },
);
