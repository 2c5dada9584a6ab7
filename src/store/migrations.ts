/**
 * migrations.ts: the schema, as an append-only list of versioned steps, for both backends.
 *
 * SQLite: PRAGMA user_version holds the applied level. PostgreSQL (postgres.ts): the table
 * provisiond_schema does, and the steps run under an advisory lock (nodes starting at once). A
 * step's `pg` text is its PostgreSQL spelling where SQLite's differs (WITHOUT ROWID, GLOB, 64-bit
 * integers); the tables, columns and indexes are the same. Each step runs in its own
 * transaction; a released step is never edited, only followed by a new one. test/store.test.ts
 * migrates from an empty file and from every earlier level; test/store-pg.test.ts a database.
 */

/** Migration is one schema step. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
  /** pg is the PostgreSQL text when it differs from `sql`. */
  readonly pg?: string;
}

/** API_TOKENS is migration 10's table (both spellings: SQLite adds WITHOUT ROWID). */
const API_TOKENS = `
      CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        hash         TEXT NOT NULL UNIQUE,
        name         TEXT NOT NULL,
        tenant       TEXT,
        scopes       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT
      )`;

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
    pg: `
      CREATE TABLE users (
        domain        TEXT NOT NULL,
        name          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        attributes    TEXT NOT NULL DEFAULT '{}',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (domain, name)
      );`,
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
  {
    version: 7,
    description: 'SIP phone configs and devices (issue 12)',
    // JSON columns (parents, raw_config, users, options) hold canonical JSON (sorted keys), written
    // by store/phones.ts only. A MAC is one device across all tenants (the primary key).
    sql: `
      CREATE TABLE phone_configs (
        tenant     TEXT NOT NULL,
        id         TEXT NOT NULL,
        parents    TEXT NOT NULL DEFAULT '[]',
        raw_config TEXT NOT NULL DEFAULT '{}',
        role       TEXT NOT NULL DEFAULT 'none' CHECK (role IN ('default', 'autoprov', 'none')),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX phone_configs_role ON phone_configs (tenant, role) WHERE role <> 'none';
      CREATE TABLE phone_devices (
        mac                TEXT PRIMARY KEY CHECK (mac GLOB '[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]'),
        tenant             TEXT NOT NULL,
        profile            TEXT NOT NULL,
        model              TEXT,
        version            TEXT,
        serial             TEXT,
        ip                 TEXT,
        config             TEXT,
        users              TEXT NOT NULL DEFAULT '[]',
        options            TEXT NOT NULL DEFAULT '{}',
        added_at           TEXT NOT NULL,
        assigned_at        TEXT,
        reset_at           TEXT,
        first_seen         TEXT,
        last_seen          TEXT,
        previous_version   TEXT,
        version_changed_at TEXT,
        created_by         TEXT NOT NULL CHECK (created_by IN ('admin', 'auto'))
      );
      CREATE INDEX phone_devices_tenant_ip ON phone_devices (tenant, ip);
      CREATE INDEX phone_devices_serial ON phone_devices (serial) WHERE serial IS NOT NULL;
      CREATE INDEX phone_devices_config ON phone_devices (tenant, config);
      CREATE INDEX phone_devices_profile ON phone_devices (profile);`,
    pg: `
      CREATE TABLE phone_configs (
        tenant     TEXT NOT NULL,
        id         TEXT NOT NULL,
        parents    TEXT NOT NULL DEFAULT '[]',
        raw_config TEXT NOT NULL DEFAULT '{}',
        role       TEXT NOT NULL DEFAULT 'none' CHECK (role IN ('default', 'autoprov', 'none')),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
      );
      CREATE UNIQUE INDEX phone_configs_role ON phone_configs (tenant, role) WHERE role <> 'none';
      CREATE TABLE phone_devices (
        mac                TEXT PRIMARY KEY CHECK (mac ~ '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$'),
        tenant             TEXT NOT NULL,
        profile            TEXT NOT NULL,
        model              TEXT,
        version            TEXT,
        serial             TEXT,
        ip                 TEXT,
        config             TEXT,
        users              TEXT NOT NULL DEFAULT '[]',
        options            TEXT NOT NULL DEFAULT '{}',
        added_at           TEXT NOT NULL,
        assigned_at        TEXT,
        reset_at           TEXT,
        first_seen         TEXT,
        last_seen          TEXT,
        previous_version   TEXT,
        version_changed_at TEXT,
        created_by         TEXT NOT NULL CHECK (created_by IN ('admin', 'auto'))
      );
      CREATE INDEX phone_devices_tenant_ip ON phone_devices (tenant, ip);
      CREATE INDEX phone_devices_serial ON phone_devices (serial) WHERE serial IS NOT NULL;
      CREATE INDEX phone_devices_config ON phone_devices (tenant, config);
      CREATE INDEX phone_devices_profile ON phone_devices (profile);`,
  },
  {
    version: 8,
    description: 'brute-force bans kept across restarts (issue 14)',
    // One row per live ban of a face (http, tftp); expired rows are deleted at start and on
    // every write, and store/bans.ts keeps at most MAX_STORED_BANS rows per face.
    sql: `
      CREATE TABLE bans (
        face    TEXT NOT NULL,
        scope   TEXT NOT NULL CHECK (scope IN ('ip', 'user')),
        subject TEXT NOT NULL,
        since   INTEGER NOT NULL,
        until   INTEGER NOT NULL,
        reason  TEXT NOT NULL,
        PRIMARY KEY (face, scope, subject)
      ) WITHOUT ROWID;
      CREATE INDEX bans_until ON bans (until);`,
    pg: `
      CREATE TABLE bans (
        face    TEXT NOT NULL,
        scope   TEXT NOT NULL CHECK (scope IN ('ip', 'user')),
        subject TEXT NOT NULL,
        since   BIGINT NOT NULL,
        until   BIGINT NOT NULL,
        reason  TEXT NOT NULL,
        PRIMARY KEY (face, scope, subject)
      );
      CREATE INDEX bans_until ON bans (until);`,
  },
  {
    version: 9,
    description: 'remembered password verifications (issue 16)',
    // One row per (tenant, user, password) verified by the KDF: `verifier` is an HMAC under a key
    // kept outside the store (src/identity/remembered.ts), `key_id` names that key (rows of another
    // key are unusable and purged), `expires_at` is ms since the epoch. Bounded by
    // store/remembered.ts; dropped with the user's password change or deletion (sqlite.ts).
    sql: `
      CREATE TABLE remembered_logins (
        verifier   TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        name       TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX remembered_logins_user ON remembered_logins (tenant, name);
      CREATE INDEX remembered_logins_expiry ON remembered_logins (expires_at);`,
    pg: `
      CREATE TABLE remembered_logins (
        verifier   TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        name       TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX remembered_logins_user ON remembered_logins (tenant, name);
      CREATE INDEX remembered_logins_expiry ON remembered_logins (expires_at);`,
  },
  {
    version: 10,
    description: 'admin API tokens (issue 17)',
    // One row per live API token (src/admin/tokens.ts): `id` is public (listed, revoked by),
    // `hash` the hex SHA-256 of the token (the token itself is never stored), `tenant` NULL for
    // an --all token, `scopes` a comma list (read, write, secrets). Revoking deletes the row.
    // PostgreSQL's spelling is SQLite's without WITHOUT ROWID.
    sql: `${API_TOKENS} WITHOUT ROWID;`,
    pg: `${API_TOKENS};`,
  },
  {
    version: 11,
    description: 'device quota windows shared by every node (issue 16)',
    // One row per (source IP, hour window) counting the new devices granted to that source in
    // that window (`window_start` in ms since the epoch). Used on PostgreSQL (postgres.ts: an
    // atomic conditional upsert per grant); rows of windows before the previous one are pruned,
    // and at most MAX_QUOTA_ROWS are kept. The SQLite store keeps the quota in memory (one
    // process owns it) and leaves this table empty; it exists so both schemas stay the same.
    sql: `
      CREATE TABLE device_quota (
        source       TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        n            INTEGER NOT NULL,
        PRIMARY KEY (source, window_start)
      ) WITHOUT ROWID;
      CREATE INDEX device_quota_window ON device_quota (window_start);`,
    pg: `
      CREATE TABLE device_quota (
        source       TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        n            INTEGER NOT NULL,
        PRIMARY KEY (source, window_start)
      );
      CREATE INDEX device_quota_window ON device_quota (window_start);`,
  },
];

/** SCHEMA_VERSION is the level this build migrates to. */
export const SCHEMA_VERSION = MIGRATIONS.length;
