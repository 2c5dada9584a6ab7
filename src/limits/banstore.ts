/**
 * banstore.ts: a face's BanList wired to the store and the logs (issue 14, item 6).
 *
 * Each new ban is written to the store (table `bans`) so that a restart does not lift it; at
 * start the face's live bans are read back (expired ones are deleted, never loaded). A ban the
 * administrator lifts (`provisiond bans lift`, over the control socket) is removed from the
 * store, written to the security event log as an `unban` line and logged at warn. A reload that
 * changes http.bans builds a new BanList and carries the live bans over. The store is written
 * by the daemon's connection, which never waits for a lock: a write that finds the store busy
 * or failing is counted and logged once per episode, and the ban still holds in memory.
 *
 * On a shared store (PostgreSQL, issue 16 item 3) each node reads the rows back at most once a
 * second: a ban another node made holds here too, and a ban whose row another node deleted
 * (`provisiond bans lift` there) is dropped here too (`bans-lifted-elsewhere`, an `unban` line
 * with reason=lifted-elsewhere). Only a row this node has seen in the store (read, or written
 * with success, before the read began) counts as deleted when missing: a ban whose write has
 * not succeeded (a store that was down) is kept and written again. A request a ban refuses
 * waits for a read that is due (at most SHARED_BAN_WAIT_MS), so the first request after a lift
 * elsewhere is served once a second has passed since the last read.
 */
import { BanList, type BanRecord } from './bans';
import type { BansConfig } from './config';
import { unbanLine, type EventSink } from './events';
import type { BanRepository } from '../store/repository';
import { parseCidr, type Cidr } from '../net/ipv4';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

/** FaceBans is what a face that bans exposes to the control socket. */
export interface FaceBans {
  /** list is the face's live bans. */
  list(): BanRecord[];
  /** lift ends the bans `match` selects (at once; stored, logged); it returns them. */
  lift(match: (ban: BanRecord) => boolean): BanRecord[];
}

/** BanWiring is what makeBanList needs besides the configuration. */
export interface BanWiring {
  readonly face: string;
  readonly log: Logger;
  readonly repo: BanRepository | undefined;
  /** events is the face's current security event log (it may change at a reload). */
  readonly events: () => EventSink | undefined;
  /** count increments one of the face's counters. */
  readonly count: (name: string) => void;
  /**
   * shared: the store is shared with other nodes (PostgreSQL): their bans are read back at most
   * every SHARED_BAN_REFRESH_MS, in the background of a check, so a ban one node makes holds on
   * every node within about a second, and a ban lifted on one node ends on every node as soon.
   */
  readonly shared?: boolean;
  /** previous is the list a reload replaces: its live bans carry over (else they are read from the store). */
  readonly previous?: BanList | undefined;
  readonly now?: () => number;
}

/** SHARED_BAN_REFRESH_MS: how often a node reads the bans other nodes wrote to a shared store (at most). */
export const SHARED_BAN_REFRESH_MS = 1000;

/** SHARED_BAN_WAIT_MS bounds how long a request refused by a ban waits for a due read of the shared rows. */
export const SHARED_BAN_WAIT_MS = 250;

/** SHARED_BAN_REWRITES: at most this many bans whose write failed are written again per read. */
const SHARED_BAN_REWRITES = 64;

/**
 * ShareState is what a node knows of its live bans' rows in a shared store: `confirmed`, the
 * sequence number at which each row was last seen in a read or written (a later read that
 * misses it means another node deleted it); `pending`, bans whose write is under way. A ban in
 * neither was never written (the store failed): it is never dropped for missing, but written
 * again. The sequence orders reads and writes (a read begun before a write succeeded proves
 * nothing about that row).
 */
interface ShareState {
  seq: number;
  readonly confirmed: Map<string, number>;
  readonly pending: Map<string, BanRecord>;
  /** lifted: bans this node's administrator lifted: the sequence at which their row's removal ended (Infinity while under way); a read begun before must not bring them back. */
  readonly lifted: Map<string, number>;
}

function newShareState(): ShareState {
  return { seq: 0, confirmed: new Map(), pending: new Map(), lifted: new Map() };
}

/** shares keeps each shared BanList's state, so that a reload's new list carries it over. */
const shares = new WeakMap<BanList, ShareState>();

/** carried is the state of the list a reload replaces (its bans carry over with what is known of their rows). */
function carried(previous: BanList): ShareState {
  const s = shares.get(previous);
  return s === undefined ? newShareState() : { seq: s.seq, confirmed: new Map(s.confirmed), pending: new Map(s.pending), lifted: new Map(s.lifted) };
}

/** banId is a ban's key: one row per (face, scope, subject). */
function banId(ban: Pick<BanRecord, 'scope' | 'subject'>): string {
  return `${ban.scope}:${ban.subject}`;
}

/** makeBanList builds a face's BanList for a configuration, persistent through `repo`. */
export async function makeBanList(b: BansConfig, w: BanWiring): Promise<BanList> {
  const trusted: Cidr[] = b.trustedNetworks.flatMap((c) => {
    const r = parseCidr(c);
    return r.ok ? [r.value] : [];
  });
  let failing = false;
  const store = (what: string, f: () => Promise<unknown> | undefined): void => {
    if (!w.repo) return;
    const failed = (err: unknown): void => {
      w.count(`bans-store-errors`);
      if (!failing) w.log.warn({ code: 'PROVD_ERR_STORE', err: errorMessage(err), what }, 'a ban could not be written to the store: it holds until the next restart only');
      failing = true;
    };
    try {
      void Promise.resolve(f()).then(() => {
        if (failing) w.log.info({ face: w.face }, 'bans are written to the store again');
        failing = false;
      }, failed);
    } catch (err) {
      failed(err);
    }
  };
  // On a shared store, what this node knows of each live ban's row (see ShareState). Not kept
  // on a store of this node's own: nothing else removes its rows.
  const share: ShareState | undefined = w.shared === true && w.repo ? (w.previous ? carried(w.previous) : newShareState()) : undefined;
  let refreshedAt = -Infinity;
  let inFlight: Promise<void> | undefined;
  const refresh = (): Promise<void> | undefined => {
    const repo = w.repo;
    if (inFlight) return inFlight;
    const t = w.now?.() ?? Date.now();
    if (!repo || !share || t - refreshedAt < SHARED_BAN_REFRESH_MS) return undefined;
    refreshedAt = t;
    const readSeq = ++share.seq;
    const read = repo.list(w.face, t).then(
      (kept) => reconcile(list, share, kept, readSeq),
      () => w.count('bans-store-errors'),
    );
    // A banned request waits for the read (the admission awaits it), never longer than this.
    let timer: NodeJS.Timeout | undefined;
    const bounded = Promise.race([read, new Promise<void>((resolve) => (timer = setTimeout(resolve, SHARED_BAN_WAIT_MS)))]).finally(() => clearTimeout(timer));
    inFlight = bounded;
    void read.finally(() => (inFlight = undefined));
    return bounded;
  };
  /**
   * reconcile applies one read of the shared rows: a live ban whose row was seen (or written)
   * before this read began and is now missing was lifted on another node: it is dropped here
   * too. A ban whose own write has not succeeded (pending, or failed: a store that was down) is
   * kept, and written again when missing (a few per read). The rows read are restored.
   */
  const reconcile = (l: BanList, s: ShareState, rows: readonly BanRecord[], readSeq: number): void => {
    // A row this node lifted after the read began is on its way out: not brought back.
    const kept = rows.filter((ban) => (s.lifted.get(banId(ban)) ?? -1) < readSeq);
    for (const [id, at] of s.lifted) if (at < readSeq) s.lifted.delete(id);
    const present = new Set(kept.map(banId));
    const gone: BanRecord[] = [];
    let rewrites = 0;
    for (const ban of l.list()) {
      const id = banId(ban);
      if (present.has(id)) continue;
      const seen = s.confirmed.get(id);
      if (seen !== undefined && seen < readSeq) gone.push(ban);
      else if (seen === undefined && !s.pending.has(id) && rewrites < SHARED_BAN_REWRITES) {
        rewrites++;
        put(ban);
      }
    }
    if (gone.length > 0) {
      const dropped = l.forget(gone);
      const at = new Date(w.now?.() ?? Date.now());
      for (const ban of dropped) {
        s.confirmed.delete(banId(ban));
        w.events()?.write(unbanLine(at, ban.scope, ban.subject, 'lifted-elsewhere'));
        w.count('bans-lifted-elsewhere');
        w.log.info({ scope: ban.scope, subject: ban.subject, until: new Date(ban.until).toISOString() }, 'ban lifted on another node (its row left the shared store)');
      }
    }
    l.restore(kept);
    for (const id of present) s.confirmed.set(id, readSeq);
    // Bounded: forget what no live ban needs any more.
    const live = new Set(l.list().map(banId));
    for (const id of s.confirmed.keys()) if (!live.has(id)) s.confirmed.delete(id);
    for (const id of s.pending.keys()) if (!live.has(id)) s.pending.delete(id);
  };
  /** put writes a ban's row; on a shared store its success marks the row as seen (reconcile). */
  const put = (ban: BanRecord): void => {
    const id = banId(ban);
    if (share) {
      share.confirmed.delete(id);
      share.pending.set(id, ban);
    }
    store('ban', () =>
      w.repo?.put({ face: w.face, ...ban }).then(
        () => {
          if (share && share.pending.get(id) === ban) {
            share.pending.delete(id);
            share.confirmed.set(id, ++share.seq);
          }
        },
        (err: unknown) => {
          if (share && share.pending.get(id) === ban) share.pending.delete(id);
          throw err;
        },
      ),
    );
  };
  const list = new BanList({
    ...(share ? { refresh } : {}),
    maxRetry: b.maxRetry,
    findTime: b.findTime,
    banTime: b.banTime,
    trusted,
    ...(w.now ? { now: w.now } : {}),
    onBan: (ban) => put(ban),
    onLift: (ban) => {
      if (share) {
        share.confirmed.delete(banId(ban));
        share.pending.delete(banId(ban));
        // Until the row's removal has ended, no read may bring the ban back; after, only reads begun before.
        share.lifted.set(banId(ban), Infinity);
      }
      const ended = (): void => {
        if (share) share.lifted.set(banId(ban), ++share.seq);
      };
      store('unban', () =>
        w.repo?.remove(w.face, ban.scope, ban.subject).then(ended, (err: unknown) => {
          ended();
          throw err;
        }),
      );
      const at = new Date(w.now?.() ?? Date.now());
      w.events()?.write(unbanLine(at, ban.scope, ban.subject, 'lifted'));
      w.count('bans-lifted');
      w.log.warn({ scope: ban.scope, subject: ban.subject, since: new Date(ban.since).toISOString(), until: new Date(ban.until).toISOString() }, 'ban lifted by the administrator');
    },
  });
  if (share) shares.set(list, share);
  if (w.previous) {
    list.restore(w.previous.list());
  } else if (w.repo) {
    try {
      const readSeq = share ? ++share.seq : 0;
      const kept = await w.repo.list(w.face, w.now?.() ?? Date.now());
      const n = list.restore(kept);
      if (share) for (const ban of kept) share.confirmed.set(banId(ban), readSeq);
      if (n > 0) w.log.info({ face: w.face, bans: n }, 'bans restored from the store');
    } catch (err) {
      w.count('bans-store-errors');
      w.log.warn({ code: 'PROVD_ERR_STORE', err: errorMessage(err) }, 'the stored bans could not be read: starting without them');
    }
  }
  return list;
}
