#!/usr/bin/env node
/**
 * main.ts: the `provisiond` executable. It runs the CLI and exits with its code.
 */
import { main } from './cli';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sockets are closed by now; exit explicitly so a stray timer cannot keep the process alive.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`provisiond: internal error: ${String(err)} [PROVD_ERR_INTERNAL]\n`);
    process.exit(4);
  },
);
