/**
 * doccache.ts: rendered Jitsi documents, reused while the inputs that decide them are the same
 * (issue 15 §2). A warm boot storm asks for the same few documents thousands of times a second;
 * a hit costs one key string and one Map lookup instead of rules, templates and the encoder.
 *
 * The key (documentKey) is everything the document is a function of:
 *   - the tenant (its attributes, wipe list and directives are fixed per configuration);
 *   - the user record's identity: name, domain, password-hash fingerprint and all attributes
 *     (a password change or any attribute change is a new key, whether a template reads it or not);
 *   - the provisioning key on the path (a rotated key is a new key);
 *   - which rules match (Resolution.id: the winners are a function of it);
 *   - the value at every context path the winning templates read (Resolution.reads).
 * The cache belongs to one Engine, that is one configuration: a reload starts empty. A
 * resolution whose templates' reads are unknown (Resolution.reads null) is never cached, nor
 * anything but a 200. Only requests that passed every access check reach it (engine.ts), so a
 * hit never skips authentication.
 *
 * Bounded: at most maxEntries documents and maxBytes of keys and bodies together (a template
 * may read a parameter the client chooses, so a key can be as long as the body limit allows);
 * the oldest entry goes first (insertion order). A document larger than a quarter of maxBytes is
 * not kept.
 */
import type { RenderContext } from '../templates/context';
import type { ContextPath } from '../templates/templates';
import type { UserRecord } from '../identity/auth';
import type { PropertyLine } from './properties';
import type { Resolution } from './rules';

/** DEFAULT_DOCUMENT_CACHE_SIZE: documents kept per configuration (≈ 1-2 KB each). */
export const DEFAULT_DOCUMENT_CACHE_SIZE = 4096;
/** DEFAULT_DOCUMENT_CACHE_BYTES bounds the keys and bodies kept (UTF-16 code units × 2). */
export const DEFAULT_DOCUMENT_CACHE_BYTES = 16 * 1024 * 1024;

/** CachedDocument is one rendered document, shared (read-only) by every request it answers. */
export interface CachedDocument {
  readonly body: string;
  readonly lines: readonly PropertyLine[];
}

/** field appends one length-prefixed component, so no two component lists give the same key. */
function field(s: string): string {
  return `${s.length}:${s}`;
}

/** valueAt encodes the context value at a path (type-tagged; objects as JSON). */
function valueAt(ctx: RenderContext, path: ContextPath): string {
  let v: unknown = ctx;
  let depth = 0;
  for (const k of path) {
    if (v === null || v === undefined || typeof v !== 'object') break;
    v = Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
    depth++;
  }
  // depth says where the walk stopped: `a.b` of a string `a` is a different input than of an object.
  switch (typeof v) {
    case 'string':
      return `${depth}s${field(v)}`;
    case 'undefined':
      return `${depth}u`;
    case 'number':
    case 'boolean':
      return `${depth}${typeof v === 'number' ? 'n' : 'b'}${field(String(v))}`;
    default:
      return v === null ? `${depth}z` : `${depth}o${field(JSON.stringify(v) ?? '')}`;
  }
}

const userPrints = new WeakMap<UserRecord, string>();

/** userPrint identifies a user record's name, domain, password hash and attributes. */
function userPrint(rec: UserRecord): string {
  let p = userPrints.get(rec);
  if (p === undefined) {
    p = field(rec.domain) + field(rec.name) + field(rec.fingerprint) + field(JSON.stringify(rec.attributes));
    // Config users are one object per configuration; store users are read afresh per request.
    if (rec.source === 'config') userPrints.set(rec, p);
  }
  return p;
}

/** documentKey is the cache key of the document for these inputs, undefined when it must not be cached. */
export function documentKey(tenant: string, rec: UserRecord | null, urlKey: string | undefined, res: Resolution, ctx: RenderContext): string | undefined {
  if (res.reads === null) return undefined;
  let key = field(tenant) + (rec === null ? '-' : `+${userPrint(rec)}`) + (urlKey === undefined ? '-' : `+${field(urlKey)}`) + field(res.id);
  for (const p of res.reads) key += valueAt(ctx, p);
  return key;
}

/** DocumentCache holds rendered documents by documentKey, bounded, oldest out first. */
export class DocumentCache {
  private readonly docs = new Map<string, CachedDocument>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxEntries: number = DEFAULT_DOCUMENT_CACHE_SIZE,
    readonly maxBytes: number = DEFAULT_DOCUMENT_CACHE_BYTES,
  ) {}

  get size(): number {
    return this.docs.size;
  }

  /** weight is what an entry holds, in bytes (strings counted at two bytes a code unit). */
  get weight(): number {
    return this.bytes;
  }

  get(key: string): CachedDocument | undefined {
    const d = this.docs.get(key);
    if (d === undefined) this.misses++;
    else this.hits++;
    return d;
  }

  set(key: string, doc: CachedDocument): void {
    const w = 2 * (key.length + doc.body.length);
    if (this.maxEntries <= 0 || w > this.maxBytes / 4 || this.docs.has(key)) return;
    while (this.docs.size > 0 && (this.docs.size >= this.maxEntries || this.bytes + w > this.maxBytes)) {
      const oldest = this.docs.entries().next();
      if (oldest.done === true) break;
      this.docs.delete(oldest.value[0]);
      this.bytes -= 2 * (oldest.value[0].length + oldest.value[1].body.length);
    }
    this.docs.set(key, doc);
    this.bytes += w;
  }
}
