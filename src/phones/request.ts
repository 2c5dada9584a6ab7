/**
 * request.ts: one phone file request from admission to answer, the same for every face that
 * serves phone files (HTTP, TFTP): what src/http/server.ts's servePhone did that is not HTTP.
 *
 *   1. the per-source rate limiter, then the bans' admission (banned, or too many attempts in
 *      flight): refused before anything is read;
 *   2. the tenant: by the path's key, or the `auth: none` default tenant unkeyed (any refusal is
 *      the caller's empty 404; a wrong key counts as a failure);
 *   3. the answer (PhoneService.answer, with the device caps on auto-creation), or the caller's
 *      own action for a tenant (the HTTP face's PUT of Polycom uploads);
 *   4. the event lines (security.log, fail2ban), the failure counted into the bans and its ban
 *      lines; the sighting buffered.
 * A store busy with another process's lock is `busy` (the caller answers "retry"), never thrown.
 * The caller keeps what is its protocol's: the reply, its log lines and counters, the static
 * fallback (HTTP streams a range, TFTP a whole file).
 */
import { StoreBusyError } from '../store/repository';
import { banLine, failureLine, type EventSink } from '../limits/events';
import type { BanList } from '../limits/bans';
import type { DeviceQuota, QuotaVerdict } from '../limits/quota';
import type { RateLimiter } from '../limits/ratelimit';
import type { PhoneSightings } from '../store/sightings';
import type { PhoneService, TenantRefusal } from './service';
import type { PhoneFileAnswer, ServeOutcome, ServeTenant } from './serve';

/** PhoneRoom is what a face holds to serve phone files for one configuration. */
export interface PhoneRoom {
  readonly service: PhoneService;
  /** quota: the device caps on auto-created phones (absent: none). */
  readonly quota: DeviceQuota | undefined;
  readonly limiter: RateLimiter;
  readonly bans: BanList | undefined;
  readonly events: EventSink | undefined;
  readonly sightings?: PhoneSightings | undefined;
  /** now: the clock of the event lines (tests). */
  readonly now?: (() => Date) | undefined;
}

/** PhoneRequest is a face's request, protocol removed. */
export interface PhoneRequest {
  /** key: the provisioning key segment of the path; undefined: unkeyed (the auth: none default tenant). */
  readonly key: string | undefined;
  /** file: the file name (the path after the key). */
  readonly file: string;
  readonly ip: string;
  readonly userAgent?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  /** baseUrl: the base URL the rendered file points at (baseUrlFor). */
  readonly baseUrl: string;
}

/** LimitOutcome is a refusal before the request is looked at (429 over HTTP). */
export type LimitOutcome = 'rate-limited' | 'rate-limited-first' | 'banned' | 'attempts-in-flight';

/** PhoneResult is what became of a request. */
export type PhoneResult<U = never> =
  | { readonly kind: 'limited'; readonly outcome: LimitOutcome; readonly retryAfter: number }
  | { readonly kind: 'busy' }
  | { readonly kind: 'refused'; readonly outcome: TenantRefusal }
  | { readonly kind: 'answer'; readonly answer: PhoneFileAnswer; readonly tenant: string; readonly notRecorded: Exclude<QuotaVerdict, 'record'> | undefined }
  | { readonly kind: 'own'; readonly result: U; readonly tenant: string };

/** STATIC_FALLBACK: a 404 with one of these outcomes may be a static file of a vendor's files/ folder. */
export const STATIC_FALLBACK: ReadonlySet<ServeOutcome> = new Set<ServeOutcome>(['unidentified', 'unknown-file', 'unknown-common']);

/**
 * servePhoneRequest runs a request through the pipeline above. `own`, when given, replaces the
 * file answer for a resolved tenant (its result is returned as `own`; never a failure).
 */
export async function servePhoneRequest<U = never>(room: PhoneRoom, req: PhoneRequest, own?: (tenant: ServeTenant) => Promise<U>): Promise<PhoneResult<U>> {
  const ip = req.ip;
  const verdict = room.limiter.take(ip);
  if (verdict !== 'allow') return { kind: 'limited', outcome: verdict === 'refuse-first' ? 'rate-limited-first' : 'rate-limited', retryAfter: 1 };
  const admission = room.bans ? await room.bans.admit(ip, undefined) : undefined;
  if (admission?.kind === 'banned') return { kind: 'limited', outcome: 'banned', retryAfter: admission.verdict.retryAfter };
  if (admission?.kind === 'busy') return { kind: 'limited', outcome: 'attempts-in-flight', retryAfter: 1 };

  let result: PhoneResult<U>;
  try {
    const t = room.service.resolveTenant(req.key, ip);
    let a: PhoneFileAnswer | undefined;
    let notRecorded: Exclude<QuotaVerdict, 'record'> | undefined;
    if (!t.ok) {
      result = { kind: 'refused', outcome: t.outcome };
    } else if (own !== undefined) {
      result = { kind: 'own', result: await own(t.tenant), tenant: t.tenant.name };
    } else {
      const admit = (mac: string, from: string): boolean => {
        const v = room.quota?.admit(mac, from) ?? 'record';
        if (v !== 'record') notRecorded = v;
        return v === 'record';
      };
      a = room.service.answer({ path: req.file, userAgent: req.userAgent, ip, ifNoneMatch: req.ifNoneMatch }, t.tenant, { httpBaseUrl: req.baseUrl }, undefined, { admit });
      result = { kind: 'answer', answer: a, tenant: t.tenant.name, notRecorded };
    }
    const failure = a === undefined ? result.kind === 'refused' && result.outcome === 'bad-key' : a.failure;
    const at = room.now?.() ?? new Date();
    for (const line of a?.events ?? []) room.events?.write(line);
    if (failure && room.bans && !room.bans.trusted(ip)) {
      const banEvents = room.bans.fail(ip, undefined);
      // The phone's own event lines are failure lines already; a failure without one gets one.
      const tenant = t.ok ? t.tenant.name : undefined;
      if ((a?.events.length ?? 0) === 0) room.events?.write(failureLine(at, ip, a === undefined ? (result.kind === 'refused' ? result.outcome : 'unknown') : `phone-${a.outcome}`, a?.observe?.mac, tenant));
      for (const e of banEvents) if (e.kind === 'ban') room.events?.write(banLine(at, ip, e.scope, e.subject, new Date(e.until)));
    }
  } catch (err) {
    // Another process holds the store's lock (a read found it busy): the phone retries.
    if (!(err instanceof StoreBusyError)) throw err;
    result = { kind: 'busy' };
  } finally {
    if (admission?.kind === 'go') admission.release();
  }
  // The sighting is buffered and written in batches (src/store/sightings.ts): never a write per request.
  if (result.kind === 'answer' && result.answer.observe !== undefined) {
    const o = result.answer.observe;
    room.sightings?.record(o.mac, { ip: o.ip, version: o.version ?? null, model: o.model ?? null });
  }
  return result;
}
