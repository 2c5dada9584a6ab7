/**
 * server.ts: the mDNS face. It plans the advertisement (plan.ts), publishes it through the
 * advertiser (advertiser.ts, ciao), and watches the links for responders that claim the same
 * names (watcher.ts, conflict.ts).
 *
 * Lifecycle: start() plans, binds the watcher and starts probing (it does not wait for the
 * ~1 s of probing); reload() and the address refresh re-plan and re-announce what changed;
 * close() sends goodbyes (TTL 0) and releases the sockets.
 *
 * Conflicts (RFC 6762 §9): the name is never changed. A conflict is logged at error level with
 * the other responder's address (PROVD_ERR_MDNS_CONFLICT), counted, and the exact name is
 * probed again later, with backoff, until it is free. A claim heard after the announcement
 * (which the advertiser library does not look for) is logged the same way once per episode and
 * counted; the announced records stay.
 *
 * Standby (several nodes on one link, identical URLs): before probing, the face asks the link
 * for our instance's SRV and TXT (one multicast query, LOOK_MS). A node that answers with our
 * service (the same TXT, an SRV with our port; its host name may differ) is the active node:
 * this one stands by, logged once at info, without probing or renaming. It keeps the active
 * node's records fresh as a cache would (queries at 80, 85, 90 and 95 % of their TTL, RFC 6762
 * §5.2) and takes over (probes, announces) when they go: a goodbye, or the TTL running out
 * without an answer. Different records under our name stay a conflict.
 */
import { hostname as osHostname } from 'node:os';
import { listHostInterfaces, type InterfaceLister } from '../net/interfaces';
import { formatIPv4 } from '../net/ipv4';
import { ProvError, errorMessage } from '../errors';
import { planAdvertisement, clientUrlOn, sameAdvertisement, groupingKey, type Advertisement, type MdnsFaceConfig } from './plan';
import { ciaoAdvertiser, type Advertiser, type AdvertiserFactory, type Publication } from './advertiser';
import { Watcher, MDNS_PORT } from './watcher';
import { redactKeys, urlKeysOf } from '../urls/plan';
import { observe, isConflict, activeNodeIn, instanceFqdn, hostFqdn, type Observation } from './conflict';
import { RType, type DnsMessage } from './wire';
import { Episode } from '../episode';
import type { Face, FaceHealth } from '../face';
import type { Logger } from '../log';

/** REFRESH_MS is how often interface addresses are re-read (the DHCP face uses the same period). */
const REFRESH_MS = 10_000;
/** RETRY_MS / RETRY_MAX_MS: after a conflict, probe the exact name again after 5 s, doubling up to 60 s. */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 60_000;
/** RECENT_MS is how long an observation, or a replaced advertisement, still counts. */
const RECENT_MS = 10_000;

/** LOOK_MS is how long the face listens for an active node's answer before probing (its query's answers are immediate: unique records). */
const LOOK_MS = 500;
/** STANDBY_TICK_MS is how often a standby checks the active node's records for refresh or expiry. */
const STANDBY_TICK_MS = 1000;
/** REFRESH_AT are the fractions of the TTL at which a standby queries the active node's records (RFC 6762 §5.2). */
const REFRESH_AT = [0.8, 0.85, 0.9, 0.95] as const;

/** TAKEOVER_JITTER_MS is the longest random delay before a standby takes over after a goodbye. */
const TAKEOVER_JITTER_MS = 2000;

/** CLAIM_QUIET_MS ends an episode of claims of our name after announcement (one error line per episode). */
const CLAIM_QUIET_MS = 60_000;

/** MdnsState is what the face is doing, for stats and tests. */
export type MdnsState = 'idle' | 'probing' | 'announced' | 'conflict' | 'standby' | 'closed';

/** Standby is the active node a standby follows: its address, and when its records were last seen live. */
interface Standby {
  from: string;
  seenAt: number;
  ttlMs: number;
  /** queried: how many of REFRESH_AT's queries went out since seenAt. */
  queried: number;
}

/** MdnsFaceOptions are the face's dependencies (injectable for tests). */
export interface MdnsFaceOptions {
  readonly config: MdnsFaceConfig;
  readonly log: Logger;
  readonly listInterfaces?: InterfaceLister;
  readonly systemHostname?: () => string;
  readonly advertiser?: AdvertiserFactory;
  /** watcherPort is the port the passive watcher binds (5353; tests may use another). */
  readonly watcherPort?: number;
  /** retryMs overrides the first conflict retry delay (tests). */
  readonly retryMs?: number;
  /** lookMs overrides how long the face listens for an active node before probing (tests; 0 = not at all). */
  readonly lookMs?: number;
  /** now is the clock of the standby's TTL bookkeeping (tests). */
  readonly now?: () => number;
  /** takeoverJitterMs overrides the longest random delay before a standby takes over after a goodbye (tests). */
  readonly takeoverJitterMs?: number;
}

/** MdnsFace advertises "Provisioning URL" for Bonjour clients. */
export class MdnsFace implements Face<MdnsFaceConfig> {
  readonly name = 'mdns';
  private readonly log: Logger;
  private readonly listInterfaces: InterfaceLister;
  private readonly systemHostname: () => string;
  private readonly factory: AdvertiserFactory;
  private readonly retryMs: number;
  private readonly lookMs: number;
  private readonly now: () => number;
  private standby: Standby | undefined;
  private standbyTimer: NodeJS.Timeout | undefined;
  /** dropping is the end of the publication and advertiser dropped on entering standby. */
  private dropping: Promise<unknown> = Promise.resolve();
  private readonly takeoverJitterMs: number;
  private config: MdnsFaceConfig;
  private ad: Advertisement | undefined;
  /** previous holds replaced advertisements for RECENT_MS, so our own late packets are not conflicts. */
  private previous: { ad: Advertisement; until: number }[] = [];
  private advertiser: Advertiser | undefined;
  private advertiserKey = '';
  private pub: Publication | undefined;
  private generation = 0;
  private watcher: Watcher | undefined;
  private recent: (Observation & { at: number })[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private current: MdnsState = 'idle';
  private closing: Promise<void> | undefined;
  private applying: Promise<void> = Promise.resolve();
  private readonly counters = new Map<string, number>();
  /** claims: responses claiming our name after announcement; an episode ends after CLAIM_QUIET_MS without one. */
  private readonly claims = new Episode(CLAIM_QUIET_MS);

  constructor(private readonly opts: MdnsFaceOptions) {
    this.log = opts.log;
    this.config = opts.config;
    this.listInterfaces = opts.listInterfaces ?? listHostInterfaces;
    this.systemHostname = opts.systemHostname ?? osHostname;
    this.factory = opts.advertiser ?? ciaoAdvertiser;
    this.retryMs = opts.retryMs ?? RETRY_MS;
    this.lookMs = opts.lookMs ?? LOOK_MS;
    this.now = opts.now ?? Date.now;
    this.takeoverJitterMs = opts.takeoverJitterMs ?? TAKEOVER_JITTER_MS;
  }

  /** state is what the face is doing now. */
  get state(): MdnsState {
    return this.current;
  }

  /** advertisement is what is (being) advertised. */
  get advertisement(): Advertisement | undefined {
    return this.ad;
  }

  async start(): Promise<void> {
    const ad = this.plan(this.config);
    const watcher = new Watcher(
      (from, msg) => this.onResponse(from, msg),
      (message) => this.log.debug({ err: message }, 'mDNS watcher socket problem'),
      this.opts.watcherPort ?? MDNS_PORT,
    );
    try {
      await watcher.open();
    } catch (err) {
      throw new ProvError('PROVD_ERR_MDNS_BIND', `cannot bind the mDNS port ${this.opts.watcherPort ?? MDNS_PORT}/udp: ${errorMessage(err)}`, { cause: err });
    }
    this.watcher = watcher;
    await this.apply(ad, 'start');
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
  }

  async reload(config: MdnsFaceConfig): Promise<void> {
    const ad = this.plan(config); // throws: the old advertisement stays
    this.config = config;
    await this.apply(ad, 'reload');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.applying.catch(() => undefined);
      this.current = 'closed';
      this.generation++;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      if (this.refreshTimer) clearInterval(this.refreshTimer);
      this.stopStandby();
      const pub = this.pub;
      this.pub = undefined;
      // RFC 6762 §10.1: goodbyes (TTL 0) for every announced record, then close the sockets.
      if (pub) await pub.end();
      if (this.advertiser) await this.advertiser.shutdown();
      this.advertiser = undefined;
      if (this.watcher) await this.watcher.close();
      this.watcher = undefined;
      if (this.ad) this.log.info({ mdnsName: instanceFqdn(this.ad) }, pub ? 'mDNS face stopped; goodbyes sent' : 'mDNS face stopped');
    })();
    return this.closing;
  }

  /** health: announced, or standing by for another node; not while probing, in conflict or closed. */
  health(): FaceHealth {
    const c = this.current;
    return c === 'announced' || c === 'standby' ? { ready: true } : { ready: false, reason: `the mDNS face is ${c === 'conflict' ? 'in conflict with another responder (retrying)' : c}` };
  }

  stats(): Record<string, number> {
    const q = this.advertiser?.queryStats;
    return {
      ...Object.fromEntries(this.counters),
      ...(q ? { queriesAnsweredAtOnce: q.immediate, queriesLeftToLibrary: q.deferred } : {}),
      ...(this.advertiser?.fromOtherLinks !== undefined ? { datagramsFromOtherLinks: this.advertiser.fromOtherLinks } : {}),
      ...(this.watcher ? { queriesHeard: this.watcher.queries, malformedDatagrams: this.watcher.malformed } : {}),
      announced: this.current === 'announced' ? 1 : 0,
      conflicting: this.current === 'conflict' ? 1 : 0,
      standingBy: this.current === 'standby' ? 1 : 0,
    };
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  private plan(config: MdnsFaceConfig): Advertisement {
    const r = planAdvertisement(config, this.listInterfaces(), this.systemHostname());
    if (!r.ok) throw new ProvError(r.error.code, r.error.message);
    return r.ad;
  }

  /** apply makes `ad` the advertisement, touching only what changed; calls are serialized. */
  private apply(ad: Advertisement, why: 'start' | 'reload' | 'address change'): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.current === 'closed') return;
      const old = this.ad;
      const key = groupingKey(ad);
      if (old && old !== ad) this.previous.push({ ad: old, until: Date.now() + RECENT_MS });
      this.ad = ad;
      if (!this.advertiser || key !== this.advertiserKey) {
        await this.endPublication();
        await this.dropAdvertiser();
      } else if (old && this.pub && this.current === 'announced' && old.type === ad.type && old.port === ad.port && old.hostname === ad.hostname && old.instance === ad.instance) {
        // Same name, same SRV: announce the (possibly new) TXT record; A records follow the
        // interfaces by themselves (the advertiser re-probes and re-announces on an address change).
        this.pub.updateTxt(ad);
        this.count('reannounced');
        this.watcher?.join(ad.interfaces.map((i) => i.ipv4));
        this.logAdvertising(why === 'start' ? 'mDNS face advertising' : `mDNS records re-announced after ${why}`);
        return;
      } else {
        await this.endPublication(); // goodbyes for the old SRV/TXT, then probe the new ones
      }
      this.watcher?.join(ad.interfaces.map((i) => i.ipv4));
      this.attempts = 0;
      await this.publish();
      if (why !== 'start') this.log.info({ why }, 'mDNS advertisement changed; probing again');
    };
    const p = this.applying.then(run, run);
    this.applying = p.catch(() => undefined);
    return p;
  }

  private async endPublication(): Promise<void> {
    this.generation++;
    this.stopStandby();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const pub = this.pub;
    this.pub = undefined;
    if (pub) await pub.end();
  }

  /**
   * dropAdvertiser shuts the advertiser down (goodbyes for anything it announced). A fresh one
   * is made for the next attempt: ciao's responder cannot probe again after a probe was
   * cancelled (its internal promise chain stays rejected), so every conflict costs a new one.
   */
  private async dropAdvertiser(): Promise<void> {
    const old = this.advertiser;
    this.advertiser = undefined;
    this.advertiserKey = '';
    if (old) await old.shutdown();
  }

  private async publish(): Promise<void> {
    const ad = this.ad;
    if (!ad || this.current === 'closed') return;
    if (this.lookMs > 0 && this.watcher) {
      // Is another node advertising our service on these links already? Its answers reach
      // onResponse, which stands this node by (or reports a conflict) and ends this attempt.
      const look = ++this.generation;
      this.current = 'probing';
      this.watcher.query(instanceFqdn(ad), [RType.SRV, RType.TXT]);
      await new Promise((r) => setTimeout(r, this.lookMs).unref());
      if (look !== this.generation || this.current !== 'probing') return;
    }
    const key = groupingKey(ad);
    if (!this.advertiser || this.advertiserKey !== key) {
      await this.dropAdvertiser();
      this.advertiser = this.factory(ad.interfaces.map((i) => i.name));
      this.advertiserKey = key;
      if (this.advertiser.queryStats === null) {
        this.log.warn({ code: 'PROVD_ERR_MDNS_LIBRARY' }, 'mDNS library internals changed: answers to multi-question queries keep its 20-120 ms delay (see src/mdns/immediate.ts)');
      }
    }
    const advertiser = this.advertiser;
    const gen = ++this.generation;
    this.current = 'probing';
    this.count('probes');
    const pub = advertiser.publish(ad, { onRenamed: (wanted) => this.onConflict(gen, `the advertiser found the name taken (it wanted '${wanted}')`) });
    this.pub = pub;
    void pub.announced.then((ok) => {
      if (!ok || gen !== this.generation || this.current === 'closed') return;
      this.current = 'announced';
      this.attempts = 0;
      this.count('announcements');
      this.logAdvertising('mDNS face advertising');
    });
  }

  private logAdvertising(msg: string): void {
    const ad = this.ad;
    if (!ad) return;
    // The TXT path and the URL may carry a tenant's provisioning key: never log it.
    const keys = urlKeysOf(this.config);
    this.log.info(
      {
        mdnsName: instanceFqdn(ad),
        port: ad.port,
        target: hostFqdn(ad),
        txt: ad.txt.map((t) => redactKeys(t, keys)),
        ...(ad.interfaces.some((i) => i.txt.join('\n') !== ad.txt.join('\n')) ? { txtPerLink: Object.fromEntries(ad.interfaces.map((i) => [i.name, i.txt.map((t) => redactKeys(t, keys))])) } : {}),
        interfaces: ad.interfaces.map((i) => `${i.name}=${i.ipv4}`),
        urls: Object.fromEntries(ad.interfaces.map((i) => [i.name, redactKeys(clientUrlOn(ad, i), keys)])),
      },
      msg,
    );
  }

  private onResponse(from: string, msg: DnsMessage): void {
    const ad = this.ad;
    if (!ad || this.current === 'closed') return;
    const now = Date.now();
    this.previous = this.previous.filter((p) => p.until > now);
    const seen = observe(from, msg, [ad, ...this.previous.map((p) => p.ad)]);
    if (seen.length === 0) return;
    for (const o of seen) this.recent.push({ ...o, at: now });
    if (this.recent.length > 32) this.recent.splice(0, this.recent.length - 32);
    // What another node (not one of our own addresses: our packets loop back) says about our service.
    const own = new Set(this.listInterfaces().map((h) => formatIPv4(h.address)));
    const active = own.has(from) ? undefined : activeNodeIn(seen);
    if (this.current === 'standby') {
      this.onStandbyResponse(active);
      return;
    }
    // While probing, a live record with other data for our name is a conflict at once
    // (RFC 6762 §8.1); cancelling now means no probe is ever sent for a renamed service.
    const clash = seen.find(isConflict);
    if (clash && this.current === 'probing') this.onConflict(this.generation, `${clash.from} answered with ${clash.summary}`);
    // Another node advertises our service with our records (several nodes, identical URLs):
    // not a conflict; before we announce, it is the active node and we stand by.
    else if (active?.kind === 'live' && this.current === 'probing') this.enterStandby(active.from, active.ttlMs);
    else if (active?.kind === 'live' && this.current === 'announced') this.count('sameServiceElsewhere');
    // Once announced, the advertiser library no longer looks for conflicts: a responder that
    // claims our name now (a rogue, or a misconfigured twin) would go unnoticed while clients
    // may resolve its records instead of ours. Report it; we keep advertising the exact name.
    else if (clash && this.current === 'announced') this.onClaimAfterAnnouncement(ad, clash);
  }

  /**
   * enterStandby: another node (`from`) advertises our service with our records. Drop our own
   * attempt (nothing of ours was announced: it was still probing), log once at info, and follow
   * its records until they go.
   */
  private enterStandby(from: string, ttlMs: number): void {
    const ad = this.ad;
    if (!ad || this.current === 'closed') return;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const pub = this.pub;
    this.pub = undefined;
    const advertiser = this.advertiser;
    this.advertiser = undefined;
    this.advertiserKey = '';
    this.dropping = (pub ? pub.end() : Promise.resolve()).then(() => advertiser?.shutdown());
    this.current = 'standby';
    this.attempts = 0;
    this.count('standbys');
    this.standby = { from, seenAt: this.now(), ttlMs, queried: 0 };
    this.log.info(
      { mdnsName: instanceFqdn(ad), activeNode: from, recordTtlS: Math.round(ttlMs / 1000) },
      'mDNS: another node advertises the same service with the same records on this link; standing by (not renaming, nothing announced), taking over when its records go (goodbye, or TTL without a refresh)',
    );
    this.standbyTimer = setInterval(() => this.checkStandby(), STANDBY_TICK_MS);
    this.standbyTimer.unref();
  }

  /** onStandbyResponse: the active node refreshed its records (live), or withdrew them (gone). */
  private onStandbyResponse(active: ReturnType<typeof activeNodeIn>): void {
    const sb = this.standby;
    if (!sb || !active) return;
    if (active.kind === 'gone') {
      if (active.from === sb.from) this.takeOver('goodbye');
      return;
    }
    sb.from = active.from; // a node answers from its address on that link: with several links, several addresses
    sb.seenAt = this.now();
    sb.ttlMs = active.ttlMs;
    sb.queried = 0;
  }

  /** checkStandby: query the active node's records at 80-95 % of their TTL; take over when it runs out. */
  private checkStandby(): void {
    const sb = this.standby;
    const ad = this.ad;
    if (!sb || !ad || this.current !== 'standby') return;
    const age = this.now() - sb.seenAt;
    if (age >= sb.ttlMs) {
      this.takeOver('expired');
      return;
    }
    const due = REFRESH_AT.filter((f) => age >= f * sb.ttlMs).length;
    if (due > sb.queried) {
      sb.queried = due;
      this.watcher?.query(instanceFqdn(ad), [RType.SRV, RType.TXT]);
    }
  }

  private stopStandby(): void {
    if (this.standbyTimer) clearInterval(this.standbyTimer);
    this.standbyTimer = undefined;
    this.standby = undefined;
  }

  /**
   * takeOver: the active node's records are gone; probe and announce ours. After a goodbye a
   * random delay (up to TAKEOVER_JITTER_MS) keeps several standbys from probing at once: the
   * first announces, the others hear it while they look and stay standbys.
   */
  private takeOver(why: 'goodbye' | 'expired'): void {
    const sb = this.standby;
    this.stopStandby();
    if (this.current !== 'standby') return;
    this.current = 'idle';
    const gen = this.generation;
    this.log.info(
      { activeNode: sb?.from, why },
      why === 'goodbye' ? 'mDNS: the active node withdrew its records (goodbye); taking over' : "mDNS: the active node's records expired without a refresh; taking over",
    );
    const timer = setTimeout(
      () => {
        const run = async (): Promise<void> => {
          await this.dropping;
          if (this.current === 'idle' && this.generation === gen) await this.publish();
        };
        const p = this.applying.then(run, run);
        this.applying = p.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'mDNS takeover failed'));
      },
      why === 'goodbye' ? Math.random() * this.takeoverJitterMs : 0,
    );
    timer.unref();
  }

  /** onClaimAfterAnnouncement counts each such response and logs an episode of them once, with the sender. */
  private onClaimAfterAnnouncement(ad: Advertisement, clash: Observation): void {
    this.count('claimsAfterAnnouncement');
    if (!this.claims.hit()) return;
    this.count('claimEpisodes');
    const own = new Set(this.listInterfaces().map((h) => formatIPv4(h.address)));
    this.log.error(
      {
        code: 'PROVD_ERR_MDNS_CONFLICT',
        mdnsName: clash.which === 'hostname' ? hostFqdn(ad) : instanceFqdn(ad),
        otherResponder: clash.from,
        otherRecord: clash.summary,
        ...(own.has(clash.from) ? { hint: 'the other responder runs on this host (avahi-daemon?)' } : {}),
      },
      'mDNS name claimed by another responder after our announcement: clients may resolve its records instead of ours; still advertising ours (logged once per episode, counted in claimsAfterAnnouncement)',
    );
  }

  /** endClaimEpisode logs the end of an episode of claims after announcement (called by the refresh timer). */
  private endClaimEpisode(): void {
    const ended = this.claims.check();
    if (ended) this.log.warn({ claims: ended.events, ms: ended.ms }, 'mDNS: no more claims of our name by another responder');
  }

  /** twinHeard: the latest live responses about our instance came from one other node serving our records, and nothing conflicted. */
  private twinHeard(): { from: string; ttlMs: number } | undefined {
    const now = Date.now();
    const fresh = this.recent.filter((o) => now - o.at < RECENT_MS && o.ttl > 0);
    const last = fresh.at(-1);
    if (!last || fresh.some(isConflict)) return undefined;
    const own = new Set(this.listInterfaces().map((h) => formatIPv4(h.address)));
    if (own.has(last.from)) return undefined;
    const a = activeNodeIn(fresh.filter((o) => o.from === last.from));
    return a?.kind === 'live' ? a : undefined;
  }

  /** otherResponder picks the responder to blame: the latest conflicting record, else the latest claim. */
  private otherResponder(): (Observation & { at: number }) | undefined {
    const now = Date.now();
    const fresh = this.recent.filter((o) => now - o.at < RECENT_MS && o.ttl > 0);
    return [...fresh].reverse().find((o) => !o.identical) ?? [...fresh].reverse().find(() => true);
  }

  private onConflict(gen: number, reason: string): void {
    if (gen !== this.generation || this.current === 'closed' || !this.ad) return;
    const ad = this.ad;
    // The library renames on any answer naming us; if what was heard is our own service from
    // another node (its answer may have reached the watcher first, or only it), stand by.
    const twin = this.twinHeard();
    if (twin) {
      this.enterStandby(twin.from, twin.ttlMs);
      return;
    }
    this.generation++;
    const pub = this.pub;
    this.pub = undefined;
    const advertiser = this.advertiser;
    this.advertiser = undefined;
    this.advertiserKey = '';
    const dropped = (pub ? pub.end() : Promise.resolve()).then(() => advertiser?.shutdown());
    this.current = 'conflict';
    this.count('conflicts');
    this.attempts++;
    const delay = Math.min(this.retryMs * 2 ** Math.min(this.attempts - 1, 10), Math.max(RETRY_MAX_MS, this.retryMs));
    const other = this.otherResponder();
    const own = new Set(this.listInterfaces().map((h) => formatIPv4(h.address)));
    const sameHost = other !== undefined && own.has(other.from);
    this.log.error(
      {
        code: 'PROVD_ERR_MDNS_CONFLICT',
        mdnsName: other?.which === 'hostname' ? hostFqdn(ad) : instanceFqdn(ad),
        otherResponder: other?.from ?? 'unknown (no response seen on the advertised links)',
        // A conflicting record may repeat our own TXT (with the key): redact it too.
        otherRecord: other?.summary === undefined ? undefined : redactKeys(other.summary, urlKeysOf(this.config)),
        reason: redactKeys(reason, urlKeysOf(this.config)),
        attempt: this.attempts,
        retryInMs: delay,
        ...(sameHost
          ? { hint: `the other responder runs on this host (avahi-daemon?); if it owns ${hostFqdn(ad)}, set mdns.hostname to a name it does not publish, or let it advertise: mdns.enabled: false and 'provisiond export avahi'` }
          : {}),
      },
      'mDNS name conflict: another responder holds the name; not renaming (clients resolve only the exact name), retrying',
    );
    const retryGen = this.generation;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const retry = async (): Promise<void> => {
        await dropped;
        if (this.current === 'conflict' && this.generation === retryGen) await this.publish();
      };
      const p = this.applying.then(retry, retry);
      this.applying = p.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'mDNS retry failed'));
    }, delay);
    this.retryTimer.unref();
  }

  private async refresh(): Promise<void> {
    if (this.current === 'closed' || !this.ad) return;
    this.endClaimEpisode();
    try {
      const ad = this.plan(this.config);
      if (sameAdvertisement(ad, this.ad)) return;
      this.log.info({ interfaces: ad.interfaces.map((i) => `${i.name}=${i.ipv4}`) }, 'interface addresses changed; updating the mDNS advertisement');
      await this.apply(ad, 'address change');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'mDNS refresh failed; still advertising the previous records');
    }
  }
}
