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
 */
import { hostname as osHostname } from 'node:os';
import { listHostInterfaces, type InterfaceLister } from '../net/interfaces';
import { formatIPv4 } from '../net/ipv4';
import { ProvError, errorMessage } from '../errors';
import { planAdvertisement, clientUrlOn, sameAdvertisement, groupingKey, type Advertisement, type MdnsFaceConfig } from './plan';
import { ciaoAdvertiser, type Advertiser, type AdvertiserFactory, type Publication } from './advertiser';
import { Watcher, MDNS_PORT } from './watcher';
import { redactKeys, urlKeysOf } from '../urls/plan';
import { observe, isConflict, instanceFqdn, hostFqdn, type Observation } from './conflict';
import type { DnsMessage } from './wire';
import { Episode } from '../episode';
import type { Face } from '../face';
import type { Logger } from '../log';

/** REFRESH_MS is how often interface addresses are re-read (the DHCP face uses the same period). */
const REFRESH_MS = 10_000;
/** RETRY_MS / RETRY_MAX_MS: after a conflict, probe the exact name again after 5 s, doubling up to 60 s. */
const RETRY_MS = 5_000;
const RETRY_MAX_MS = 60_000;
/** RECENT_MS is how long an observation, or a replaced advertisement, still counts. */
const RECENT_MS = 10_000;

/** CLAIM_QUIET_MS ends an episode of claims of our name after announcement (one error line per episode). */
const CLAIM_QUIET_MS = 60_000;

/** MdnsState is what the face is doing, for stats and tests. */
export type MdnsState = 'idle' | 'probing' | 'announced' | 'conflict' | 'closed';

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
}

/** MdnsFace advertises "Provisioning URL" for Bonjour clients. */
export class MdnsFace implements Face<MdnsFaceConfig> {
  readonly name = 'mdns';
  private readonly log: Logger;
  private readonly listInterfaces: InterfaceLister;
  private readonly systemHostname: () => string;
  private readonly factory: AdvertiserFactory;
  private readonly retryMs: number;
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
      const pub = this.pub;
      this.pub = undefined;
      // RFC 6762 §10.1: goodbyes (TTL 0) for every announced record, then close the sockets.
      if (pub) await pub.end();
      if (this.advertiser) await this.advertiser.shutdown();
      this.advertiser = undefined;
      if (this.watcher) await this.watcher.close();
      this.watcher = undefined;
      if (this.ad) this.log.info({ mdnsName: instanceFqdn(this.ad) }, 'mDNS face stopped; goodbyes sent');
    })();
    return this.closing;
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
    // While probing, a live record with other data for our name is a conflict at once
    // (RFC 6762 §8.1); cancelling now means no probe is ever sent for a renamed service.
    const clash = seen.find(isConflict);
    if (clash && this.current === 'probing') this.onConflict(this.generation, `${clash.from} answered with ${clash.summary}`);
    // Once announced, the advertiser library no longer looks for conflicts: a responder that
    // claims our name now (a rogue, or a misconfigured twin) would go unnoticed while clients
    // may resolve its records instead of ours. Report it; we keep advertising the exact name.
    else if (clash && this.current === 'announced') this.onClaimAfterAnnouncement(ad, clash);
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

  /** otherResponder picks the responder to blame: the latest conflicting record, else the latest claim. */
  private otherResponder(): (Observation & { at: number }) | undefined {
    const now = Date.now();
    const fresh = this.recent.filter((o) => now - o.at < RECENT_MS && o.ttl > 0);
    return [...fresh].reverse().find((o) => !o.identical) ?? [...fresh].reverse().find(() => true);
  }

  private onConflict(gen: number, reason: string): void {
    if (gen !== this.generation || this.current === 'closed' || !this.ad) return;
    const ad = this.ad;
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
