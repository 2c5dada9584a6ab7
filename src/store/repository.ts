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

/** UserRepository holds the store's users. */
export interface UserRepository {
  get(domain: string, name: string): StoredUser | undefined;
  list(domain?: string): StoredUser[];
  /** add inserts a user; false when it already exists. */
  add(user: { domain: string; name: string; passwordHash: string; attributes?: Readonly<Record<string, string>> }): boolean;
  /** setPassword replaces a hash; false when there is no such user. */
  setPassword(domain: string, name: string, passwordHash: string): boolean;
  /** upsert inserts or replaces a user (imports). */
  upsert(user: { domain: string; name: string; passwordHash: string; attributes?: Readonly<Record<string, string>> }): void;
  remove(domain: string, name: string): boolean;
}

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

/** DeviceRepository is the device inventory. */
export interface DeviceRepository {
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
  /** pruneUnprovisioned deletes devices first seen before `before` that never got a 200; it returns how many. */
  pruneUnprovisioned(before: string): number;
}

/** StoredKey is the hash of a provisioning key (src/identity/keys.ts). */
export interface StoredKey {
  readonly tenant: string;
  /** hash is the hex SHA-256 of the key; the key itself is never stored. */
  readonly hash: string;
  readonly createdAt: string;
  /** expiresAt is null for a tenant's current key, the end of the grace period for the previous one. */
  readonly expiresAt: string | null;
}

/** KeyRepository holds provisioning key hashes: per tenant, the current key and at most one previous. */
export interface KeyRepository {
  list(): StoredKey[];
  /**
   * rotate makes `hash` the tenant's current key; the current one stays valid until `graceUntil`,
   * and any older one is dropped (one transaction).
   */
  rotate(tenant: string, hash: string, at: string, graceUntil: string): void;
}

/** Store is an opened store. */
export interface Store {
  readonly users: UserRepository;
  readonly devices: DeviceRepository;
  readonly keys: KeyRepository;
  /** schemaVersion is the migration level of the opened database. */
  readonly schemaVersion: number;
  readonly location: string;
  /** setBusyTimeout changes how long a statement waits for another process's lock (shutdown flush). */
  setBusyTimeout?(ms: number): void;
  close(): void;
}
