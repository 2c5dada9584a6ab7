/**
 * passwords.ts: stored password forms and their constant-time verification.
 *
 * Forms (the string stored in the config file or the store):
 *   $scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>   the normal form (node:crypto scrypt)
 *   md5:<32 hex digits>                                  imported from JitsiProvS (--pwd_fmt md5)
 *   plain:<password>                                     imported from JitsiProvS (--pwd_fmt plain)
 * The two import forms are weak: the daemon warns about them at startup, and a store user who
 * logs in with one is re-hashed with scrypt (see upgradeNeeded).
 *
 * scrypt runs off the event loop, through the KDF gate, on low-priority threads (kdf.ts).
 */
import { randomBytes, timingSafeEqual, createHash, createHmac } from 'node:crypto';
import { runScrypt } from './kdf';

/** DEFAULT_SCRYPT_LN is log2 of scrypt's N: 2^15 × r=8 × 128 B = 32 MiB and tens of ms per hash. */
export const DEFAULT_SCRYPT_LN = 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const SALT_BYTES = 16;

/** PasswordForm names a stored form. */
export type PasswordForm = 'scrypt' | 'md5' | 'plain';

/** ParsedHash is a stored password, parsed. */
export type ParsedHash =
  | { readonly form: 'scrypt'; readonly ln: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly form: 'md5'; readonly digest: Buffer }
  | { readonly form: 'plain'; readonly password: string };

const SCRYPT_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** parseHash parses a stored password string, or explains why it is not one. */
export function parseHash(s: string): { ok: true; value: ParsedHash } | { ok: false; error: string } {
  if (s.startsWith('plain:')) return { ok: true, value: { form: 'plain', password: s.slice(6) } };
  if (s.startsWith('md5:')) {
    const hex = s.slice(4);
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) return { ok: false, error: 'md5: must be followed by 32 hex digits' };
    return { ok: true, value: { form: 'md5', digest: Buffer.from(hex, 'hex') } };
  }
  const m = SCRYPT_RE.exec(s);
  if (!m) return { ok: false, error: "must be '$scrypt$ln=..,r=..,p=..$salt$hash' (see `provisiond user hash`), 'md5:<hex>' or 'plain:<password>'" };
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return { ok: false, error: 'scrypt parameters out of range (ln 10-20, r 1-32, p 1-16)' };
  const salt = Buffer.from(m[4] ?? '', 'base64');
  const hash = Buffer.from(m[5] ?? '', 'base64');
  if (salt.length < 8 || hash.length < 16) return { ok: false, error: 'scrypt salt or hash too short' };
  return { ok: true, value: { form: 'scrypt', ln, r, p, salt, hash } };
}

/** scryptAsync runs scrypt through the KDF gate on a low-priority thread (kdf.ts). */
function scryptAsync(password: string, salt: Buffer, ln: number, r: number, p: number, keylen: number, deadline?: number): Promise<Buffer> {
  return runScrypt(password, salt, ln, r, p, keylen, deadline);
}

/** hashPassword makes the normal stored form with a fresh random salt. */
export async function hashPassword(password: string, ln = DEFAULT_SCRYPT_LN): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, ln, R, P, KEYLEN);
  return `$scrypt$ln=${ln},r=${R},p=${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** EQ_KEY makes equal-length digests of arbitrary strings for the constant-time plain compare. */
const EQ_KEY = randomBytes(32);

function equalStrings(a: string, b: string): boolean {
  const da = createHmac('sha256', EQ_KEY).update(a, 'utf8').digest();
  const db = createHmac('sha256', EQ_KEY).update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

/**
 * verifyPassword checks a password against a parsed stored form, in constant time. With a
 * deadline (performance.now() time), a scrypt check still queued when it can no longer finish
 * by then rejects with KdfExpiredError (kdf.ts) without running.
 */
export async function verifyPassword(password: string, stored: ParsedHash, deadline?: number): Promise<boolean> {
  switch (stored.form) {
    case 'scrypt': {
      const got = await scryptAsync(password, stored.salt, stored.ln, stored.r, stored.p, stored.hash.length, deadline);
      return timingSafeEqual(got, stored.hash);
    }
    case 'md5': {
      // JitsiProvS: md5(password).hexdigest() == stored
      const got = createHash('md5').update(password, 'utf8').digest();
      return timingSafeEqual(got, stored.digest);
    }
    case 'plain':
      return equalStrings(password, stored.password);
  }
}

/** upgradeNeeded is true for the weak import forms (re-hashed after a successful login). */
export function upgradeNeeded(stored: ParsedHash): boolean {
  return stored.form !== 'scrypt';
}

let dummy: ParsedHash | undefined;

/**
 * burnVerification spends what a real verification would on a user that does not exist, so the
 * response time does not tell which user names exist.
 */
export async function burnVerification(password: string, ln = DEFAULT_SCRYPT_LN, deadline?: number): Promise<void> {
  if (dummy === undefined || dummy.form !== 'scrypt' || dummy.ln !== ln) {
    dummy = { form: 'scrypt', ln, r: R, p: P, salt: randomBytes(SALT_BYTES), hash: randomBytes(KEYLEN) };
  }
  await verifyPassword(password, dummy, deadline);
}
