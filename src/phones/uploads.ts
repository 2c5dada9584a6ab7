/**
 * uploads.ts: what a phone PUTs (Polycom's logs and user overrides, sip-phones.md §3: "uploads
 * (PUT) `<mac>-boot.log`, `<mac>-app.log`, `<mac>-phone.cfg`, `<mac>-web.cfg`"; "A GET-only server
 * answers them with errors; accept, discard or store them, but answer cleanly").
 *
 * classifyUpload says whether a file name is an upload: `<12 hex digits><suffix>` where the suffix
 * is one of UPLOAD_KINDS and a loaded profile lists `{mac}<suffix>` (or `{MAC}<suffix>`) in its
 * `macInPath`, so a site profile that drops a name stops its uploads. An all-zero MAC is the
 * vendor's common file, never an upload. Anything else is not an upload: the caller answers a PUT
 * of it 404 (a 404 says "no such file here", what a GET-only server says too; a 405 would name the
 * method as the fault, and our references say nothing of how Polycom retries on either). An
 * upload name is never refused for its method: every one gets a 2xx unless its body is too large.
 *
 * storeUpload writes `stateDir/uploads/<mac>/<file>` (`<mac>` as 12 lower-case hex digits) or
 * discards it, per `phones.uploads`:
 *   - each PUT carries the whole file and **replaces** the stored one (no append: a stored file is
 *     bounded by `maxBytes`, and a phone that re-sends its log does not duplicate it);
 *   - atomically: a temporary dotfile in the same folder (O_EXCL, O_NOFOLLOW, mode 0600), fsync,
 *     rename over the final name (a rename replaces a symlink there, never follows it); the
 *     uploads and MAC folders are created 0700 and refused when they are symlinks or not folders;
 *   - bounded: a body over `maxBytes` is 413 (in both modes); a new file beyond `maxFilesPerMac`
 *     in its MAC's folder, or a new MAC folder beyond `maxMacs`, is dropped with 204 and
 *     `stored: false` (the phone is answered cleanly; the caller counts and logs the reason).
 *     On disk: at most maxMacs × maxFilesPerMac × maxBytes (1000 × 8 × 1 MiB by default), plus a
 *     temporary file per upload in progress (and any a crash left behind: dotfiles, never counted
 *     or served);
 *   - concurrent PUTs of one file: each writes its own temporary file, the last rename wins; the
 *     caps are checked before writing, so racing new files may pass a cap by the number racing.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors';
import { fileNameFor, type Profile } from './profile';

/** UploadKind is what an uploaded file is. */
export type UploadKind = 'boot-log' | 'app-log' | 'phone-override' | 'web-override' | 'directory' | 'calls';

/**
 * UPLOAD_KINDS maps a file-name suffix (after the MAC) to its kind. The first four are the uploads
 * of sip-phones.md §3; `-directory.xml` (a file the phone also fetches) and `-calls.xml` are the
 * contact directory and call lists a phone may upload: not in our references, unverified.
 */
export const UPLOAD_KINDS: ReadonlyMap<string, UploadKind> = new Map([
  ['-boot.log', 'boot-log'],
  ['-app.log', 'app-log'],
  ['-phone.cfg', 'phone-override'],
  ['-web.cfg', 'web-override'],
  ['-directory.xml', 'directory'],
  ['-calls.xml', 'calls'],
]);

/** UploadTarget is an upload's phone and file. */
export interface UploadTarget {
  readonly vendor: string;
  /** mac is `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  readonly kind: UploadKind;
  /** file is the name in the vendor's MAC case (as the profile pattern writes it): the stored name. */
  readonly file: string;
}

const UPLOAD_NAME = /^([0-9A-Fa-f]{12})(-[a-z]{1,16}\.[a-z]{3})$/i;

/** classifyUpload tells which phone and kind an upload file name is, or undefined when it is none (see the file comment). */
export function classifyUpload(file: string, profiles: ReadonlyMap<string, Profile>): UploadTarget | undefined {
  if (file.length > 64) return undefined;
  const m = UPLOAD_NAME.exec(file);
  if (!m) return undefined;
  const hex = (m[1] ?? '').toLowerCase();
  const suffix = (m[2] ?? '').toLowerCase();
  const kind = UPLOAD_KINDS.get(suffix);
  if (kind === undefined || /^0{12}$/.test(hex)) return undefined;
  const mac = hex.replace(/(..)(?!$)/g, '$1:');
  for (const vendor of [...profiles.keys()].sort()) {
    const profile = profiles.get(vendor);
    for (const pattern of profile?.macInPath ?? []) {
      if (pattern.source.toLowerCase() !== `{mac}${suffix}` || !pattern.regex.test(file)) continue;
      const name = fileNameFor(pattern, mac);
      if (name !== undefined) return { vendor, mac, kind, file: name };
    }
  }
  return undefined;
}

/** UploadOptions are `phones.uploads`, `phones.maxUploadBytes` and the caps. */
export interface UploadOptions {
  readonly mode: 'discard' | 'store';
  readonly maxBytes: number;
  /** maxFilesPerMac: files kept per phone (default 8). */
  readonly maxFilesPerMac?: number;
  /** maxMacs: phones with an uploads folder (default 1000). */
  readonly maxMacs?: number;
}

/** UploadReason says what became of an upload. */
export type UploadReason = 'created' | 'replaced' | 'discarded' | 'too-large' | 'file-cap' | 'mac-cap' | 'bad-mac' | 'bad-name' | 'unsafe-path' | 'write-failed';

/** UploadResult is the answer to one PUT: the status to send, whether it is on disk, and why. */
export interface UploadResult {
  readonly status: 201 | 204 | 400 | 413 | 500;
  readonly stored: boolean;
  readonly reason: UploadReason;
  /** path is the stored file. */
  readonly path?: string;
  /** error is the file system's message for `unsafe-path` and `write-failed` (for the log). */
  readonly error?: string;
}

export const DEFAULT_MAX_FILES_PER_MAC = 8;
export const DEFAULT_MAX_MACS = 1000;
const HEX12 = /^[0-9a-f]{12}$/;
const STORED_NAME = /^[0-9A-Fa-f]{12}-[A-Za-z0-9._-]{1,51}$/;

/** folder makes sure `dir` is a real folder (created 0700 when missing); a symlink or a file there is refused. */
async function folder(dir: string): Promise<'ok' | 'created' | string> {
  const s = await lstat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  if (s === undefined) {
    try {
      await mkdir(dir, { mode: 0o700 });
      return 'created';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return folder(dir); // created by a concurrent upload: check what is there now
    }
  }
  return s.isDirectory() && !s.isSymbolicLink() ? 'ok' : `${dir} is not a folder (a symlink or a file)`;
}

const drop = (reason: UploadReason): UploadResult => ({ status: 204, stored: false, reason });

/** storeUpload stores or discards one upload (see the file comment). It never throws. */
export async function storeUpload(stateDir: string, mac: string, file: string, body: Buffer, opts: UploadOptions): Promise<UploadResult> {
  const hex = mac.replace(/[:-]/g, '').toLowerCase();
  if (!HEX12.test(hex) || !/^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$/.test(mac)) return { status: 400, stored: false, reason: 'bad-mac' };
  if (!STORED_NAME.test(file) || file.includes('..') || file.slice(0, 12).toLowerCase() !== hex) return { status: 400, stored: false, reason: 'bad-name' };
  if (body.length > opts.maxBytes) return { status: 413, stored: false, reason: 'too-large' };
  if (opts.mode === 'discard') return drop('discarded');
  const uploads = join(stateDir, 'uploads');
  const macDir = join(uploads, hex);
  const final = join(macDir, file);
  try {
    const top = await folder(uploads);
    if (top !== 'ok' && top !== 'created') return { status: 500, stored: false, reason: 'unsafe-path', error: top };
    const known = await lstat(macDir).then(
      () => true,
      (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? false : Promise.reject(e)),
    );
    if (!known) {
      const macs = (await readdir(uploads)).filter((n) => HEX12.test(n)).length;
      if (macs >= (opts.maxMacs ?? DEFAULT_MAX_MACS)) return drop('mac-cap');
    }
    const own = await folder(macDir);
    if (own !== 'ok' && own !== 'created') return { status: 500, stored: false, reason: 'unsafe-path', error: own };
    const existing = await lstat(final).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (existing?.isDirectory() === true) return { status: 500, stored: false, reason: 'unsafe-path', error: `${final} is a folder` };
    if (existing === undefined) {
      const files = (await readdir(macDir)).filter((n) => !n.startsWith('.')).length;
      if (files >= (opts.maxFilesPerMac ?? DEFAULT_MAX_FILES_PER_MAC)) return drop('file-cap');
    }
    await writeAtomically(macDir, final, file, body);
    return existing === undefined ? { status: 201, stored: true, reason: 'created', path: final } : { status: 204, stored: true, reason: 'replaced', path: final };
  } catch (e) {
    return { status: 500, stored: false, reason: 'write-failed', error: errorMessage(e) };
  }
}

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** writeAtomically writes a temporary dotfile next to `final`, syncs it and renames it over `final`. */
async function writeAtomically(dir: string, final: string, file: string, body: Buffer): Promise<void> {
  const temp = join(dir, `.${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(temp, TEMP_FLAGS, 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, final);
    renamed = true;
  } finally {
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
}
