/**
 * users.ts (service): the store users of one tenant, as the CLI (`provisiond user …`) and the
 * admin API manage them. The rules (names, config users refused, attribute edits) are
 * src/identity/users.ts's; this file composes them into whole operations: a password is asked
 * for (a prompt, or a request body) only once the user is known to be addable, and is hashed
 * here, never stored or returned in clear.
 */
import { ProvError } from '../errors';
import { hashPassword } from '../identity/passwords';
import { addUser, assertNewUser, assertNotInConfig, assertStoredUser, deleteUser, setUserAttributes, setUserPassword, shownAttributes, formOf, type ProvisioningSection, type UserRef } from '../identity/users';
import type { StoredUser, UserRepository } from '../store/repository';

/** UserView is a store user as shown: the hash only with `secrets`, secret-like attributes redacted without. */
export interface UserView {
  readonly name: string;
  readonly domain: string;
  /** passwordForm: scrypt, md5, plain… (the hash's kind, never the hash). */
  readonly passwordForm: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly passwordHash?: string;
}

/** userView shows a stored user; `secrets` shows the hash and every attribute value. */
export function userView(u: StoredUser, secrets: boolean): UserView {
  return {
    name: u.name,
    domain: u.domain,
    passwordForm: formOf(u.passwordHash),
    attributes: secrets ? { ...u.attributes } : shownAttributes(u.attributes),
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
    ...(secrets ? { passwordHash: u.passwordHash } : {}),
  };
}

/** Page is one page of a list and the list's size. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

/** page cuts a page out of a list. */
export function page<T>(list: readonly T[], limit: number, offset: number): Page<T> {
  return { items: list.slice(offset, offset + limit), total: list.length, limit, offset };
}

/** listTenantUsers is a tenant's store users, by name. */
export async function listTenantUsers(users: UserRepository, tenant: string): Promise<StoredUser[]> {
  return users.list(tenant);
}

/** getTenantUser is one store user of a tenant (undefined: none). */
export async function getTenantUser(users: UserRepository, ref: UserRef): Promise<StoredUser | undefined> {
  return users.get(ref.domain, ref.name);
}

/**
 * createUser adds a store user: refused when the configuration file defines it or the store has
 * it; then the password is asked for (`password()`: a prompt, or a request's field) and hashed.
 */
export async function createUser(users: UserRepository, prov: ProvisioningSection & { readonly passwords: { readonly scryptCost: number } }, ref: UserRef, password: () => Promise<string>, attributes: Record<string, string>): Promise<void> {
  assertNotInConfig(prov, ref);
  await assertNewUser(users, ref);
  const hash = await hashPassword(await password(), prov.passwords.scryptCost);
  await addUser(users, ref, hash, attributes);
}

/** changePassword replaces a store user's password (asked for once the user is known to exist). */
export async function changePassword(users: UserRepository, prov: ProvisioningSection & { readonly passwords: { readonly scryptCost: number } }, ref: UserRef, password: () => Promise<string>): Promise<void> {
  assertNotInConfig(prov, ref);
  await assertStoredUser(users, ref);
  const hash = await hashPassword(await password(), prov.passwords.scryptCost);
  await setUserPassword(users, ref, hash);
}

/** changeAttributes sets, then unsets, a store user's attributes; it returns them. */
export async function changeAttributes(users: UserRepository, prov: ProvisioningSection, ref: UserRef, set: Readonly<Record<string, string>>, unset: readonly string[]): Promise<Record<string, string>> {
  assertNotInConfig(prov, ref);
  return setUserAttributes(users, ref, set, unset);
}

/** removeUser deletes a store user. */
export async function removeUser(users: UserRepository, prov: ProvisioningSection, ref: UserRef): Promise<void> {
  await deleteUser(users, prov, ref);
}

/** MAX_PASSWORD bounds a password given to the service (bytes of UTF-8). */
export const MAX_PASSWORD = 1024;

/** checkPassword refuses an empty or oversized password. */
export function checkPassword(pw: string): string {
  if (pw.length === 0 || Buffer.byteLength(pw, 'utf8') > MAX_PASSWORD) throw new ProvError('PROVD_ERR_USER', `a password is 1 to ${MAX_PASSWORD} bytes`);
  return pw;
}
