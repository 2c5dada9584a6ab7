/**
 * phonemirror.ts: SIP desk phones on a shared store (PostgreSQL, issue 16 item 3), as a
 * kept-in-memory view. The phone room reads PhoneRepository synchronously while it renders; the
 * view is an in-memory SQLite database with migration 7's tables and phones.ts's repository on
 * it, so every check and refusal is the same code as on the embedded store.
 *
 * - Reads are answered from the view.
 * - A write is applied to the view at once (same checks, same answer), and the rows it touched
 *   are written through to the shared store right after (state-based: each touched row's current
 *   value is upserted, or deleted when it is gone; coalesced per row, so the queue is bounded by
 *   the rows). A write the store fails is kept and retried every second, counted. A sighting
 *   (`observe`, `observeMany`: every phone request) writes only the sighting columns, so it
 *   never undoes an administrator's change made on another node meanwhile.
 * - Every PHONE_REFRESH_MS the view re-reads the shared tables (other nodes' writes): a row this
 *   node is writing, or wrote after the read began, is left as it is (the read proves nothing about
 *   it); any other row takes the store's value, and rows gone from the store are dropped. The
 *   store is the authority: two nodes adding one MAC at once end with the last write's row.
 */
import Database, { type Db } from './driver';
import { MIGRATIONS } from './migrations';
import { createPhoneRepository } from './phones';
import { toUser, type UserRow } from './rows';
import type { PhoneRepository, StoredKey, StoredUser, SyncKeyRepository, SyncUserRepository } from './repository';

/** RawRow is one row of a phone table as stored (every column TEXT or NULL). */
export type RawRow = Readonly<Record<string, string | null>>;

/** PhoneTable names the two phone tables. */
export type PhoneTable = 'phone_configs' | 'phone_devices';

/** PhoneRead is what one read of the shared store returns. */
export interface PhoneRead {
  configs: RawRow[];
  devices: RawRow[];
  keys: StoredKey[];
  users: UserRow[];
  /**
   * versions: every config, device and named user the store holds (ckey, dkey, ukey) with its
   * row version; the rows above are only those whose version is not the one `known` gave, and a
   * listed row not returned is unchanged.
   */
  versions: ReadonlyMap<string, string>;
}

/** PhoneTables is what the view needs of the shared store. */
export interface PhoneTables {
  /**
   * read returns the rows of both tables, the provisioning keys, and the store users the phones
   * name (a line's user is looked up in the phone's tenant), with every row's version: all the
   * rows, or, with `known` (row key → the version the view holds), the changed ones.
   */
  read(known?: ReadonlyMap<string, string>): Promise<PhoneRead>;
  /** write upserts `puts`, deletes `dels` (by primary key) and sets the sighting columns of `seen` (phone_devices rows) in one transaction. */
  write(puts: readonly { table: PhoneTable; row: RawRow }[], dels: readonly { table: PhoneTable; key: RawRow }[], seen: readonly RawRow[]): Promise<void>;
}

/** CONFIG_COLUMNS / DEVICE_COLUMNS are the tables' columns (migration 7). */
export const CONFIG_COLUMNS = ['tenant', 'id', 'parents', 'raw_config', 'role', 'updated_at'] as const;
/** SIGHTING_COLUMNS are what a phone's request changes (PhoneRepository.observe); ADMIN_COLUMNS the rest. */
export const SIGHTING_COLUMNS = ['ip', 'model', 'version', 'first_seen', 'last_seen', 'previous_version', 'version_changed_at'] as const;
const ADMIN_COLUMNS = ['tenant', 'profile', 'serial', 'config', 'users', 'options', 'added_at', 'assigned_at', 'reset_at', 'created_by'] as const;
export const DEVICE_COLUMNS = ['mac', 'tenant', 'profile', 'model', 'version', 'serial', 'ip', 'config', 'users', 'options', 'added_at', 'assigned_at', 'reset_at', 'first_seen', 'last_seen', 'previous_version', 'version_changed_at', 'created_by'] as const;

/** PHONE_REFRESH_MS: how often the view re-reads the shared phone tables. */
export const PHONE_REFRESH_MS = 2000;
/** RETRY_MS: how soon a failed write-through is tried again. */
const RETRY_MS = 1000;

/** PhoneMirrorStats are the view's counters. */
export interface PhoneMirrorStats {
  writeErrors: number;
  refreshErrors: number;
  refreshes: number;
}

/** WriteKind: a whole row, or a phone's sighting columns only. */
type WriteKind = 'row' | 'seen';
/** Keep: what a read leaves of a row: all of it, its sighting columns, or nothing. */
type Keep = 'all' | 'sightings' | 'none';

/** ckey, dkey and ukey are the view's row keys: a config, a device, a named store user. */
export const ckey = (tenant: string, id: string): string => `c\u0000${tenant}\u0000${id}`;
export const dkey = (mac: string): string => `d\u0000${mac}`;
export const ukey = (domain: string, name: string): string => `u\u0000${domain}\u0000${name}`;
/** LOCAL marks a row of the view that this node changed: no store row's version equals it. */
const LOCAL = '\u0002local';

/** PhoneMirror is the kept-in-memory view; `repo` is what the store hands out as `phones`. */
export class PhoneMirror {
  readonly repo: PhoneRepository;
  /**
   * sync is what the phone room reads synchronously besides the phones (Store.sync): the
   * provisioning keys, and the store users the phones name, as of the last read (a user a phone
   * names for the first time is known from the next read, within PHONE_REFRESH_MS).
   */
  readonly sync: { readonly users: Pick<SyncUserRepository, 'get'>; readonly keys: Pick<SyncKeyRepository, 'list'> };
  private keys: StoredKey[] = [];
  private readonly users = new Map<string, StoredUser>();
  readonly stats: PhoneMirrorStats = { writeErrors: 0, refreshErrors: 0, refreshes: 0 };
  private readonly mem: Db;
  /** applied: per row of the view (ckey, dkey, ukey), the version of the store's copy last written into it, or LOCAL. */
  private readonly applied = new Map<string, string>();
  private readonly inner: PhoneRepository;
  /** pending: rows to write through (`row`: the whole row; `seen`: its sighting columns); inFlight: those of the write under way. */
  private pending = new Map<string, WriteKind>();
  private inFlight = new Map<string, WriteKind>();
  /** written: the sequence at which each row's last write of each kind ended (a read begun before must leave it). */
  private readonly written = new Map<string, { row: number; seen: number }>();
  private seq = 0;
  private flushing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  private readonly rowOf: (key: string) => { table: PhoneTable; row: RawRow | undefined; pk: RawRow };
  private readonly apply: (r: PhoneRead, keep: (key: string) => Keep) => void;

  private constructor(private readonly tables: PhoneTables) {
    this.mem = new Database(':memory:');
    const step = MIGRATIONS.find((m) => m.version === 7);
    if (!step) throw new Error('migration 7 (phone tables) is missing');
    this.mem.exec(step.sql);
    this.inner = createPhoneRepository(this.mem, (_what, f) => f());
    const getC = this.mem.prepare<[string, string], RawRow>('SELECT * FROM phone_configs WHERE tenant = ? AND id = ?');
    const getD = this.mem.prepare<[string], RawRow>('SELECT * FROM phone_devices WHERE mac = ?');
    this.rowOf = (key): { table: PhoneTable; row: RawRow | undefined; pk: RawRow } => {
      const [kind, a = '', b = ''] = key.split('\u0000');
      if (kind === 'c') return { table: 'phone_configs', row: getC.get(a, b), pk: { tenant: a, id: b } };
      return { table: 'phone_devices', row: getD.get(a), pk: { mac: a } };
    };
    const putC = this.mem.prepare(`INSERT OR REPLACE INTO phone_configs (${CONFIG_COLUMNS.join(', ')}) VALUES (${CONFIG_COLUMNS.map((c) => `@${c}`).join(', ')})`);
    const putD = this.mem.prepare(`INSERT OR REPLACE INTO phone_devices (${DEVICE_COLUMNS.join(', ')}) VALUES (${DEVICE_COLUMNS.map((c) => `@${c}`).join(', ')})`);
    const delC = this.mem.prepare('DELETE FROM phone_configs WHERE tenant = ? AND id = ?');
    const delD = this.mem.prepare('DELETE FROM phone_devices WHERE mac = ?');
    const pick = (row: RawRow, cols: readonly string[]): Record<string, string | null> => Object.fromEntries(cols.map((c) => [c, row[c] ?? null]));
    const adminD = this.mem.prepare(`UPDATE phone_devices SET ${ADMIN_COLUMNS.map((c) => `${c} = @${c}`).join(', ')} WHERE mac = @mac`);
    // A row is written into the view only when the store's copy differs from the one last applied
    // (`applied`: its version), and the store sends only the changed ones. Before, a refresh of 10 000 unchanged phones
    // rewrote them all: 110-250 ms of the event loop every 2 s.
    const applied = this.applied;
    this.apply = this.mem.transaction((read: PhoneRead, keep: (key: string) => Keep) => {
      const { configs, devices, versions } = read;
      const seen = new Set<string>();
      // take writes the store's copy of row `k` into the view unless the view holds that version already.
      const take = (k: string, put: typeof putC, r: RawRow, cols: readonly string[]): void => {
        const version = versions.get(k) ?? LOCAL;
        if (applied.get(k) === version) return;
        put.run(pick(r, cols));
        applied.set(k, version);
      };
      for (const r of configs) {
        const k = ckey(r['tenant'] ?? '', r['id'] ?? '');
        seen.add(k);
        if (keep(k) === 'none') take(k, putC, r, CONFIG_COLUMNS);
      }
      for (const r of devices) {
        const k = dkey(r['mac'] ?? '');
        seen.add(k);
        const kept = keep(k);
        if (kept === 'none') take(k, putD, r, DEVICE_COLUMNS);
        else if (kept === 'sightings') {
          // This node's sighting is on its way: the store's other columns still apply.
          if (adminD.run(pick(r, ['mac', ...ADMIN_COLUMNS])).changes === 0) putD.run(pick(r, DEVICE_COLUMNS));
          applied.set(k, LOCAL);
        }
      }
      // Every row of the view is in `applied` (loaded, or marked LOCAL by a write of this node):
      // those the store no longer has leave, unless this node's own write of them is on its way.
      // A versioned read lists the unchanged rows it did not send.
      for (const k of applied.keys()) {
        if (seen.has(k) || versions.has(k)) continue;
        const [kind, a = '', b = ''] = k.split('\u0000');
        if (kind === 'c' && keep(k) === 'none') delC.run(a, b);
        else if (kind === 'd' && keep(k) !== 'all') delD.run(a);
        else continue;
        applied.delete(k);
      }
    });
    this.sync = {
      users: { get: (domain, name) => this.users.get(ukey(domain, name.toLowerCase())) },
      keys: { list: () => [...this.keys] },
    };
    const profileMacs = this.mem.prepare<[string], { mac: string }>('SELECT mac FROM phone_devices WHERE profile = ?');
    const inner = this.inner;
    const touch = (...keys: string[]): void => this.touch(keys, 'row');
    this.repo = {
      getConfig: (t, id) => inner.getConfig(t, id),
      listConfigs: (t) => inner.listConfigs(t),
      get: (mac) => inner.get(mac),
      getBySerial: (s) => inner.getBySerial(s),
      getByIp: (t, ip) => inner.getByIp(t, ip),
      list: (f) => inner.list(f),
      count: (f) => inner.count(f),
      putConfig: (c, at) => {
        const out = inner.putConfig(c, at);
        touch(ckey(out.tenant, out.id));
        return out;
      },
      deleteConfig: (t, id) => {
        const gone = inner.deleteConfig(t, id);
        if (gone) touch(ckey(t, id));
        return gone;
      },
      add: (d, at) => {
        const out = inner.add(d, at);
        touch(dkey(out.mac));
        return out;
      },
      update: (mac, patch, at) => {
        const out = inner.update(mac, patch, at);
        if (out) touch(dkey(out.mac));
        return out;
      },
      delete: (mac) => {
        const before = inner.get(mac);
        const gone = inner.delete(mac);
        if (gone && before) touch(dkey(before.mac));
        return gone;
      },
      setProfile: (from, to, tenant) => {
        const n = inner.setProfile(from, to, tenant);
        if (n > 0) touch(...profileMacs.all(to).map((r) => dkey(r.mac)));
        return n;
      },
      observe: (mac, seen, at) => {
        const out = inner.observe(mac, seen, at);
        if (out) this.touch([dkey(out.device.mac)], 'seen');
        return out;
      },
      observeMany: (batch) => {
        const n = inner.observeMany(batch);
        if (n > 0) this.touch(batch.flatMap((s) => inner.get(s.mac)?.mac ?? []).map(dkey), 'seen');
        return n;
      },
    };
  }

  /** open loads the view from the shared store and starts its refresh. */
  static async open(tables: PhoneTables): Promise<PhoneMirror> {
    const m = new PhoneMirror(tables);
    try {
      const r = await tables.read();
      m.apply(r, () => 'none');
      m.setDirectory(r);
    } catch (err) {
      m.mem.close();
      throw err;
    }
    m.timer = setInterval(() => void m.refresh(), PHONE_REFRESH_MS);
    m.timer.unref();
    return m;
  }

  private touch(keys: readonly string[], kind: WriteKind): void {
    for (const k of keys) {
      if (this.pending.get(k) !== 'row') this.pending.set(k, kind);
      // The view's row is this node's now: the next refresh that may apply the store's copy does.
      this.applied.set(k, LOCAL);
    }
    void this.flush();
  }

  /** flush writes the pending rows through (one write at a time); it settles when none is left or a write failed. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0 || this.closed) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    this.inFlight = batch;
    const puts: { table: PhoneTable; row: RawRow }[] = [];
    const dels: { table: PhoneTable; key: RawRow }[] = [];
    const seen: RawRow[] = [];
    for (const [k, kind] of batch) {
      const r = this.rowOf(k);
      if (kind === 'seen') {
        if (r.row) seen.push(r.row);
      } else if (r.row) puts.push({ table: r.table, row: r.row });
      else dels.push({ table: r.table, key: r.pk });
    }
    this.flushing = this.tables.write(puts, dels, seen).then(
      () => {
        const at = ++this.seq;
        for (const [k, kind] of batch) {
          const w = this.written.get(k) ?? { row: -1, seen: -1 };
          w[kind] = at;
          this.written.set(k, w);
        }
        this.inFlight = new Map();
        this.flushing = undefined;
        return this.flush();
      },
      () => {
        this.stats.writeErrors++;
        for (const [k, kind] of batch) if (this.pending.get(k) !== 'row') this.pending.set(k, kind);
        this.inFlight = new Map();
        this.flushing = undefined;
        if (!this.closed && this.retry === undefined) {
          this.retry = setTimeout(() => {
            this.retry = undefined;
            void this.flush();
          }, RETRY_MS);
          this.retry.unref();
        }
      },
    );
    return this.flushing;
  }

  /** refresh re-reads the shared tables (one read at a time). */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const readSeq = ++this.seq;
    this.refreshing = this.tables.read(this.applied).then(
      (read) => {
        if (this.closed) return;
        const keep = (k: string): Keep => {
          const w = this.written.get(k);
          if (this.pending.get(k) === 'row' || this.inFlight.get(k) === 'row' || (w?.row ?? -1) >= readSeq) return 'all';
          if (this.pending.has(k) || this.inFlight.has(k) || (w?.seen ?? -1) >= readSeq) return 'sightings';
          return 'none';
        };
        this.apply(read, keep);
        this.setDirectory(read);
        this.stats.refreshes++;
        for (const [k, w] of this.written) if (w.row < readSeq && w.seen < readSeq) this.written.delete(k);
      },
      () => {
        this.stats.refreshErrors++;
      },
    );
    void this.refreshing.finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** setDirectory takes the read's keys and named users (the changed ones; `versions` lists them all). */
  private setDirectory(read: PhoneRead): void {
    this.keys = read.keys;
    for (const u of read.users) {
      const k = ukey(u.domain, u.name);
      this.users.set(k, toUser(u));
      this.applied.set(k, read.versions.get(k) ?? LOCAL);
    }
    for (const k of this.users.keys()) {
      if (read.versions.has(k)) continue;
      this.users.delete(k);
      this.applied.delete(k);
    }
  }

  /** close stops the refresh, tries the pending writes once more, and drops the view. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.retry = undefined;
    await this.flushing;
    await this.flush();
    this.closed = true;
    clearTimeout(this.retry);
    await this.refreshing;
    this.mem.close();
  }
}
