/**
 * identify.ts: which vendor, model, firmware and MAC a phone's request comes from, and which of
 * the vendor's files it asks for. Pure, bounded work on hostile input.
 *
 * Order: the User-Agent picks the vendor (first profile whose regex matches, vendors sorted);
 * the file name (last path segment) is then matched against that vendor's per-device patterns
 * (deviceFiles, then macInPath; an all-zero MAC is no device) and common files. With no
 * User-Agent match, the file name alone decides when exactly one profile's pattern matches it,
 * or, when several do (`{mac}.cfg` is Yealink's and Fanvil's), the one whose OUIs hold the MAC, else the
 * one the MAC is recorded under (`KnownVendor`, the inventory).
 * The MAC comes from the User-Agent first, then from the path; when both exist and differ, the
 * User-Agent's is kept and `macConflict` says so (the MAC is attacker-controlled either way).
 */
import { isIP } from 'node:net';
import { normalizeMac } from '../devices/device';
import type { FilePattern, Profile } from './profile';

/** MAX_USER_AGENT and MAX_PATH cap the input: a longer value is ignored, never truncated (a prefix could match). */
export const MAX_USER_AGENT = 512;
export const MAX_PATH = 1024;
const MAX_FILE = 255;

/** PhoneRequest is what identification reads from a request. */
export interface PhoneRequest {
  readonly userAgent?: string | undefined;
  /** path is the request path (a query string is ignored) or a TFTP file name. */
  readonly path?: string | undefined;
  readonly ip?: string | undefined;
}

/**
 * KnownVendor names the profile a MAC is recorded under (the inventory), or undefined. It breaks
 * a tie when a file name alone fits several vendors and the OUIs do not decide (`{mac}.xml` is
 * Cisco SPA's, Snom's and Gigaset's).
 */
export type KnownVendor = (mac: string) => string | undefined;

/** FileKind: a per-device file (MAC in its name), a common file of the vendor, or a name the vendor's profile does not know. */
export type FileKind = 'device' | 'common' | 'unknown';

/** Identification is what a request says about its phone. */
export interface Identification {
  readonly vendor: string;
  readonly model?: string;
  readonly version?: string;
  readonly serial?: string;
  /** mac is `aa:bb:cc:dd:ee:ff`. */
  readonly mac?: string;
  /** ip is the source address when it is an IPv4 or IPv6 address. */
  readonly ip?: string;
  /** file is the requested file name (last path segment). */
  readonly file: string;
  readonly kind: FileKind;
  /** pattern is the profile pattern the file matched (absent for 'unknown'). */
  readonly pattern?: string;
  /** sensitive: the file carries SIP passwords (the profile's sensitiveFiles). */
  readonly sensitive: boolean;
  /** macConflict: the file name's MAC differs from the User-Agent's (kept in `mac`). */
  readonly macConflict?: { readonly userAgent: string; readonly path: string };
}

/** macFrom turns `00:15:65:4a:a9:37`, `00-08-5D-23-74-29` or `000413922D24` into `00:15:65:4a:a9:37`; undefined if it is no MAC. */
export function macFrom(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length > 17) return undefined;
  const hex = raw.replace(/[:-]/g, '');
  if (!/^[0-9A-Fa-f]{12}$/.test(hex)) return undefined;
  if (raw.length !== 12 && !/^[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$/.test(raw)) return undefined;
  return normalizeMac(hex.replace(/(..)(?!$)/g, '$1:'));
}

/** fileOf extracts the file name (last path segment, query and fragment removed, percent-decoded). */
export function fileOf(path: string): string | undefined {
  const bare = path.split(/[?#]/, 1)[0] ?? '';
  const last = bare.slice(bare.lastIndexOf('/') + 1);
  let name = last;
  if (last.includes('%')) {
    try {
      name = decodeURIComponent(last);
    } catch {
      return undefined;
    }
  }
  if (name === '' || name.length > MAX_FILE || /[/\\\0]/.test(name) || name === '.' || name === '..') return undefined;
  return name;
}

interface FileMatch {
  readonly kind: 'device' | 'common';
  readonly pattern: FilePattern;
  readonly mac?: string;
  readonly model?: string;
}

/** canonicalModel returns the profile's name for a captured model (case, `_`, `-` and spaces ignored), else the captured text. */
function canonicalModel(profile: Profile, captured: string, prefix = ''): string {
  const squash = (s: string): string => s.toLowerCase().replace(/[\s_-]/g, '');
  const a = squash(captured);
  const b = squash(prefix + captured);
  for (const name of profile.models.keys()) {
    const k = squash(name);
    if (k === a || k === b) return name;
  }
  return captured;
}

function modelOfHwid(profile: Profile, hwid: string): string | undefined {
  for (const [name, info] of profile.models) if (info.hardwareId === hwid) return name;
  return undefined;
}

/** matchFile matches a file name against one profile: per-device patterns first, then common files. */
function matchFile(profile: Profile, file: string): FileMatch | undefined {
  for (const pattern of [...profile.deviceFiles, ...profile.macInPath]) {
    const m = pattern.regex.exec(file);
    const mac = macFrom(m?.groups?.['mac']);
    if (!m || mac === undefined || mac === '00:00:00:00:00:00') continue;
    const model = m.groups?.['model'];
    return { kind: 'device', pattern, mac, ...(model !== undefined ? { model: canonicalModel(profile, model, pattern.modelPrefix) } : {}) };
  }
  for (const pattern of profile.commonFiles) {
    const m = pattern.regex.exec(file);
    if (!m) continue;
    const captured = m.groups?.['model'];
    const hwid = m.groups?.['hwid'];
    const model = captured !== undefined ? canonicalModel(profile, captured, pattern.modelPrefix) : hwid !== undefined ? modelOfHwid(profile, hwid) : undefined;
    return { kind: 'common', pattern, ...(model !== undefined ? { model } : {}) };
  }
  return undefined;
}

interface UaMatch {
  readonly profile: Profile;
  readonly model?: string;
  readonly version?: string;
  readonly serial?: string;
  readonly mac?: string;
}

function matchUserAgent(profiles: Iterable<Profile>, ua: string): UaMatch | undefined {
  for (const profile of profiles) {
    for (const re of profile.userAgents) {
      const m = re.exec(ua);
      if (!m) continue;
      const g = m.groups;
      const model = g?.['model']?.trim();
      const version = g?.['version'];
      const serial = g?.['serial'];
      const mac = macFrom(g?.['mac']);
      return {
        profile,
        ...(model ? { model: canonicalModel(profile, model) } : {}),
        ...(version ? { version } : {}),
        ...(serial ? { serial } : {}),
        ...(mac !== undefined ? { mac } : {}),
      };
    }
  }
  return undefined;
}

/** byPath picks the one profile a file name belongs to, using the OUIs when several patterns match. */
function byPath(profiles: Iterable<Profile>, file: string, known?: KnownVendor): { profile: Profile; match: FileMatch } | undefined {
  const hits: { profile: Profile; match: FileMatch }[] = [];
  for (const profile of profiles) {
    const match = matchFile(profile, file);
    if (match) hits.push({ profile, match });
  }
  if (hits.length <= 1) return hits[0];
  const byOui = hits.filter((h) => h.match.mac !== undefined && h.profile.ouis.has(h.match.mac.slice(0, 8)));
  if (byOui.length === 1) return byOui[0];
  // The inventory: the MAC (the same in every hit's reading of the name) is recorded under one of them.
  const mac = hits[0]?.match.mac;
  const vendor = mac !== undefined && hits.every((h) => h.match.mac === mac) ? known?.(mac) : undefined;
  return vendor === undefined ? undefined : hits.find((h) => h.profile.vendor === vendor);
}

/** identify says which vendor's phone sent a request and for which file, or undefined when no profile recognises it. */
export function identify(req: PhoneRequest, profiles: ReadonlyMap<string, Profile>, known?: KnownVendor): Identification | undefined {
  const ua = req.userAgent !== undefined && req.userAgent.length <= MAX_USER_AGENT ? req.userAgent.trim() : '';
  const file = req.path !== undefined && req.path.length <= MAX_PATH ? fileOf(req.path) : undefined;
  const ip = req.ip !== undefined && req.ip.length <= 64 && isIP(req.ip.trim()) !== 0 ? req.ip.trim() : undefined;
  const list = [...profiles.values()];

  const byUa = ua === '' ? undefined : matchUserAgent(list, ua);
  let profile: Profile;
  let fm: FileMatch | undefined;
  if (byUa) {
    profile = byUa.profile;
    fm = file === undefined ? undefined : matchFile(profile, file);
  } else {
    const hit = file === undefined ? undefined : byPath(list, file, known);
    if (!hit) return undefined;
    profile = hit.profile;
    fm = hit.match;
  }
  const mac = byUa?.mac ?? fm?.mac;
  const conflict = byUa?.mac !== undefined && fm?.mac !== undefined && byUa.mac !== fm.mac ? { userAgent: byUa.mac, path: fm.mac } : undefined;
  const model = byUa?.model ?? fm?.model;
  return {
    vendor: profile.vendor,
    ...(model !== undefined ? { model } : {}),
    ...(byUa?.version !== undefined ? { version: byUa.version } : {}),
    ...(byUa?.serial !== undefined ? { serial: byUa.serial } : {}),
    ...(mac !== undefined ? { mac } : {}),
    ...(ip ? { ip } : {}),
    file: file ?? '',
    kind: fm?.kind ?? 'unknown',
    ...(fm ? { pattern: fm.pattern.source } : {}),
    sensitive: fm !== undefined && fm.kind === 'device' && profile.sensitiveFiles.has(fm.pattern.source),
    ...(conflict ? { macConflict: conflict } : {}),
  };
}
