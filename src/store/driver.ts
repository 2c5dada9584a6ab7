/**
 * driver.ts: the SQLite binding for the running Node.js line.
 *
 * better-sqlite3 12 (node::ObjectWrap) aborts the process at exit on Node 24.19 and later
 * (`Assertion failed: (env) != nullptr` in RemoveEnvironmentCleanupHook, when a Database or
 * Statement is finalized after Node tore its environment down: nodejs/node#65446); 13 (Node-API,
 * prebuilt addons in the package, no compiler needed) fixes it but declares Node >= 22 and crashes
 * on Node 20. Both are installed (13 under the alias `better-sqlite3-napi`); the API used here is
 * the same. Only loading a module costs nothing: each addon is opened on the first `new Database`.
 */
import Legacy from 'better-sqlite3';
import Napi from 'better-sqlite3-napi';

/** NODE_MAJOR is the running Node.js major version. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Database is better-sqlite3 13 on Node >= 22, 12 on Node 20 (legacy, see README "Supported runtimes"). */
const Database: typeof Legacy = NODE_MAJOR >= 22 ? Napi : Legacy;
export default Database;

/** Db is an open connection. */
export type Db = Legacy.Database;
