/**
 * request.ts: what a provisioning request says about who sends it, shared by every client kind
 * (the Jitsi desktop client today, desk phones next). The fields arrive as one flat name → value
 * map however the face received them (form body, query string); this file names the fields a
 * client may use for its user, password and domain, and reads them.
 */

/** Params maps each parameter name to its (last) value; it has no prototype. */
export type Params = Readonly<Record<string, string>>;

/** USERNAME_FIELDS / PASSWORD_FIELDS: the names a URL may give the ${username}/${password} pair. */
export const USERNAME_FIELDS = ['username', 'user'] as const;
export const PASSWORD_FIELDS = ['password', 'pass'] as const;
/** DOMAIN_FIELD names the tenant when the user name has no @domain. */
export const DOMAIN_FIELD = 'domain';

/** firstOf is the value of the first of `names` the request carries. */
export function firstOf(params: Params, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = params[n];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Identity is who a request claims to be. */
export interface Identity {
  readonly domain: string;
  readonly name: string | undefined;
  readonly password: string | undefined;
  /** hasPair: the URL carried both a username field and a password field. */
  readonly hasPair: boolean;
}

/** identify splits `user@domain` (at the last @), else uses the domain field, else the default. */
export function identify(params: Params, defaultDomain: string): Identity {
  const rawUser = firstOf(params, USERNAME_FIELDS);
  const password = firstOf(params, PASSWORD_FIELDS);
  let name = rawUser?.trim();
  let domain: string | undefined;
  if (name !== undefined) {
    const at = name.lastIndexOf('@');
    if (at >= 0) {
      domain = name.slice(at + 1).trim().toLowerCase() || undefined;
      name = name.slice(0, at);
    }
  }
  domain ??= params[DOMAIN_FIELD]?.trim().toLowerCase() || defaultDomain;
  return { domain, name, password, hasPair: rawUser !== undefined && password !== undefined };
}

/** parseUserAgent reads `Product/version` from the first token of a User-Agent. */
export function parseUserAgent(ua: string): { product: string | undefined; version: string | undefined } {
  const m = /^([A-Za-z][\w.-]*)\/(\S+)/.exec(ua.trim());
  return m ? { product: m[1], version: m[2] } : { product: undefined, version: undefined };
}
