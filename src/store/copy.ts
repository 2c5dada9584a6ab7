/**
 * copy.ts: `provisiond store migrate --to postgres://…`: the SQLite store of stateDir, every
 * table, into an empty PostgreSQL store (postgres.ts importInto: one transaction, refused when
 * the target holds any row, so a second run copies nothing and says why).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from './driver';
import { openSqliteStore, STORE_FILE } from './sqlite';
import { importInto, STORE_TABLES, type PostgresOptions, type TableRows } from './postgres';
import { ProvError } from '../errors';

/** readSqliteTables brings stateDir's store to the current schema and reads every table. */
export async function readSqliteTables(stateDir: string): Promise<TableRows[]> {
  const file = join(stateDir, STORE_FILE);
  if (!existsSync(file)) throw new ProvError('PROVD_ERR_STORE', `no SQLite store at ${file}: nothing to copy (name the configuration whose stateDir holds it)`);
  await openSqliteStore(stateDir).close(); // migrates an older file first: both sides then have the same columns
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return STORE_TABLES.map((table): TableRows => {
      const columns = (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
      const rows = db.prepare(`SELECT ${columns.join(', ')} FROM ${table}`).raw().all() as unknown[][];
      return { table, columns, rows };
    });
  } finally {
    db.close();
  }
}

/** copySqliteToPostgres copies stateDir's store into the PostgreSQL store `to`; it returns the rows per table. */
export async function copySqliteToPostgres(stateDir: string, to: PostgresOptions): Promise<Record<string, number>> {
  return importInto(to, await readSqliteTables(stateDir));
}
