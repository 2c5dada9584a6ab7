/**
 * tokens.ts: the admin API's bearer tokens (`provisiond token create|list|revoke`, and the API's
 * authentication). A token is `pvd_` followed by 43 base64url characters (256 random bits); it is
 * printed once and only its SHA-256 is stored.
 *
 * Why a plain SHA-256 and not a password KDF: a token is 256 bits from the system's CSPRNG, not a
 * human secret, so no dictionary or brute-force search of the hash is feasible and a slow hash
 * would add nothing but a CPU cost on every API request (an attacker who reads the store learns
 * nothing usable). The lookup is by hash (an index), so the comparison's timing reveals nothing
 * about the token either.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ProvError } from '../errors';
import type { StoredToken, TokenRepository, TokenScope } from '../store/repository';

/** TOKEN_PREFIX marks provisiond tokens (secret scanners, logs, a glance). */
export const TOKEN_PREFIX = 'pvd_';

/** TOKEN_RE is the exact shape of a token; anything else is refused before any lookup. */
export const TOKEN_RE = /^pvd_[A-Za-z0-9_-]{43}$/;

/** MAX_TOKENS bounds the stored tokens (an operator command creates them; a runaway script must not grow the table forever). */
export const MAX_TOKENS = 1000;

/** hashToken is the hex SHA-256 of a token, as stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** generateToken makes a new token (256 random bits) and its public id. */
export function generateToken(): { token: string; id: string } {
  return { token: `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`, id: randomBytes(6).toString('hex') };
}

/** parseScopes reads `read`, `write`, `read,secrets`, `write,secrets`; write implies read. */
export function parseScopes(spec: string): TokenScope[] {
  const words = spec.split(',').map((w) => w.trim().toLowerCase()).filter((w) => w !== '');
  const out = new Set<TokenScope>();
  for (const w of words) {
    if (w !== 'read' && w !== 'write' && w !== 'secrets') throw new ProvError('PROVD_ERR_TOKEN', `scope '${w.slice(0, 20)}' is not one of read, write, secrets`);
    out.add(w);
  }
  if (!out.has('read') && !out.has('write')) throw new ProvError('PROVD_ERR_TOKEN', '--scope needs read or write (optionally with ,secrets)');
  if (out.has('write')) out.add('read');
  return (['read', 'write', 'secrets'] as const).filter((s) => out.has(s));
}

/** CreateToken is `token create`'s input (tenant null: every tenant). */
export interface CreateToken {
  readonly tenant: string | null;
  readonly scopes: readonly TokenScope[];
  readonly name?: string | undefined;
  readonly now?: Date;
}

/** createToken stores a new token's hash and returns the token (to print once) with its metadata. */
export async function createToken(repo: TokenRepository, t: CreateToken): Promise<{ token: string; meta: StoredToken }> {
  const name = t.name ?? '';
  if (name.length > 64 || /[\x00-\x1f\x7f]/.test(name)) throw new ProvError('PROVD_ERR_TOKEN', '--name must be at most 64 printable characters');
  if ((await repo.list()).length >= MAX_TOKENS) throw new ProvError('PROVD_ERR_TOKEN', `there are already ${MAX_TOKENS} tokens: revoke some first (provisiond token list)`);
  const { token, id } = generateToken();
  const meta: StoredToken = { id, hash: hashToken(token), name, tenant: t.tenant, scopes: [...t.scopes], createdAt: (t.now ?? new Date()).toISOString(), lastUsedAt: null };
  await repo.add(meta);
  return { token, meta };
}

/** TokenInfo is a token's metadata as listed (never the token or its hash). */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly tenant: string | null;
  readonly scopes: readonly TokenScope[];
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

/** tokenInfo drops the hash. */
export function tokenInfo(t: StoredToken): TokenInfo {
  return { id: t.id, name: t.name, tenant: t.tenant, scopes: t.scopes, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt };
}

/** revokeToken deletes a token by id, or refuses naming the ids. */
export async function revokeToken(repo: TokenRepository, id: string): Promise<void> {
  if (!/^[0-9a-f]{12}$/.test(id) || !(await repo.revoke(id))) throw new ProvError('PROVD_ERR_TOKEN', `no token with id '${id.slice(0, 40)}' (provisiond token list)`);
}

/** TOUCH_EVERY_MS: a token's last use is written at most once a minute (no write per request). */
const TOUCH_EVERY_MS = 60_000;

/**
 * TokenAuth resolves a bearer token to its stored metadata. It reads the store on every request
 * (a revoked token stops working at once, on every node of a shared store) and records the last
 * use at most once a minute per token.
 */
export class TokenAuth {
  private readonly touched = new Map<string, number>();

  constructor(private readonly repo: TokenRepository, private readonly now: () => number = Date.now) {}

  /** resolve returns the token's metadata, or undefined for a malformed or unknown token. */
  async resolve(token: string): Promise<StoredToken | undefined> {
    if (!TOKEN_RE.test(token)) return undefined;
    const t = await this.repo.byHash(hashToken(token));
    if (t === undefined) return undefined;
    const at = this.now();
    const last = this.touched.get(t.id) ?? 0;
    if (at - last >= TOUCH_EVERY_MS) {
      if (this.touched.size >= MAX_TOKENS) this.touched.clear();
      this.touched.set(t.id, at);
      // A failed write of the last use never fails the request.
      void this.repo.touch(t.id, new Date(at).toISOString()).catch(() => undefined);
    }
    return t;
  }
}
