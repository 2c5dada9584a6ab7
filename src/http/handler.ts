/**
 * handler.ts: the HTTP face's logic, with no server in it: a request description in, a status,
 * headers and body out. server.ts only adapts fastify to this; tests call it directly.
 *
 * Status codes (issue 4, contract §4.5 and §6): 200 with the document; 401 only for missing or
 * wrong credentials on a URL that carries the ${username}/${password} pair; 400 for a malformed
 * request or a tenant that needs credentials the URL does not ask for (the body names the
 * parameters); 404 unknown tenant; 413 too large (server.ts); 429 rate-limited; 500 with a
 * request id. Never a redirect: clients turn a redirected POST into a GET.
 */
import { parseForm, DEFAULT_FORM_LIMITS } from '../jitsi/form';
import { PROPERTIES_CONTENT_TYPE } from '../jitsi/properties';
import { FAILURE_OUTCOMES, type Engine, type ProvisionResult } from '../jitsi/engine';
import type { BanList } from '../limits/bans';
import type { QuotaAdmission } from '../limits/quota';
import { banLine, failureLine, type EventSink } from '../limits/events';
import type { DeviceRepository } from '../store/repository';
import type { RateLimiter } from '../limits/ratelimit';

/** HttpRequestInfo is everything the handler reads from a request. */
export interface HttpRequestInfo {
  readonly method: string;
  readonly contentType: string | undefined;
  /** body is the raw request body (POST), if any. */
  readonly body: Buffer | undefined;
  /** query is the raw query string, without the '?'. */
  readonly query: string;
  readonly ip: string;
  readonly userAgent: string;
  readonly requestId: string;
  /** key is the provisioning-key path segment (`/<key>/jitsi`), undefined on the unkeyed paths. */
  readonly key?: string | undefined;
  /** receivedAt: when the request arrived (performance.now() time): the client's timeout runs from then. */
  readonly receivedAt?: number | undefined;
}

/** HttpAnswer is the reply to send, plus what to log. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly outcome: string;
  readonly result?: ProvisionResult;
  /** inventoryError is set when the device could not be recorded (the answer is unaffected). */
  readonly inventoryError?: string;
  /** notRecorded says why a new device was not recorded (over a device cap; the answer is unaffected). */
  readonly notRecorded?: 'over-source' | 'over-total';
  /** claimedUser is the `name@domain` a failed attempt gave (for the log line; never its password). */
  readonly claimedUser?: string;
  /** bans are the bans this failed attempt caused (logged at warn in the main log). */
  readonly bans?: readonly { readonly scope: 'ip' | 'user'; readonly subject: string; readonly until: number }[];
}

/** HandlerDeps are the per-configuration pieces the handler uses. */
export interface HandlerDeps {
  readonly engine: Engine;
  readonly devices: DeviceRepository | undefined;
  readonly limiter: RateLimiter;
  /** bans: brute-force bans (absent: none). */
  readonly bans?: BanList;
  /** events: the security event log (failures and bans, for fail2ban). */
  readonly events?: EventSink;
  /** quota: caps on new device records (absent: none). */
  readonly quota?: QuotaAdmission;
  readonly now?: () => Date;
}

const TEXT = 'text/plain; charset=utf-8';
/** STORE_RETRY_AFTER_S: the Retry-After of a 503 'store-unavailable' (a store restart or failover takes seconds). */
export const STORE_RETRY_AFTER_S = '5';
const NO_STORE = 'no-store';
/** DOCUMENT_HEADERS are the headers of every 200 (shared: the hot path allocates none). */
const DOCUMENT_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': PROPERTIES_CONTENT_TYPE, 'cache-control': NO_STORE });

function text(status: number, outcome: string, body: string, extra: Record<string, string> = {}): HttpAnswer {
  return { status, outcome, body, headers: { 'content-type': TEXT, 'cache-control': NO_STORE, ...extra } };
}

/** isForm accepts application/x-www-form-urlencoded with or without parameters (Jitsi sends none). */
function isForm(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const mime = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mime === '' || mime === 'application/x-www-form-urlencoded';
}

/** SkipRecord leaves the inventory step without recording (a device cap was reached). */
class SkipRecord extends Error {}

/** handleProvisioning answers GET /jitsi, POST /jitsi and POST /jitsiprovs/. */
export async function handleProvisioning(req: HttpRequestInfo, deps: HandlerDeps): Promise<HttpAnswer> {
  const verdict = deps.limiter.take(req.ip);
  if (verdict !== 'allow') return text(429, verdict === 'refuse-first' ? 'rate-limited-first' : 'rate-limited', 'too many requests from this address; retry shortly\n', { 'retry-after': '1' });

  let source = req.query;
  if (req.method === 'POST' && req.body !== undefined && req.body.length > 0) {
    if (!isForm(req.contentType)) return text(400, 'malformed', 'expected an application/x-www-form-urlencoded body\n');
    // The body is percent-encoded ASCII; a query on a POST (not what Jitsi sends) is merged first.
    const body = req.body.toString('latin1');
    source = source.length > 0 ? `${source}&${body}` : body;
  }
  const form = parseForm(source, DEFAULT_FORM_LIMITS);
  if (!form.ok) return text(400, 'malformed', `malformed request: ${form.error}\n`);

  // Brute-force bans: a banned source or user gets 429 before any check runs (nothing is counted).
  // admit() also counts the attempts in flight toward maxRetry (issue 10): concurrent guesses wait
  // for their turn instead of all being checked before the first failure is counted.
  const userKey = deps.bans ? deps.engine.userKeyOf(form.params) : undefined;
  const admission = deps.bans ? await deps.bans.admit(req.ip, userKey) : undefined;
  if (admission?.kind === 'banned') {
    return text(429, 'banned', 'too many failed attempts; retry later\n', { 'retry-after': String(admission.verdict.retryAfter) });
  }
  if (admission?.kind === 'busy') return text(429, 'attempts-in-flight', 'too many attempts in progress for this address or user; retry shortly\n', { 'retry-after': '1' });

  let result: ProvisionResult;
  let claimedUser: string | undefined;
  const bans: { scope: 'ip' | 'user'; subject: string; until: number }[] = [];
  try {
    result = await deps.engine.provision({ params: form.params, ip: req.ip, userAgent: req.userAgent, key: req.key, receivedAt: req.receivedAt });
    if (deps.bans && FAILURE_OUTCOMES.has(result.outcome) && !deps.bans.trusted(req.ip)) {
      // Count first: the event log (which may be on a full disk) never changes the answer.
      const events = deps.bans.fail(req.ip, result.outcome === 'bad-credentials' ? userKey : undefined);
      const at = deps.now?.() ?? new Date();
      deps.events?.write(failureLine(at, req.ip, result.outcome, userKey, result.tenant));
      for (const e of events) {
        if (e.kind === 'ban') {
          deps.events?.write(banLine(at, req.ip, e.scope, e.subject, new Date(e.until)));
          bans.push({ scope: e.scope, subject: e.subject, until: e.until });
        }
      }
    }
    if (FAILURE_OUTCOMES.has(result.outcome)) claimedUser = userKey ?? deps.engine.userKeyOf(form.params);
  } finally {
    if (admission?.kind === 'go') admission.release();
  }

  let inventoryError: string | undefined;
  let notRecorded: 'over-source' | 'over-total' | undefined;
  const d = result.device;
  if (deps.devices && result.tenant !== null && d.key !== undefined) {
    try {
      // Only a 200 may create or rewrite a record. Any other answer proves nothing about the
      // device (its uuid or MAC is no secret on the LAN): the store only counts it against a
      // record that exists (DeviceRepository.upsert), so it needs no quota.
      const verdict = result.status === 200 ? ((await deps.quota?.admit(d.key, req.ip)) ?? 'record') : 'record';
      if (verdict !== 'record') {
        notRecorded = verdict;
        throw new SkipRecord();
      }
      // Idempotent: a retried POST (contract §4.4: up to 4 deliveries) updates the same row.
      await deps.devices.upsert({
        key: d.key,
        uuid: d.uuid ?? null,
        hwaddr: d.hwaddr ?? null,
        ip: req.ip,
        hostname: d.hostname ?? null,
        osname: d.osname ?? null,
        arch: d.arch ?? null,
        build: d.build ?? null,
        userAgent: req.userAgent === '' ? null : req.userAgent.slice(0, 256),
        username: result.user,
        tenant: result.tenant,
        outcome: `${result.status} ${result.outcome}`,
        at: (deps.now?.() ?? new Date()).toISOString(),
      });
    } catch (err) {
      if (!(err instanceof SkipRecord)) inventoryError = err instanceof Error ? err.message : String(err);
    }
  }

  if (result.status === 200 && inventoryError === undefined && notRecorded === undefined) {
    // The hot path: one object literal, no spread (a spread copy allocates and runs slowly).
    return { status: 200, outcome: result.outcome, body: result.body, result, headers: DOCUMENT_HEADERS };
  }
  const extra = {
    ...(inventoryError === undefined ? {} : { inventoryError }),
    ...(notRecorded === undefined ? {} : { notRecorded }),
    ...(claimedUser === undefined ? {} : { claimedUser }),
    ...(bans.length === 0 ? {} : { bans }),
  };
  if (result.status === 200) {
    return { status: 200, outcome: result.outcome, body: result.body, result, headers: DOCUMENT_HEADERS, ...extra };
  }
  if (result.status === 500) {
    return { ...text(500, result.outcome, `internal error (request id ${req.requestId})\n`), result, ...extra };
  }
  const retry: Record<string, string> = result.status === 429 ? { 'retry-after': '1' } : result.outcome === 'store-unavailable' ? { 'retry-after': STORE_RETRY_AFTER_S } : {};
  return { ...text(result.status, result.outcome, result.body, retry), result, ...extra };
}
