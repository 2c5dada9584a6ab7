/**
 * config.ts: the `store` section. Absent or without `url`: the embedded SQLite file in stateDir
 * (the default). `url: postgres://…`: a PostgreSQL database several nodes share (stateDir still
 * holds each node's own files: the security event log, phone uploads, the control socket).
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';

/** POSTGRES_URL matches the URLs node-postgres accepts for a server (postgres:// or postgresql://). */
const POSTGRES_URL = /^postgres(ql)?:\/\/[^\s]*$/;

/** storeSchema is the `store` section. */
export const storeSchema = z
  .strictObject({
    /**
     * url: `postgres://user@host:5432/db?sslmode=verify-full&sslrootcert=/path/ca.pem` (TLS), or a
     * unix socket (`postgres://user@/db?host=/run/postgresql`). A password may be in the URL, but
     * belongs in passwordFile (or $PGPASSWORD) so that the YAML holds no secret.
     */
    url: z.string().regex(POSTGRES_URL, 'must be a postgres:// or postgresql:// URL').optional(),
    /**
     * passwordFile: a file holding the database password (its first line). A relative name is
     * looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=) when set, else next to the
     * configuration file.
     */
    passwordFile: z.string().min(1).optional(),
    pool: z
      .strictObject({
        /** max: connections per process (each HTTP worker has its own pool). */
        max: z.number().int().min(1).max(100).default(10),
        /** connectTimeout: seconds to open a connection before the query fails. */
        connectTimeout: z.number().min(0.1).max(60).default(5),
        /** statementTimeout: seconds a statement may run (server-side statement_timeout, and a client-side bound). */
        statementTimeout: z.number().min(0.1).max(300).default(5),
        /** maxWaiting: queries waiting for a connection at most; beyond, refused at once and counted. */
        maxWaiting: z.number().int().min(1).max(100_000).default(1000),
      })
      .prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.passwordFile !== undefined && s.url === undefined) ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'needs store.url (the SQLite store has no password)' });
  })
  .prefault({});

/** StoreConfig is the validated `store` section. */
export type StoreConfig = DeepReadonly<z.output<typeof storeSchema>>;
