/**
 * repository.ts: the storage contract the faces and the CLI use. The SQLite implementation is in
 * sqlite.ts; a PostgreSQL one can implement the same interfaces without touching the faces.
 */

/** StoredUser is a user kept in the store (managed with `provisiond user …`). */
export interface StoredUser {
  readonly domain: string;
  /** name is kept lower-case: user names are case-insensitive. */
  readonly name: string;
  /** passwordHash is a stored form from src/identity/passwords.ts. */
  readonly passwordHash: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * Async turns a synchronous repository into its asynchronous contract: every method returns a
 * Promise of what it returned. The SQLite backend keeps a synchronous core (better-sqlite3) and
 * wraps it (`promised` in sqlite.ts): its promises are settled when the call returns, so nothing
 * waits, and a lock held elsewhere still rejects at once with StoreBusyError. PostgreSQL
 * (postgres.ts) implements the same contract over a connection pool.
 */
export type Async<T> = {
  [K in keyof T]: NonNullable<T[K]> extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : T[K];
};

/** SyncUserRepository holds the store's users (the SQLite core; the faces use UserRepository). */
export interface SyncUserRepository {
  get(domain: string, name: string): StoredUser | undefined;
  list(domain?: string): StoredUser[];
  /** add inserts a user; false when it already exists. */
  add(user: { domain: string; name: string; passwordHash: string; attributes?: Readonly<Record<string, string>> }): boolean;
  /** setPassword replaces a hash; false when there is no such user. */
  setPassword(domain: string, name: string, passwordHash: string): boolean;
  /** setAttributes replaces a user's attributes; false when there is no such user. */
  setAttributes(domain: string, name: string, attributes: Readonly<Record<string, string>>): boolean;
  /** upsert inserts or replaces a user (imports). */
  upsert(user: { domain: string; name: string; passwordHash: string; attributes?: Readonly<Record<string, string>> }): void;
  remove(domain: string, name: string): boolean;
  /**
   * getMany looks up several users in one query (PostgreSQL: a burst of logins costs one query
   * per batch, not one each); optional: without it each lookup is a `get`. Users not found are
   * absent from the result.
   */
  getMany?(keys: readonly { readonly domain: string; readonly name: string }[]): StoredUser[];
}

/** UserRepository holds the store's users (SyncUserRepository's methods, returning Promises). */
export type UserRepository = Async<SyncUserRepository>;

/** DeviceObservation is what one provisioning request tells about a device. */
export interface DeviceObservation {
  /** key is `uuid:<uuid>` or `hwaddr:<mac>`. */
  readonly key: string;
  readonly uuid: string | null;
  readonly hwaddr: string | null;
  readonly ip: string;
  readonly hostname: string | null;
  readonly osname: string | null;
  readonly arch: string | null;
  readonly build: string | null;
  readonly userAgent: string | null;
  readonly username: string | null;
  readonly tenant: string;
  /** outcome is the HTTP status and a short reason, e.g. `200 ok`, `401 bad-credentials`. */
  readonly outcome: string;
  /** at is an ISO-8601 timestamp. */
  readonly at: string;
}

/** Device is an inventory row: the last observation's fields plus the row's history. */
export interface Device extends Omit<DeviceObservation, 'outcome' | 'at'> {
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly lastOutcome: string;
  /** requests counts every request that named the device, failed ones included. */
  readonly requests: number;
  /** failures counts the requests not answered 200 (they change no other field). */
  readonly failures: number;
  /** lastFailureAt / lastFailure: the time and outcome (e.g. `401 bad-credentials`) of the last one. */
  readonly lastFailureAt: string | null;
  readonly lastFailure: string | null;
}

/** DeviceWrite is `count` observations of one device coalesced into the latest one (write-behind). */
export interface DeviceWrite {
  readonly obs: DeviceObservation;
  readonly count: number;
}

/**
 * StoreBusyError: the store is locked by another process (SQLITE_BUSY with no busy wait). The
 * daemon never waits for a lock on its event loop: it retries later or skips, and counts.
 */
export class StoreBusyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreBusyError';
  }
}

/** SyncDeviceRepository is the device inventory (the SQLite core; the faces use DeviceRepository). */
export interface SyncDeviceRepository {
  /**
   * upsert records a request. A successful one (outcome `200 …`) inserts the device, or updates
   * every field but firstSeen. Any other outcome proves nothing about the device (anyone can send
   * a known uuid or a MAC seen on the LAN): it only adds to `requests` and `failures` and sets
   * lastFailureAt/lastFailure of an existing record, and never creates one. A device belongs to
   * the tenant that recorded it first: a request of another tenant carrying the same uuid/MAC
   * leaves the record untouched (a key of tenant A can never alter tenant B's inventory).
   * It throws StoreBusyError when another process holds the write lock.
   */
  upsert(obs: DeviceObservation): void;
  /** upsertMany applies coalesced writes in one transaction (all or none), each as `count` upserts (optional: mocks leave it out). */
  upsertMany?(writes: readonly DeviceWrite[]): void;
  get(key: string): Device | undefined;
  list(): Device[];
  /** count is the number of device records. */
  count(): number;
  /** remove deletes a device record; false when there is none (optional: mocks leave it out). */
  remove?(key: string): boolean;
  /** pruneUnprovisioned deletes devices first seen before `before` that never got a 200; it returns how many. */
  pruneUnprovisioned(before: string): number;
}

/** DeviceRepository is the device inventory (SyncDeviceRepository's methods, returning Promises). */
export type DeviceRepository = Async<SyncDeviceRepository>;

/** StoredKey is the hash of a provisioning key (src/identity/keys.ts). */
export interface StoredKey {
  readonly tenant: string;
  /** hash is the hex SHA-256 of the key; the key itself is never stored. */
  readonly hash: string;
  readonly createdAt: string;
  /** expiresAt is null for a tenant's current key, the end of the grace period for the previous one. */
  readonly expiresAt: string | null;
}

/** SyncKeyRepository holds provisioning key hashes: per tenant, the current key and at most one previous. */
export interface SyncKeyRepository {
  list(): StoredKey[];
  /**
   * rotate makes `hash` the tenant's current key; the current one stays valid until `graceUntil`,
   * and any older one is dropped (one transaction).
   */
  rotate(tenant: string, hash: string, at: string, graceUntil: string): void;
}

/** KeyRepository is SyncKeyRepository with Promises. */
export type KeyRepository = Async<SyncKeyRepository>;

/** PhoneJson is a value of a JSON column (a raw config, device options): JSON only. */
export type PhoneJson = string | number | boolean | null | readonly PhoneJson[] | PhoneJsonMap;

/** PhoneJsonMap is a JSON object. */
export interface PhoneJsonMap {
  readonly [key: string]: PhoneJson;
}

/** PhoneConfigRole: the tenant's `default` config, its `autoprov` config (unknown devices), or `none`. */
export type PhoneConfigRole = 'default' | 'autoprov' | 'none';

/** StoredPhoneConfig is a named phone config (wazo's config: `parent_ids`, `raw_config`, role). */
export interface StoredPhoneConfig {
  readonly tenant: string;
  readonly id: string;
  /** parents are config ids of the same tenant, earliest first (a later parent overrides). */
  readonly parents: readonly string[];
  readonly raw: PhoneJsonMap;
  readonly role: PhoneConfigRole;
  readonly updatedAt: string;
}

/** PhoneConfigInput is what putConfig writes (insert or replace). */
export interface PhoneConfigInput {
  readonly tenant: string;
  readonly id: string;
  readonly parents?: readonly string[];
  readonly raw?: PhoneJsonMap;
  readonly role?: PhoneConfigRole;
}

/** StoredPhone is one SIP desk phone, keyed by its MAC (`aa:bb:cc:dd:ee:ff`, unique across tenants). */
export interface StoredPhone {
  readonly mac: string;
  readonly tenant: string;
  /** profile is the vendor profile's folder name (`yealink`, `polycom`, …). */
  readonly profile: string;
  readonly model: string | null;
  readonly version: string | null;
  readonly serial: string | null;
  readonly ip: string | null;
  /** config is a config id of the device's tenant; null: the tenant's default config. */
  readonly config: string | null;
  /** users are user names in line order (user 1 → line 1). */
  readonly users: readonly string[];
  readonly options: PhoneJsonMap;
  /** addedAt / assignedAt / resetAt open the provisioning window (an admin action). */
  readonly addedAt: string;
  readonly assignedAt: string | null;
  readonly resetAt: string | null;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  /** previousVersion / versionChangedAt: the last firmware change observed (one kept). */
  readonly previousVersion: string | null;
  readonly versionChangedAt: string | null;
  readonly createdBy: 'admin' | 'auto';
}

/** PhoneInput is a device to add; the MAC is normalised (any case, `:`/`-`/none as separators). */
export interface PhoneInput {
  readonly mac: string;
  readonly tenant: string;
  readonly profile: string;
  readonly model?: string | null;
  readonly version?: string | null;
  readonly serial?: string | null;
  readonly ip?: string | null;
  readonly config?: string | null;
  readonly users?: readonly string[];
  readonly options?: PhoneJsonMap;
  readonly createdBy?: 'admin' | 'auto';
}

/** PhonePatch changes an admin's fields; a change of config or users sets assignedAt, `reset` sets resetAt. */
export interface PhonePatch {
  readonly profile?: string;
  readonly model?: string | null;
  readonly serial?: string | null;
  readonly config?: string | null;
  readonly users?: readonly string[];
  readonly options?: PhoneJsonMap;
  readonly reset?: boolean;
}

/** PhoneFilter selects devices for list/count; limit/offset page in a stable order (tenant, mac). */
export interface PhoneFilter {
  readonly tenant?: string;
  readonly profile?: string;
  readonly model?: string;
  readonly config?: string;
  readonly limit?: number;
  readonly offset?: number;
}

/** PhoneSighting is what one phone request tells: its address and, when its User-Agent says, model and firmware. */
export interface PhoneSighting {
  readonly ip: string;
  readonly version?: string | null;
  readonly model?: string | null;
}

/** PhoneSightingAt is one buffered sighting: the phone, what its request told, and when. */
export interface PhoneSightingAt {
  readonly mac: string;
  readonly seen: PhoneSighting;
  readonly at: string;
}

/** PhoneObserved is the device after observe(), and whether its firmware changed. */
export interface PhoneObserved {
  readonly device: StoredPhone;
  readonly versionChanged: boolean;
}

/**
 * PhoneRepository holds SIP phone configs and devices. Refused writes throw ProvError
 * PROVD_ERR_PHONE_STORE naming the reason; a lock held by another process throws StoreBusyError.
 * Every method taking `at` (ISO-8601) uses the current time when it is left out.
 */
export interface PhoneRepository {
  getConfig(tenant: string, id: string): StoredPhoneConfig | undefined;
  /** listConfigs orders by tenant, id. */
  listConfigs(tenant?: string): StoredPhoneConfig[];
  /** putConfig inserts or replaces a config; refuses unknown parents, a cycle, a second default/autoprov. */
  putConfig(config: PhoneConfigInput, at?: string): StoredPhoneConfig;
  /** deleteConfig removes a config; false when absent; refused while it is a parent or assigned to a device. */
  deleteConfig(tenant: string, id: string): boolean;
  get(mac: string): StoredPhone | undefined;
  /** getBySerial: the devices with this serial (one, unless a vendor reuses serials). */
  getBySerial(serial: string): StoredPhone[];
  /** getByIp: the tenant's devices last seen at `ip` (NAT mode off: one means found). */
  getByIp(tenant: string, ip: string): StoredPhone[];
  list(filter?: PhoneFilter): StoredPhone[];
  count(filter?: Omit<PhoneFilter, 'limit' | 'offset'>): number;
  /** add inserts a device; refused when the MAC is recorded (in any tenant) or the config is unknown. */
  add(device: PhoneInput, at?: string): StoredPhone;
  /** update changes a device; undefined when there is no such MAC. */
  update(mac: string, patch: PhonePatch, at?: string): StoredPhone | undefined;
  delete(mac: string): boolean;
  /** setProfile moves every device of profile `from` (of one tenant, or all) to `to` in one transaction; it returns the count. */
  setProfile(from: string, to: string, tenant?: string): number;
  /** observe records a request of a known device: ip, last/first seen, model, and a firmware change. */
  observe(mac: string, seen: PhoneSighting, at?: string): PhoneObserved | undefined;
  /** observeMany records a batch of sightings in one transaction (unknown MACs skipped); it returns how many were written. */
  observeMany(batch: readonly PhoneSightingAt[]): number;
}

/** StoredBan is one brute-force ban a face keeps across restarts (times in ms since the epoch). */
export interface StoredBan {
  readonly face: string;
  readonly scope: 'ip' | 'user';
  readonly subject: string;
  readonly since: number;
  readonly until: number;
  readonly reason: string;
}

/** SyncBanRepository keeps the live bans (bounded; expired ones are deleted, never returned). */
export interface SyncBanRepository {
  /** list returns a face's bans still live at `now`, oldest first, after deleting the expired ones. */
  list(face: string, now: number): StoredBan[];
  /** put records (or replaces) a ban, dropping expired rows and the oldest beyond the cap. */
  put(ban: StoredBan): void;
  /** remove deletes one ban; true when it was there. */
  remove(face: string, scope: 'ip' | 'user', subject: string): boolean;
}

/** RememberedLogin is one remembered password verification (src/identity/remembered.ts). */
export interface RememberedLogin {
  /** verifier is the base64 HMAC-SHA256, under the server key, of tenant, user, password and the stored hash's fingerprint. */
  readonly verifier: string;
  readonly tenant: string;
  /** name is the user's lower-case name. */
  readonly name: string;
  /** keyId names the server key the verifier was made with. */
  readonly keyId: string;
  /** expiresAt is in ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * RememberedLoginRepository keeps remembered verifications (issue 16). Every method returns a
 * Promise (a networked backend answers later); a lock held elsewhere rejects with StoreBusyError.
 */
export interface RememberedLoginRepository {
  /** has is true when `verifier` was remembered under `keyId` and expires after `now`. */
  has(verifier: string, keyId: string, now: number): Promise<boolean>;
  /**
   * hasMany is `has` for a batch in one query: the verifiers of `verifiers` remembered under
   * `keyId` and expiring after `now` (a burst of logins costs one query per batch, not one each).
   */
  hasMany(verifiers: readonly string[], keyId: string, now: number): Promise<ReadonlySet<string>>;
  /**
   * putMany writes (or renews) a batch in one transaction, deletes the expired rows and keeps at
   * most `cap` (those expiring first go); it returns the rows written.
   */
  putMany(rows: readonly RememberedLogin[], now: number, cap: number): Promise<number>;
  /** forgetUser deletes a user's rows (password change, deletion); it returns how many. */
  forgetUser(tenant: string, name: string): Promise<number>;
  /** purgeOtherKeys deletes the rows of every key but `keyId` (a changed key); it returns how many. */
  purgeOtherKeys(keyId: string): Promise<number>;
  /** clear deletes every row (remembering turned off); it returns how many. */
  clear(): Promise<number>;
  /** count is the number of rows. */
  count(): Promise<number>;
}
/** TokenScope is what an admin API token may do: read, write (implies read), see secrets. */
export type TokenScope = 'read' | 'write' | 'secrets';

/** StoredToken is an admin API token's metadata and hash (src/admin/tokens.ts); never the token. */
export interface StoredToken {
  /** id is public: listed, and named by `token revoke`. */
  readonly id: string;
  /** hash is the hex SHA-256 of the token. */
  readonly hash: string;
  readonly name: string;
  /** tenant is null for an `--all` token (every tenant). */
  readonly tenant: string | null;
  readonly scopes: readonly TokenScope[];
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

/** SyncTokenRepository holds the admin API tokens (the SQLite core). */
export interface SyncTokenRepository {
  /** list orders by creation time. */
  list(): StoredToken[];
  /** byHash finds the token whose hash this is. */
  byHash(hash: string): StoredToken | undefined;
  add(token: StoredToken): void;
  /** revoke deletes a token; false when there is no such id. */
  revoke(id: string): boolean;
  /** touch records a use (at most once a minute per token is the caller's business). */
  touch(id: string, at: string): void;
}

/** TokenRepository is SyncTokenRepository with Promises. */
export type TokenRepository = Async<SyncTokenRepository>;

/**
 * DeviceQuotaRepository counts new-device grants per source IP in hour windows on a shared store
 * (PostgreSQL, issue 16), so every node sees the others' grants. Bounded: rows of windows before
 * the previous one are pruned, and at most a cap of rows are kept.
 */
export interface DeviceQuotaRepository {
  /**
   * take grants one new device to `source` at `now` (ms since the epoch) unless the grants
   * counted for the last hour reach `limit`: this hour window's grants plus the previous
   * window's, weighted by the share of it still within the hour (rounded up). Atomic across
   * nodes (one conditional upsert); true when granted (and counted).
   */
  take(source: string, now: number, limit: number): Promise<boolean>;
  /** prune deletes the rows of windows before the previous one (and the oldest beyond the cap); it returns how many. */
  prune(now: number): Promise<number>;
}

/** BanRepository is SyncBanRepository with Promises. */
export type BanRepository = Async<SyncBanRepository>;

/** Store is an opened store. */
export interface Store {
  readonly users: UserRepository;
  readonly bans: BanRepository;
  readonly devices: DeviceRepository;
  readonly keys: KeyRepository;
  /** tokens: the admin API's tokens (absent: a store without them, e.g. a test double). */
  readonly tokens?: TokenRepository;
  /**
   * phones stays synchronous (the SIP phone room renders synchronously): on PostgreSQL a
   * kept-in-memory view of the shared tables (phonemirror.ts) when opened with phones, else it
   * throws PROVD_ERR_STORE.
   */
  readonly phones: PhoneRepository;
  /** quota: new-device grants per source shared by every node (PostgreSQL; absent: each process counts in memory). */
  readonly quota?: DeviceQuotaRepository;
  /** remembered: remembered password verifications (absent: a store without them; nothing is remembered). */
  readonly remembered?: RememberedLoginRepository;
  /**
   * sync is what the phone room reads synchronously while it renders: the SQLite store's core of
   * users and keys; on PostgreSQL the phone view's (phonemirror.ts: the keys and the users the
   * phones name, as last read), undefined without the view.
   */
  readonly sync?: { readonly users: Pick<SyncUserRepository, 'get'>; readonly keys: Pick<SyncKeyRepository, 'list'> } | undefined;
  /** backend names the implementation. */
  readonly backend?: 'sqlite' | 'postgres';
  /** schemaVersion is the migration level of the opened database. */
  readonly schemaVersion: number;
  readonly location: string;
  /** stats are the backend's own counters (PostgreSQL: queries, unavailable, refused, pool size). */
  stats?(): Record<string, number>;
  /** setBusyTimeout changes how long a statement waits for another process's lock (shutdown flush). */
  setBusyTimeout?(ms: number): void;
  /** close ends the connection (SQLite: at once; PostgreSQL: the pool's sockets). */
  close(): Promise<void>;
}
