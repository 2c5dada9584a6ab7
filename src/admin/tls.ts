/**
 * tls.ts: the admin listener's TLS material, read and checked. Apart from server.ts so that
 * `check-config` (src/config/check.ts) checks it without loading fastify.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ProvError, errorMessage } from '../errors';

/** readAdminTls reads and checks the PEM pair of admin.tls; it throws PROVD_ERR_ADMIN_BIND. */
export function readAdminTls(tls: { readonly cert: string; readonly key: string }): { cert: Buffer; key: Buffer } {
  let m: { cert: Buffer; key: Buffer };
  try {
    m = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  } catch (err) {
    throw new ProvError('PROVD_ERR_ADMIN_BIND', `cannot read admin.tls files: ${errorMessage(err)}`, { cause: err });
  }
  try {
    createSecureContext(m);
  } catch (err) {
    throw new ProvError('PROVD_ERR_ADMIN_BIND', `admin.tls.cert / admin.tls.key are not a usable pair: ${errorMessage(err)}`, { cause: err });
  }
  return m;
}
