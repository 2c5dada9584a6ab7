/**
 * migrations.ts: the SQLite schema, as an append-only list of versioned steps.
 *
 * PRAGMA user_version holds the applied level. Each step runs in its own transaction; a
 * released step is never edited, only followed by a new one. test/store.test.ts migrates from
 * an empty file and from every earlier level.
 */

/** Migration is one schema step. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** MIGRATIONS are applied in order; versions are 1, 2, 3, … without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'users',
    sql: `
      CREATE TABLE users (
        domain        TEXT NOT NULL,
        name          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        attributes    TEXT NOT NULL DEFAULT '{}',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (domain, name)
      ) WITHOUT ROWID;`,
  },
  {
    version: 2,
    description: 'device inventory',
    sql: `
      CREATE TABLE devices (
        key          TEXT PRIMARY KEY,
        uuid         TEXT,
        hwaddr       TEXT,
        ip           TEXT NOT NULL,
        hostname     TEXT,
        osname       TEXT,
        arch         TEXT,
        build        TEXT,
        username     TEXT,
        tenant       TEXT NOT NULL,
        first_seen   TEXT NOT NULL,
        last_seen    TEXT NOT NULL,
        last_outcome TEXT NOT NULL
      );`,
  },
  {
    version: 3,
    description: 'device user agent, request count, lookup indexes',
    sql: `
      ALTER TABLE devices ADD COLUMN user_agent TEXT;
      ALTER TABLE devices ADD COLUMN requests INTEGER NOT NULL DEFAULT 1;
      CREATE INDEX devices_hwaddr ON devices (hwaddr);
      CREATE INDEX devices_tenant_user ON devices (tenant, username);`,
  },
  {
    version: 4,
    description: 'provisioning key hashes',
    sql: `
      CREATE TABLE provisioning_keys (
        hash       TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT
      );
      CREATE INDEX provisioning_keys_tenant ON provisioning_keys (tenant);`,
  },
  {
    version: 5,
    description: 'device first successful provisioning (pruning of junk records)',
    sql: `
      ALTER TABLE devices ADD COLUMN provisioned_at TEXT;
      UPDATE devices SET provisioned_at = last_seen WHERE last_outcome LIKE '200 %';
      CREATE INDEX devices_unprovisioned ON devices (first_seen) WHERE provisioned_at IS NULL;`,
  },
  {
    version: 6,
    description: 'device failure counters (a failed request changes no other field)',
    sql: `
      ALTER TABLE devices ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE devices ADD COLUMN last_failure_at TEXT;
      ALTER TABLE devices ADD COLUMN last_failure TEXT;`,
  },
];

/** SCHEMA_VERSION is the level this build migrates to. */
export const SCHEMA_VERSION = MIGRATIONS.length;
