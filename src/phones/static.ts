/**
 * static.ts: a vendor profile's static files (firmware images, ringtones, language files), shipped
 * in `phones/profiles/<vendor>/files/` and overridden by a site's folders, answered with the
 * HTTP caching and range semantics phones use (issue 12 §5). Pure decisions over an injected file
 * system (stat and realpath only): the answer says which byte range of which file to stream, the
 * caller streams it (openStatic: a read stream of that range); nothing is ever read into memory.
 *
 * Lookup: `dirs` in order (site folders first, then the shipped one); the first directory holding
 * an entry of that name decides. The name must be a plain file name: 1-255 characters, no `/` or
 * `\`, no control character, no `..`, no leading dot (dotfiles are never served). The entry must be
 * a regular file, or a symlink whose target is a regular file inside the same directory (after
 * resolving every link); a symlink out of the directory, to a directory or to nothing is refused
 * and ends the lookup (404: the site named the file; a shipped file of the same name is not served
 * in its place). Cost: at most one lstat per directory, plus two realpaths and a stat for a symlink;
 * nothing is listed or cached.
 *
 * Validators: a strong ETag `"<size hex>-<mtime ms hex>"` (nginx's shape: the size and the
 * modification time, not a content hash; a file rewritten in place within the same millisecond at
 * the same size keeps its ETag: deploy with a rename), and Last-Modified from the mtime.
 * Conditionals in RFC 9110 §13.2.2 order: If-None-Match (weak comparison, `*`), else
 * If-Modified-Since → 304; then Range (GET only) unless If-Range (an ETag, compared strongly, or
 * the exact Last-Modified date) says the file changed. Range: one `bytes=` spec, `a-b`, `a-` or
 * `-n` → 206 with Content-Range; several specs → 200 with the whole file (simple, and legal: a
 * server may ignore Range); a syntactically invalid Range is ignored (200); a spec starting beyond
 * the end, or `-0` → 416 with `content-range: bytes *\/<size>`.
 */
import { constants, createReadStream, lstatSync, openSync, realpathSync, statSync, type ReadStream } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { contentTypeFor } from './serve';

/** StaticRequest is what answerStatic reads from a request. */
export interface StaticRequest {
  /** file is the requested file name (the last path segment, percent-decoded). */
  readonly file: string;
  readonly method: 'GET' | 'HEAD';
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly range?: string | undefined;
  readonly ifRange?: string | undefined;
}

/** StaticStat is the part of fs.Stats the lookup needs. */
export interface StaticStat {
  isFile(): boolean;
  isSymbolicLink(): boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

/** StaticFiles is the file system answerStatic uses: injected by tests, NODE_FILES otherwise. Each returns undefined when the path does not exist or cannot be read. */
export interface StaticFiles {
  /** lstat does not follow a final symlink. */
  lstat(path: string): StaticStat | undefined;
  /** stat follows symlinks. */
  stat(path: string): StaticStat | undefined;
  realpath(path: string): string | undefined;
}

const quiet = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined;
  }
};

/** NODE_FILES is the real file system. */
export const NODE_FILES: StaticFiles = {
  lstat: (p) => quiet(() => lstatSync(p)),
  stat: (p) => quiet(() => statSync(p)),
  realpath: (p) => quiet(() => realpathSync(p)),
};

/** STATIC_OPEN_FLAGS: read-only, never following a symlink put in place after the lookup. */
export const STATIC_OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/** StaticBody is the byte range to stream: `end` is inclusive, as fs.createReadStream takes it. */
export interface StaticBody {
  /** path is the file's real path (symlinks resolved). */
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

/** StaticAnswer is the answer to a static file request. */
export interface StaticAnswer {
  readonly status: 200 | 206 | 304 | 416;
  /** headers use lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** body: absent for HEAD, 304, 416 and an empty file. */
  readonly body?: StaticBody;
  /** path is the file that answered (real path), for the log. */
  readonly path: string;
}

/** StaticRefusal is why a name that exists in a directory is not served. */
export type StaticRefusal = 'bad-name' | 'not-a-file' | 'symlink-out' | 'dangling';

/** StaticLookup is the file found for a name, or why none is served. */
export type StaticLookup = { readonly path: string; readonly stat: StaticStat } | { readonly refused: StaticRefusal } | undefined;

/** FILES_DIR is the folder of a vendor profile that holds its static files. */
export const FILES_DIR = 'files';

/**
 * staticDirsFor lists where a vendor's static files are looked up: the site's
 * `<profilesDir>/<vendor>/files/` first (even when the site's profile.yaml does not replace the
 * shipped one), then the shipped `phones/profiles/<vendor>/files/`. Undefined for a name that is
 * no vendor folder name (profile.ts's rule).
 */
export function staticDirsFor(vendor: string, shippedDir: string, siteDir?: string): readonly string[] | undefined {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(vendor)) return undefined;
  return [...(siteDir === undefined ? [] : [join(siteDir, vendor, FILES_DIR)]), join(shippedDir, vendor, FILES_DIR)];
}

/** MAX_NAME bounds a static file name. */
export const MAX_NAME = 255;

/** safeStaticName tells whether a file name may be looked up at all. */
export function safeStaticName(file: string): boolean {
  return (
    file.length > 0 &&
    file.length <= MAX_NAME &&
    !file.startsWith('.') &&
    !file.includes('..') &&
    // eslint-disable-next-line no-control-regex
    !/[/\\\u0000-\u001f\u007f]/.test(file)
  );
}

const inside = (root: string, path: string): boolean => path.startsWith(root.endsWith(sep) ? root : root + sep);

/** lookupStatic finds `file` in the first of `dirs` that has an entry of that name. */
export function lookupStatic(file: string, dirs: readonly string[], files: StaticFiles = NODE_FILES): StaticLookup {
  if (!safeStaticName(file)) return { refused: 'bad-name' };
  for (const dir of dirs) {
    const candidate = join(dir, file);
    const l = files.lstat(candidate);
    if (l === undefined) continue;
    if (l.isFile()) return { path: candidate, stat: l };
    if (!l.isSymbolicLink()) return { refused: 'not-a-file' };
    const root = files.realpath(dir);
    const real = files.realpath(candidate);
    if (root === undefined || real === undefined) return { refused: 'dangling' };
    if (!inside(root, real)) return { refused: 'symlink-out' };
    const s = files.stat(real);
    if (s === undefined) return { refused: 'dangling' };
    if (!s.isFile()) return { refused: 'not-a-file' };
    return { path: real, stat: s };
  }
  return undefined;
}

/**
 * MEDIA_TYPES are the static files' own extensions (lower case); the text types of the rendered
 * files (`.cfg`, `.xml`, ...) come from serve.ts's CONTENT_TYPES, and anything else (firmware
 * `.ld`, `.rom`, `.bin`) is application/octet-stream.
 */
export const MEDIA_TYPES: ReadonlyMap<string, string> = new Map([
  ['.json', 'application/json'],
  ['.wav', 'audio/wav'],
  ['.mp3', 'audio/mpeg'],
  ['.ogg', 'audio/ogg'],
  ['.png', 'image/png'],
  ['.jpg', 'image/jpeg'],
  ['.jpeg', 'image/jpeg'],
  ['.gif', 'image/gif'],
  ['.bmp', 'image/bmp'],
  ['.zip', 'application/zip'],
  ['.gz', 'application/gzip'],
  ['.tar', 'application/x-tar'],
]);

/** contentTypeOf is the Content-Type of a static file name. */
export function contentTypeOf(file: string): string {
  return MEDIA_TYPES.get(extname(file).toLowerCase()) ?? contentTypeFor(file);
}

/** CACHE_CONTROL: caches may keep a static file but must revalidate it (a 304 is cheap; a site may replace a file). */
export const CACHE_CONTROL = 'no-cache';

/** etagOf is the strong ETag of a file: its size and modification time in milliseconds, in hex. */
export function etagOf(s: StaticStat): string {
  return `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`;
}

/** MAX_TAGS bounds the entity tags read from one If-None-Match. */
const MAX_TAGS = 64;

/** noneMatch tells whether If-None-Match matches `etag` (weak comparison: a W/ prefix is ignored on both). */
export function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return header
    .split(',', MAX_TAGS)
    .map((t) => t.trim().replace(/^W\//, ''))
    .includes(opaque);
}

/** httpDate parses an HTTP date; undefined when it is none (then the header is ignored). */
function httpDate(v: string | undefined): number | undefined {
  if (v === undefined || v.length > 64) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** ByteRange is one parsed Range: a satisfiable [start, end] (inclusive), or unsatisfiable, or to be ignored. */
export type ByteRange = { readonly start: number; readonly end: number } | 'unsatisfiable' | 'ignore';

const DIGITS = /^[0-9]{1,15}$/;

/**
 * parseRange reads a Range header against a file of `size` bytes: one `bytes=` spec gives its
 * range or 'unsatisfiable'; several specs, another unit or bad syntax give 'ignore' (the whole file).
 */
export function parseRange(header: string, size: number): ByteRange {
  if (header.length > 256) return 'ignore';
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return 'ignore';
  const specs = (m[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return 'ignore';
  const spec = specs[0] ?? '';
  const dash = spec.indexOf('-');
  if (dash < 0) return 'ignore';
  const a = spec.slice(0, dash).trim();
  const b = spec.slice(dash + 1).trim();
  if (a === '') {
    if (!DIGITS.test(b)) return 'ignore';
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  if (!DIGITS.test(a) || (b !== '' && !DIGITS.test(b))) return 'ignore';
  const start = Number(a);
  const last = b === '' ? size - 1 : Number(b);
  if (b !== '' && last < start) return 'ignore';
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

/** ifRangeHolds: the If-Range validator still describes the file (an ETag compared strongly, or the exact Last-Modified date). */
function ifRangeHolds(v: string, etag: string, lastModified: string): boolean {
  const t = v.trim();
  if (t.startsWith('W/')) return false;
  if (t.startsWith('"')) return t === etag;
  return t === lastModified;
}

/**
 * answerStatic answers a GET or HEAD of a static file, or returns undefined when no directory
 * serves that name (the caller falls through to its 404; lookupStatic says why, for a log line).
 */
export function answerStatic(req: StaticRequest, dirs: readonly string[], files: StaticFiles = NODE_FILES): StaticAnswer | undefined {
  const found = lookupStatic(req.file, dirs, files);
  if (found === undefined || 'refused' in found) return undefined;
  const { path, stat } = found;
  const size = stat.size;
  const etag = etagOf(stat);
  const lastModified = new Date(Math.floor(stat.mtimeMs)).toUTCString();
  const validators = { etag, 'last-modified': lastModified, 'cache-control': CACHE_CONTROL };
  if (req.ifNoneMatch !== undefined ? noneMatch(req.ifNoneMatch, etag) : notModifiedSince(req.ifModifiedSince, stat.mtimeMs)) {
    return { status: 304, headers: validators, path };
  }
  const base = { ...validators, 'content-type': contentTypeOf(req.file), 'accept-ranges': 'bytes' };
  const whole = (): StaticAnswer => ({
    status: 200,
    headers: { ...base, 'content-length': String(size) },
    ...(req.method === 'GET' && size > 0 ? { body: { path, start: 0, end: size - 1 } } : {}),
    path,
  });
  // RFC 9110 §14.2: Range is defined for GET only.
  if (req.method !== 'GET' || req.range === undefined) return whole();
  if (req.ifRange !== undefined && !ifRangeHolds(req.ifRange, etag, lastModified)) return whole();
  const r = parseRange(req.range, size);
  if (r === 'ignore') return whole();
  if (r === 'unsatisfiable') return { status: 416, headers: { ...base, 'content-range': `bytes */${size}`, 'content-length': '0' }, path };
  return {
    status: 206,
    headers: { ...base, 'content-range': `bytes ${r.start}-${r.end}/${size}`, 'content-length': String(r.end - r.start + 1) },
    body: { path, start: r.start, end: r.end },
    path,
  };
}

/**
 * openStatic opens an answer's body for streaming (the file's real path, STATIC_OPEN_FLAGS, the
 * answer's byte range), or returns undefined when it cannot be opened any more (removed, or
 * replaced by a symlink since the lookup): the caller calls it before writing the status and
 * answers 404 then. A file that shrank after the lookup ends the stream early: the caller then
 * destroys the connection (the Content-Length was promised).
 */
export function openStatic(body: StaticBody): ReadStream | undefined {
  let fd: number;
  try {
    fd = openSync(body.path, STATIC_OPEN_FLAGS);
  } catch {
    return undefined;
  }
  return createReadStream('', { fd, start: body.start, end: body.end, autoClose: true });
}

/** notModifiedSince: If-Modified-Since is a date at or after the mtime (to the second, as Last-Modified says it). */
function notModifiedSince(v: string | undefined, mtimeMs: number): boolean {
  const t = httpDate(v);
  return t !== undefined && Math.floor(mtimeMs / 1000) * 1000 <= t;
}
