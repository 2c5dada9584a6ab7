/**
 * domain.ts: the phones room as the daemon and the CLI load it from the `phones` section: the
 * vendor profiles (shipped, then the site's `profilesDir`), each with where it came from, and
 * every problem as a formatted line (file:line:col). Pure apart from reading the profile files.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from './profile';
import { formatProfileProblem } from './profile';
import { loadProfiles, shippedProfilesDir } from './profiles';
import type { PhonesConfig } from './config';

/** LoadedProfile is one profile with the file it was read from and whether that is shipped or the site's. */
export interface LoadedProfile {
  readonly profile: Profile;
  readonly source: 'shipped' | 'site';
  readonly file: string;
}

/** PhonesDomain is what `phones` loads: profiles by vendor (sorted) and every problem, formatted. */
export interface PhonesDomain {
  readonly profiles: ReadonlyMap<string, LoadedProfile>;
  readonly problems: readonly string[];
  readonly shippedDir: string;
  readonly siteDir: string | undefined;
}

/** loadPhonesDomain loads the profiles a `phones` section names; `shippedDir` is injectable for tests. */
export function loadPhonesDomain(cfg: Pick<PhonesConfig, 'profilesDir'>, shippedDir: string = shippedProfilesDir()): PhonesDomain {
  const siteDir = cfg.profilesDir;
  const r = loadProfiles(shippedDir, siteDir);
  const profiles = new Map<string, LoadedProfile>();
  for (const [vendor, profile] of r.profiles) {
    const site = siteDir !== undefined && existsSync(join(siteDir, vendor, 'profile.yaml'));
    profiles.set(vendor, { profile, source: site ? 'site' : 'shipped', file: profile.source });
  }
  return { profiles, problems: r.problems.map(formatProfileProblem), shippedDir, siteDir };
}
