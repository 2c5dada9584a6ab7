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
 * A third is corrected in immediate.ts: ciao delays answers to multi-question queries that it
 * should send at once (RFC 6762 §6), which made every JmDNS resolve 20–120 ms slower.
 */
import { getResponder, type CiaoService, type Responder } from '@homebridge/ciao';
import type { Advertisement } from './plan';
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
  /** updateTxt announces a new TXT record for the same name. */
  updateTxt(txt: readonly string[]): void;
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

/** STARTUP_WAIT_MS bounds how long a shutdown waits for ciao's start-up to end. */
const STARTUP_WAIT_MS = 5000;

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

  updateTxt(txt: readonly string[]): void {
    if (!this.dead) this.service.updateTxt(txtRecord(txt));
  }

  end(): Promise<void> {
    if (!this.ending) {
      this.dead = true;
      this.ending = this.service
        .destroy()
        .catch(() => undefined)
        .then(() => this.markEnded());
    }
    return this.ending;
  }
}

class CiaoAdvertiser implements Advertiser {
  private readonly responder: Responder;
  private readonly live = new Set<Publication>();
  private closed: Promise<void> | undefined;
  readonly queryStats: ImmediateStats | null;
  /** started is ciao's start-up (binding its sockets): ciao 1.3.12 leaks them when shut down before it ends. */
  private readonly started: Promise<unknown>;

  constructor(private readonly interfaces: readonly string[]) {
    // IPv4 transport (ciao's default); A records per interface, AAAA where the interface has one.
    this.responder = getResponder({ interface: [...interfaces] });
    const stats: ImmediateStats = { immediate: 0, deferred: 0 };
    this.queryStats = installImmediateAnswers(this.responder, stats) ? stats : null;
    const chain = (this.responder as unknown as { promiseChain?: unknown }).promiseChain;
    this.started = chain instanceof Promise ? chain.catch(() => undefined) : Promise.resolve();
  }

  publish(ad: Advertisement, handlers: PublishHandlers): Publication {
    const service = this.responder.createService({
      name: ad.instance,
      type: applicationOf(ad.type),
      port: ad.port,
      hostname: ad.hostname,
      txt: txtRecord(ad.txt),
      // Only these links, and only their addresses, get the records.
      restrictedAddresses: [...this.interfaces],
    });
    const pub = new CiaoPublication(service, handlers);
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
