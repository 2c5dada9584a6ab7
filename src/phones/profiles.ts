/**
 * profiles.ts: load every vendor profile, the shipped ones and the site's.
 *
 * Layout: `<dir>/<vendor>/profile.yaml`, one folder per vendor family. The shipped folder is
 * `phones/profiles/` at the package root; a site folder (under the configuration directory) adds
 * vendors, and a site folder with a shipped vendor's name replaces that profile entirely (no
 * merge: what the site wrote is what runs). Every problem is collected and returned with its file
 * and line; nothing is thrown. A vendor whose profile has a problem is left out of the result.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile, type Profile, type ProfileProblem } from './profile';

/** PROFILE_FILE is the name of the file each vendor folder holds. */
export const PROFILE_FILE = 'profile.yaml';

const MAX_PROFILE_BYTES = 256 * 1024;

/** LoadedProfiles is the result of loadProfiles: the profiles by vendor (sorted) and every problem. */
export interface LoadedProfiles {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly problems: readonly ProfileProblem[];
}

/** shippedProfilesDir is the profiles folder installed with the package (this file runs as dist/src/phones/profiles.js). */
export function shippedProfilesDir(): string {
  return join(__dirname, '..', '..', '..', 'phones', 'profiles');
}

/** loadProfiles reads `shippedDir` and, when given, `siteDir` (which overrides a vendor by folder name). */
export function loadProfiles(shippedDir: string, siteDir?: string): LoadedProfiles {
  const problems: ProfileProblem[] = [];
  const folders = new Map<string, string>(); // vendor -> folder
  for (const dir of siteDir === undefined ? [shippedDir] : [shippedDir, siteDir]) {
    for (const [vendor, folder] of vendorFolders(dir, dir === siteDir && dir !== shippedDir, problems)) folders.set(vendor, folder);
  }
  const profiles = new Map<string, Profile>();
  for (const vendor of [...folders.keys()].sort()) {
    const folder = folders.get(vendor) as string;
    const file = join(folder, PROFILE_FILE);
    const text = readText(file, problems);
    if (text === undefined) continue;
    let r: ReturnType<typeof parseProfile>;
    try {
      r = parseProfile(text, file);
    } catch (err) {
      // parseProfile reports problems as values; this boundary keeps an unforeseen throw one too.
      problems.push({ file, path: '', message: `cannot load: ${err instanceof Error ? err.message : String(err)}` });
      continue;
    }
    problems.push(...r.problems);
    if (!r.profile) continue;
    if (r.profile.vendor !== vendor) {
      problems.push({ file, path: 'vendor', message: `vendor '${r.profile.vendor}' differs from its folder name '${vendor}'`, ...vendorLine(text) });
      continue;
    }
    profiles.set(vendor, r.profile);
  }
  return { profiles, problems };
}

/** vendorFolders lists the vendor folders of `dir`; a missing site folder is no problem, a missing shipped one is. */
function vendorFolders(dir: string, optional: boolean, problems: ProfileProblem[]): [string, string][] {
  let names: string[];
  try {
    if (optional && !existsSync(dir)) return [];
    names = readdirSync(dir).sort();
  } catch (err) {
    problems.push({ file: dir, path: '', message: `cannot read the profiles folder: ${err instanceof Error ? err.message : String(err)}` });
    return [];
  }
  const out: [string, string][] = [];
  for (const name of names) {
    const folder = join(dir, name);
    try {
      if (!statSync(folder).isDirectory()) continue;
    } catch {
      continue;
    }
    if (name.startsWith('.')) continue;
    // A site folder may hold only static files (files/) for a shipped vendor: no profile then.
    if (optional && !existsSync(join(folder, PROFILE_FILE))) {
      if (!existsSync(join(folder, 'files'))) problems.push({ file: folder, path: '', message: `neither ${PROFILE_FILE} (a profile) nor files/ (static files)` });
      continue;
    }
    out.push([name, folder]);
  }
  return out;
}

function readText(file: string, problems: ProfileProblem[]): string | undefined {
  try {
    const st = statSync(file);
    if (st.size > MAX_PROFILE_BYTES) {
      problems.push({ file, path: '', message: `larger than ${MAX_PROFILE_BYTES} bytes` });
      return undefined;
    }
    return readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, path: '', message: `cannot read: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

/** vendorLine finds the line of the top-level `vendor:` key. */
function vendorLine(text: string): { line?: number; col?: number } {
  const i = text.split('\n').findIndex((l) => /^vendor\s*:/.test(l));
  return i < 0 ? {} : { line: i + 1, col: 1 };
}
