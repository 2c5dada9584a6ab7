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
   * every node within about a second.
   */
  readonly shared?: boolean;
  /** previous is the list a reload replaces: its live bans carry over (else they are read from the store). */
  readonly previous?: BanList | undefined;
  readonly now?: () => number;
}

/** SHARED_BAN_REFRESH_MS: how often a node reads the bans other nodes wrote to a shared store (at most). */
export const SHARED_BAN_REFRESH_MS = 1000;

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
  let refreshedAt = -Infinity;
  let refreshing = false;
  const refresh = (): void => {
    const repo = w.repo;
    const t = w.now?.() ?? Date.now();
    if (!repo || refreshing || t - refreshedAt < SHARED_BAN_REFRESH_MS) return;
    refreshedAt = t;
    refreshing = true;
    void repo
      .list(w.face, t)
      .then(
        (kept) => {
          list.restore(kept);
        },
        () => w.count('bans-store-errors'),
      )
      .finally(() => (refreshing = false));
  };
  const list = new BanList({
    ...(w.shared === true ? { refresh } : {}),
    maxRetry: b.maxRetry,
    findTime: b.findTime,
    banTime: b.banTime,
    trusted,
    ...(w.now ? { now: w.now } : {}),
    onBan: (ban) => store('ban', () => w.repo?.put({ face: w.face, ...ban })),
    onLift: (ban) => {
      store('unban', () => w.repo?.remove(w.face, ban.scope, ban.subject));
      const at = new Date(w.now?.() ?? Date.now());
      w.events()?.write(unbanLine(at, ban.scope, ban.subject, 'lifted'));
      w.count('bans-lifted');
      w.log.warn({ scope: ban.scope, subject: ban.subject, since: new Date(ban.since).toISOString(), until: new Date(ban.until).toISOString() }, 'ban lifted by the administrator');
    },
  });
  if (w.previous) {
    list.restore(w.previous.list());
  } else if (w.repo) {
    try {
      const kept = await w.repo.list(w.face, w.now?.() ?? Date.now());
      const n = list.restore(kept);
      if (n > 0) w.log.info({ face: w.face, bans: n }, 'bans restored from the store');
    } catch (err) {
      w.count('bans-store-errors');
      w.log.warn({ code: 'PROVD_ERR_STORE', err: errorMessage(err) }, 'the stored bans could not be read: starting without them');
    }
  }
  return list;
}
