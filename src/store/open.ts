/**
 * open.ts: the configured store: PostgreSQL when `store.url` is set, else the SQLite file in
 * stateDir (sqlite.ts). The faces and the CLI open their store here.
 */
import { openSqliteStore, type OpenOptions } from './sqlite';
import { openPostgresStore } from './postgres';
import type { StoreConfig } from './config';
import type { Store } from './repository';

/**
 * openConfiguredStore opens the store `store` names (SQLite options apply to SQLite only).
 * PostgreSQL serves the SIP phones from a kept-in-memory view of the shared tables
 * (phonemirror.ts), loaded here: the phone room reads synchronously.
 */
export async function openConfiguredStore(stateDir: string, store: StoreConfig | undefined, opts: OpenOptions = {}): Promise<Store> {
  if (store?.url !== undefined) return openPostgresStore({ url: store.url, passwordFile: store.passwordFile, pool: store.pool, phones: true });
  return openSqliteStore(stateDir, opts);
}
