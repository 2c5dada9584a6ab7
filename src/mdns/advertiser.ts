/**
 * advertiser.ts: the thin layer over @homebridge/ciao, which does RFC 6762 probing, announcing,
 * answering, known-answer suppression and goodbyes. This file only maps an Advertisement onto
 * a ciao service and turns ciao's automatic renaming into a reported conflict.
 *
 * Two ciao defaults are overridden on purpose:
 *  - the interface list is always explicit: ciao's own discovery on Linux keeps names like
 *    `veth0@if2` from `ip link`, which match no real interface, so such links would be skipped;
 *  - a conflict must not end in "Provisioning URL (2)": the client resolves only the exact name
 *    (jitsi-client-contract.md §3.1). ciao renames at the end of probing and emits `name-change`
 *    before it announces, so the listener destroys the service in that same tick: nothing is
 *    ever announced under the other name.
 * Links whose URLs differ get each their own TXT record (perlink.ts rewrites it per link as ciao
 * sends; one ciao service carries one TXT record on every link).
 * A third is corrected in immediate.ts: ciao delays answers to multi-question queries that it
 * should send at once (RFC 6762 §6), which made every JmDNS resolve 20–120 ms slower.
 */
import { getResponder, type CiaoService, type Responder } from '@homebridge/ciao';
import { ProvError } from '../errors';
import { txtGroups, type Advertisement } from './plan';
import { installPerLinkTxt, type PerLinkTxt } from './perlink';
import { installImmediateAnswers, type ImmediateStats } from './immediate';

/** PublishHandlers are told what happens to one publication. */
export interface PublishHandlers {
  /** onRenamed: the library found the name taken and wanted to rename; the publication is already dead. */
  onRenamed(wantedName: string): void;
}

/** Publication is one attempt to hold the name. */
export interface Publication {
  /** announced resolves true once probing succeeded under the exact name (announcing has begun), false if it was cancelled. */
  readonly announced: Promise<boolean>;
  /** updateTxt announces each link's new TXT record for the same name (the same grouping of links by TXT). */
  updateTxt(ad: Advertisement): void;
  /** end cancels probing, or sends goodbyes (TTL 0) when announced; idempotent. */
  end(): Promise<void>;
}

/** Advertiser publishes on a fixed set of interfaces. */
export interface Advertiser {
  publish(ad: Advertisement, handlers: PublishHandlers): Publication;
  /** shutdown ends every publication (goodbyes) and closes the sockets. */
  shutdown(): Promise<void>;
  /**
   * queryStats counts queries answered at once vs left to the library (immediate.ts); null when
   * the immediate path could not be installed (the library changed), absent when not applicable.
   */
  readonly queryStats?: ImmediateStats | null;
  /** fromOtherLinks counts datagrams perlink.ts's link filter dropped (absent when not applicable). */
  readonly fromOtherLinks?: number;
}

/** AdvertiserFactory builds an Advertiser bound to exactly these interface names. */
export type AdvertiserFactory = (interfaces: readonly string[]) => Advertiser;

/** txtRecord turns `k=v` strings into ciao's TXT object (insertion order is TXT order). */
export function txtRecord(txt: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of txt) {
    const eq = s.indexOf('=');
    out[eq < 0 ? s : s.slice(0, eq)] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

/** applicationOf strips `_` and `._tcp`: ciao wants "http" for `_http._tcp`. */
function applicationOf(type: string): string {
  return type.replace(/^_/, '').replace(/\._tcp$/, '');
}

/** GOODBYE_WAIT_MS bounds how long ending a publication waits for its goodbyes to be sent. */
const GOODBYE_WAIT_MS = 2000;
/** STARTUP_WAIT_MS bounds how long a shutdown waits for ciao's start-up to end. */
const STARTUP_WAIT_MS = 5000;

/** perLinkTable maps each link to its TXT strings when the links' TXT records differ, else undefined. */
function perLinkTable(ad: Advertisement): Map<string, readonly string[]> | undefined {
  return txtGroups(ad).length > 1 ? new Map(ad.interfaces.map((i) => [i.name, i.txt])) : undefined;
}

class CiaoPublication implements Publication {
  readonly announced: Promise<boolean>;
  private dead = false;
  private ending: Promise<void> | undefined;
  private markEnded: () => void = () => undefined;
  /** ended resolves once the publication has ended, for whatever reason. */
  readonly ended = new Promise<void>((resolve) => {
    this.markEnded = resolve;
  });

  constructor(
    private readonly service: CiaoService,
    handlers: PublishHandlers,
    private readonly perLink: PerLinkTxt | undefined,
  ) {
    const onRename = (wanted: string): void => {
      if (this.dead) return;
      // Synchronously, before ciao's announce step runs (it is queued behind this event).
      void this.end();
      handlers.onRenamed(wanted);
    };
    service.on('name-change', onRename);
    service.on('hostname-change', onRename);
    // advertise() also resolves when probing was cancelled; only the service state tells.
    this.announced = service.advertise().then(
      () => !this.dead && (service.serviceState === 'announcing' || service.serviceState === 'announced'),
      () => false,
    );
  }

  updateTxt(ad: Advertisement): void {
    if (this.dead) return;
    this.perLink?.set(this.service.getFQDN(), perLinkTable(ad) ?? new Map());
    this.service.updateTxt(txtRecord(ad.txt));
  }

  end(): Promise<void> {
    if (!this.ending) {
      this.dead = true;
      // destroy() resolves once the goodbye (TTL 0) went out on every link (ciao bounds each
      // send by 200 ms); GOODBYE_WAIT_MS bounds the whole, so a stop never hangs on it.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, GOODBYE_WAIT_MS)));
      this.ending = Promise.race([this.service.destroy().catch(() => undefined), bound]).then(() => {
        clearTimeout(timer);
        this.markEnded();
      });
    }
    return this.ending;
  }
}

class CiaoAdvertiser implements Advertiser {
  private readonly responder: Responder;
  private readonly live = new Set<Publication>();
  private closed: Promise<void> | undefined;
  readonly queryStats: ImmediateStats | null;
  /** perLink is undefined when ciao's internals changed (then links with different TXT records are refused). */
  private readonly perLink: PerLinkTxt | undefined;
  /** started is ciao's start-up (binding its sockets): ciao 1.3.12 leaks them when shut down before it ends. */
  private readonly started: Promise<unknown>;

  constructor(private readonly interfaces: readonly string[]) {
    // IPv4 transport (ciao's default); A records per interface, AAAA where the interface has one.
    this.responder = getResponder({ interface: [...interfaces] });
    const stats: ImmediateStats = { immediate: 0, deferred: 0 };
    this.queryStats = installImmediateAnswers(this.responder, stats) ? stats : null;
    this.perLink = installPerLinkTxt(this.responder);
    const chain = (this.responder as unknown as { promiseChain?: unknown }).promiseChain;
    this.started = chain instanceof Promise ? chain.catch(() => undefined) : Promise.resolve();
  }

  get fromOtherLinks(): number | undefined {
    return this.perLink?.fromOtherLinks;
  }

  publish(ad: Advertisement, handlers: PublishHandlers): Publication {
    const table = perLinkTable(ad);
    if (table && !this.perLink) {
      throw new ProvError('PROVD_ERR_MDNS_URL', 'the links need different TXT records, and the mDNS library internals perlink.ts relies on changed; set mdns.url, or list only interfaces that share a URL in mdns.interfaces');
    }
    const service = this.responder.createService({
      name: ad.instance,
      type: applicationOf(ad.type),
      port: ad.port,
      hostname: ad.hostname,
      txt: txtRecord(ad.txt),
      // Only these links, and only their addresses, get the records.
      restrictedAddresses: [...this.interfaces],
    });
    this.perLink?.set(service.getFQDN(), table ?? new Map());
    const pub = new CiaoPublication(service, handlers, this.perLink);
    this.live.add(pub);
    void pub.ended.then(() => this.live.delete(pub));
    return pub;
  }

  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all([...this.live].map((p) => p.end()));
      this.live.clear();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.started, new Promise((resolve) => (timer = setTimeout(resolve, STARTUP_WAIT_MS)))]);
      clearTimeout(timer);
      await this.responder.shutdown();
    })();
    return this.closed;
  }
}

/** ciaoAdvertiser is the production AdvertiserFactory. */
export const ciaoAdvertiser: AdvertiserFactory = (interfaces) => new CiaoAdvertiser(interfaces);
