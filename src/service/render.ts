/**
 * render.ts (service): what a given client or phone would get, without a request on the wire:
 * a Jitsi client's document (`provisiond render --user …`, the admin API's render preview) and a
 * phone's file (`provisiond render --mac …`). The HTTP face's own engines do the rendering.
 */
import { ProvError } from '../errors';
import { Engine } from '../jitsi/engine';
import type { JitsiConfig } from '../jitsi/config';
import { createLogger } from '../log';
import type { PhoneService } from '../phones/service';
import type { UserRepository } from '../store/repository';

/** ClientPreview is a client's request as the preview takes it. */
export interface ClientPreview {
  /** who: the user (name, domain), or an anonymous client of `domain`. */
  readonly who: { readonly domain?: string; readonly name?: string };
  readonly params: Readonly<Record<string, string>>;
  readonly ip: string;
  readonly userAgent: string;
}

/** renderClient is the document a Jitsi client with these parameters would receive; anything but a 200 is PROVD_ERR_RENDER. */
export async function renderClient(provisioning: JitsiConfig, users: UserRepository | undefined, req: ClientPreview): Promise<string> {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(req.params)) params[k] = v;
  const engine = new Engine(provisioning, { ...(users ? { users } : {}), log: createLogger('silent'), documentCacheSize: 0 });
  const r = await engine.renderAs({ params, ip: req.ip, userAgent: req.userAgent }, req.who);
  if (r.error !== undefined || r.result === undefined) throw new ProvError('PROVD_ERR_RENDER', r.error ?? 'nothing rendered');
  if (r.result.status !== 200) throw new ProvError('PROVD_ERR_RENDER', `the endpoint would answer ${r.result.status}: ${r.result.error ?? r.result.body.trim()}`);
  return r.result.body;
}

/** PhonePreview is a phone file as the phone would get it. */
export interface PhonePreview {
  readonly file: string;
  readonly status: number;
  readonly outcome: string;
  readonly contentType: string;
  readonly body: Buffer;
}

/** renderPhoneFile renders a phone's file (default: its first per-device file) from `baseUrl`. */
export function renderPhoneFile(svc: PhoneService, mac: string, opts: { readonly file?: string | undefined; readonly baseUrl: string; readonly key?: string | undefined }): PhonePreview {
  const r = svc.renderDevice(mac, { baseUrl: opts.baseUrl, ...(opts.file !== undefined ? { file: opts.file } : {}), ...(opts.key !== undefined ? { key: opts.key } : {}) });
  const a = r.answer;
  return { file: r.file, status: a.status, outcome: a.outcome, contentType: a.headers['content-type'] ?? 'application/octet-stream', body: a.body };
}
