/**
 * open.ts: the configured store: PostgreSQL when `store.url` is set, else the SQLite file in
 * stateDir (sqlite.ts). The faces and the CLI open their store here.
 */
import { openSqliteStore, type OpenOptions } from './sqlite';
import type { StoreConfig } from './config';
import type { Store } from './repository';

/**
 * openConfiguredStore opens the store `store` names (SQLite options apply to SQLite only).
 * PostgreSQL serves the SIP phones from a kept-in-memory view of the shared tables
 * (phonemirror.ts), loaded here: the phone room reads synchronously.
 */
export async function openConfiguredStore(stateDir: string, store: StoreConfig | undefined, opts: OpenOptions = {}): Promise<Store> {
  if (store?.url !== undefined) {
    // Loaded on first use: a process on the embedded store (most CLI commands, most sites) never loads the driver.
    const { openPostgresStore } = await import('./postgres');
    return openPostgresStore({ url: store.url, passwordFile: store.passwordFile, pool: store.pool, phones: true });
  }
  return openSqliteStore(stateDir, opts);
}
