/**
 * paths.ts: where the control socket lives. The daemon listens in systemd's runtime directory
 * (`$RUNTIME_DIRECTORY`, from `RuntimeDirectory=provisiond`: /run/provisiond) when it has one,
 * else in its state directory. A command looks where a daemon of the same configuration listens:
 * `--socket`, else `$RUNTIME_DIRECTORY`, else /run/provisiond when that socket exists (an admin
 * shell has no $RUNTIME_DIRECTORY), else the configuration's stateDir.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** SOCKET_NAME is the socket's file name. */
export const SOCKET_NAME = 'control.sock';
/** SYSTEM_RUNTIME_DIR is where systemd's RuntimeDirectory=provisiond puts it. */
export const SYSTEM_RUNTIME_DIR = '/run/provisiond';

/** runtimeDir is the first directory of $RUNTIME_DIRECTORY (systemd separates several with ':'). */
function runtimeDir(env: NodeJS.ProcessEnv): string | undefined {
  const v = env['RUNTIME_DIRECTORY'];
  const first = v?.split(':')[0];
  return first !== undefined && first.length > 0 ? first : undefined;
}

/** daemonSocketPath is where the daemon listens. */
export function daemonSocketPath(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(join(runtimeDir(env) ?? stateDir, SOCKET_NAME));
}

/** clientSocketPath is where a command looks for the daemon. */
export function clientSocketPath(stateDir: string, override: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (override !== undefined) return resolve(override);
  const rt = runtimeDir(env);
  if (rt !== undefined) return resolve(join(rt, SOCKET_NAME));
  const system = join(SYSTEM_RUNTIME_DIR, SOCKET_NAME);
  if (existsSync(system)) return system;
  return resolve(join(stateDir, SOCKET_NAME));
}
