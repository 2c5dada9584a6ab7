/**
 * tls.ts: the HTTP face's TLS material, read and checked. Apart from server.ts so that
 * `check-config` (src/config/check.ts) checks it without loading fastify.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ProvError, errorMessage } from '../errors';

/** TlsMaterial is a certificate and key pair as read from disk. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** readTls reads and checks the PEM pair; it throws PROVD_ERR_HTTP_TLS. */
export function readTls(tls: { readonly cert: string; readonly key: string }): TlsMaterial {
  let m: TlsMaterial;
  try {
    m = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  } catch (err) {
    throw new ProvError('PROVD_ERR_HTTP_TLS', `cannot read http.tls files: ${errorMessage(err)}`, { cause: err });
  }
  try {
    createSecureContext({ cert: m.cert, key: m.key }); // a mismatched or broken pair fails here, not per handshake
  } catch (err) {
    throw new ProvError('PROVD_ERR_HTTP_TLS', `http.tls.cert / http.tls.key are not a usable pair: ${errorMessage(err)}`, { cause: err });
  }
  return m;
}
