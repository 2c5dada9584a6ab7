/**
 * bans.ts (service): the faces' live bans, listed and lifted, for the control socket
 * (`provisiond bans list|lift`) and the admin API. A tenant sees and lifts only the user bans of
 * its own users (`name@tenant`); address bans belong to no tenant.
 */
import { ProvError } from '../errors';
import { matches, type Subject } from '../control/protocol';
import type { FaceBans } from '../limits/banstore';

/** BanRow is one listed ban (times ISO-8601). */
export interface BanRow {
  readonly face: string;
  readonly scope: string;
  readonly subject: string;
  readonly since: string;
  readonly until: string;
  readonly reason: string;
}

function row(face: string, b: { scope: string; subject: string; since: number; until: number; reason: string }): BanRow {
  return { face, scope: b.scope, subject: b.subject, since: new Date(b.since).toISOString(), until: new Date(b.until).toISOString(), reason: b.reason };
}

/** ofTenant tells whether a ban is visible to a tenant (null: every tenant, every ban). */
function ofTenant(ban: { scope: string; subject: string }, tenant: string | null): boolean {
  return tenant === null || (ban.scope === 'user' && ban.subject.toLowerCase().endsWith(`@${tenant}`));
}

/** listBans is every face's live bans a tenant (or null: every tenant) may see. */
export function listBans(controls: ReadonlyMap<string, FaceBans>, tenant: string | null = null): BanRow[] {
  const out: BanRow[] = [];
  for (const [face, b] of controls) for (const ban of b.list()) if (ofTenant(ban, tenant)) out.push(row(face, ban));
  return out;
}

/** liftBans ends the bans the subject names (of the tenant's, when one is given); none is PROVD_ERR_BAN. */
export function liftBans(controls: ReadonlyMap<string, FaceBans>, subject: Subject, tenant: string | null = null): BanRow[] {
  const lifted: BanRow[] = [];
  for (const [face, b] of controls) for (const ban of b.lift((x) => ofTenant(x, tenant) && matches(subject, x))) lifted.push(row(face, ban));
  if (lifted.length === 0) throw new ProvError('PROVD_ERR_BAN', `no live ban matches ${subject.scope === 'ip' ? subject.ip : subject.user}`);
  return lifted;
}
