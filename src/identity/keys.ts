/**
 * keys.ts: provisioning keys (wazo-provd's `url_key`, done right).
 *
 * A key is the first path segment of a provisioning URL (`/<key>/jitsi`). `provisiond key
 * rotate` generates one (192 random bits, base64url), prints it once and stores only its
 * SHA-256 (a high-entropy key needs no slow KDF: there is nothing to guess). The previous key
 * of a tenant stays valid until the grace period ends. A presented key is hashed and compared
 * with every known hash in constant time, without an early exit, so the answer time says
 * nothing about which key or tenant was close.
 *
 * The daemon knows a key in clear only when the configuration gives it
 * (`provisioning.tenants.<T>.urlKey`): that is what lets the DHCP and mDNS faces advertise URLs
 * carrying it. Without it, the key lives only as a hash and is typed into clients by hand.
 *
 * Once the store holds a key of a tenant, the store alone decides which of its keys open it:
 * the urlKey is then only what the DHCP/mDNS faces advertise, and it opens the tenant only while
 * it is the tenant's current key or its previous one within the grace period. Otherwise a
 * rotation could never revoke a key kept in the configuration. `key rotate` records a urlKey
 * that the store does not know yet as the previous key, so it gets the grace period too.
 * urlKeyFindings says when a configured urlKey is not the current key.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyRepository, StoredKey, SyncKeyRepository } from '../store/repository';

/** KEY_BYTES is the entropy of a generated key (192 bits ≥ the 128 the issue asks for). */
export const KEY_BYTES = 24;
/** KEY_PATTERN is what a key may look like: base64url, 22 (128 bits) to 128 characters. */
export const KEY_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;

/** generateKey makes a new random key. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** hashKey is the stored form of a key: lower-case hex SHA-256. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** KeyEntry is one accepted key hash. */
export interface KeyEntry {
  readonly tenant: string;
  /** hash is the 32-byte SHA-256 of the key. */
  readonly hash: Buffer;
  /** expiresAt: epoch ms after which the key is refused; undefined = current key. */
  readonly expiresAt: number | undefined;
}

/** KeyRing resolves a presented key to its tenant. */
export class KeyRing {
  private readonly fixed: readonly KeyEntry[];

  /**
   * configKeys are the `urlKey`s of the configuration (tenant → key); `store` holds the keys made
   * by `provisiond key rotate` (read at every lookup, so a rotation needs no reload).
   */
  constructor(
    configKeys: ReadonlyMap<string, string>,
    private readonly store: KeyRepository | undefined,
    private readonly now: () => number = Date.now,
    /** syncStore: the SQLite store's core, for tenantOfNow (the SIP phone room resolves keys synchronously). */
    private readonly syncStore?: Pick<SyncKeyRepository, 'list'> | undefined,
  ) {
    this.fixed = [...configKeys].map(([tenant, key]) => ({ tenant, hash: Buffer.from(hashKey(key), 'hex'), expiresAt: undefined }));
  }

  /** tenantOf returns the tenant the key belongs to, or undefined for a wrong or expired key. */
  async tenantOf(presented: string): Promise<string | undefined> {
    return this.match(presented, (await this.store?.list()) ?? []);
  }

  /** tenantOfNow is tenantOf without waiting, on the SQLite store's core (if given). */
  tenantOfNow(presented: string): string | undefined {
    return this.match(presented, this.syncStore?.list() ?? []);
  }

  /** match finds the tenant of a presented key among the configured and the stored keys. */
  private match(presented: string, storedKeys: readonly StoredKey[]): string | undefined {
    // A malformed key is hashed and compared like any other: the same work for every miss.
    const h = createHash('sha256').update(presented, 'utf8').digest();
    const t = this.now();
    let found: string | undefined;
    const stored: KeyEntry[] = [];
    const managed = new Set<string>();
    for (const k of storedKeys) {
      stored.push({ tenant: k.tenant, hash: Buffer.from(k.hash, 'hex'), expiresAt: k.expiresAt === null ? undefined : Date.parse(k.expiresAt) });
      managed.add(k.tenant);
    }
    // A urlKey counts only for a tenant the store has no key of (see the file comment).
    for (const e of [...this.fixed.filter((f) => !managed.has(f.tenant)), ...stored]) {
      if (e.hash.length !== h.length) continue;
      const same = timingSafeEqual(e.hash, h);
      const live = e.expiresAt === undefined || e.expiresAt > t;
      if (same && live && found === undefined) found = e.tenant;
    }
    return found;
  }
}

/** UrlKeyFinding is a configured urlKey that is not its tenant's current key. */
export interface UrlKeyFinding {
  readonly tenant: string;
  /** state: previous = still valid (grace), expired = rotated out, unknown = not one of the tenant's stored keys. */
  readonly state: 'previous' | 'expired' | 'unknown';
  /** opens: whether the urlKey still opens the tenant now. */
  readonly opens: boolean;
  /** message says what it means and what to do; it never contains a key. */
  readonly message: string;
}

/**
 * urlKeyFindings compares each tenant's configured urlKey with the stored keys: a urlKey is fine
 * when the store has no key of that tenant (the urlKey is its key) or when it is the current one.
 */
export function urlKeyFindings(urlKeys: ReadonlyMap<string, string>, stored: readonly StoredKey[], now: number): UrlKeyFinding[] {
  const out: UrlKeyFinding[] = [];
  for (const [tenant, key] of urlKeys) {
    const mine = stored.filter((k) => k.tenant === tenant);
    if (mine.length === 0) continue;
    const h = hashKey(key);
    const match = mine.find((k) => k.hash === h);
    const current = mine.find((k) => k.expiresAt === null);
    const at = `provisioning.tenants.${tenant}.urlKey`;
    const fix = `Set ${at} to the current key (the one 'provisiond key rotate --tenant ${tenant}' printed${current ? ` at ${current.createdAt}` : ''}) and reload`;
    if (match?.expiresAt === null) continue;
    if (match && match.expiresAt !== null && Date.parse(match.expiresAt) > now) {
      out.push({ tenant, state: 'previous', opens: true, message: `${at} is ${tenant}'s previous key: it opens ${tenant} only until ${match.expiresAt} (rotation grace period); after that the URLs the DHCP/mDNS faces advertise for ${tenant} get 404. ${fix}` });
    } else if (match) {
      out.push({ tenant, state: 'expired', opens: false, message: `${at} is an expired key of ${tenant} (rotated out, valid until ${String(match.expiresAt)}): it no longer opens ${tenant}, and the URLs the DHCP/mDNS faces advertise for ${tenant} get 404. ${fix}` });
    } else {
      out.push({ tenant, state: 'unknown', opens: false, message: `${at} is none of ${tenant}'s valid keys (rotated out, or never made by 'provisiond key rotate', which manages ${tenant}'s keys): it does not open ${tenant}, and the URLs the DHCP/mDNS faces advertise for ${tenant} get 404. ${fix}` });
    }
  }
  return out;
}
