/**
 * phones-static.test.ts: answerStatic (src/phones/static.ts) on a temp dir: the lookup order (site
 * before shipped), refused names and symlinks, content types, validators and conditionals, and
 * every Range shape by table; the answered byte range streamed with fs.createReadStream.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  answerStatic,
  contentTypeOf,
  etagOf,
  lookupStatic,
  noneMatch,
  parseRange,
  safeStaticName,
  staticDirsFor,
  openStatic,
  type StaticAnswer,
  type StaticFiles,
  type StaticRequest,
} from '../src/phones/static';

const TMP = mkdtempSync(join(tmpdir(), 'provd-static-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const SITE = join(TMP, 'site', 'files');
const SHIPPED = join(TMP, 'shipped', 'files');
const OUTSIDE = join(TMP, 'outside');
for (const d of [SITE, SHIPPED, OUTSIDE]) mkdirSync(d, { recursive: true });

const FW = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251)); // 1000 bytes, not text
const MTIME = new Date('2026-03-01T10:20:30.456Z');
function put(dir: string, name: string, data: Buffer | string): void {
  writeFileSync(join(dir, name), data);
  utimesSync(join(dir, name), MTIME, MTIME);
}
put(SHIPPED, 'sip.ld', FW);
put(SHIPPED, 'ring.wav', 'shipped ring');
put(SITE, 'ring.wav', 'site ring!');
put(SHIPPED, 'lang.xml', '<x/>');
put(SHIPPED, 'empty.bin', '');
put(SHIPPED, '.hidden', 'dot');
put(OUTSIDE, 'passwd', 'root:x:0:0');
put(SHIPPED, 'real.rom', 'inside target');
symlinkSync(join(OUTSIDE, 'passwd'), join(SITE, 'evil.rom')); // out of the dir
symlinkSync(join(SHIPPED, 'real.rom'), join(SITE, 'cross.rom')); // into another dir: out of SITE too
symlinkSync('real.rom', join(SHIPPED, 'alias.rom')); // inside its own dir
symlinkSync(join(SHIPPED, 'nothing'), join(SHIPPED, 'dangling.rom'));
mkdirSync(join(SHIPPED, 'adir'));
const DIRS = [SITE, SHIPPED];
const ETAG = `"${(1000).toString(16)}-${MTIME.getTime().toString(16)}"`;
const LAST_MODIFIED = 'Sun, 01 Mar 2026 10:20:30 GMT';

const ask = (req: Partial<StaticRequest> & { file: string }): StaticAnswer | undefined => answerStatic({ method: 'GET', ...req }, DIRS);

async function streamed(a: StaticAnswer): Promise<Buffer> {
  assert.ok(a.body, 'a body to stream');
  const chunks: Buffer[] = [];
  const stream = openStatic(a.body);
  assert.ok(stream, 'the file opens');
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('static files: lookup', () => {
  test('file names: what may be looked up', () => {
    const cases: [string, boolean][] = [
      ['sip.ld', true],
      ['3111-40250-001.sip.ld', true],
      ['T46-28.83.0.50.rom', true],
      ['ring tone.wav', true],
      ['', false],
      ['.hidden', false],
      ['..', false],
      ['a..b', false],
      ['a/b', false],
      ['a\\b', false],
      ['a\0b', false],
      ['a\nb', false],
      ['a\u007fb', false],
      ['x'.repeat(255), true],
      ['x'.repeat(256), false],
    ];
    for (const [name, ok] of cases) assert.equal(safeStaticName(name), ok, JSON.stringify(name));
  });

  test('site dirs first, then shipped; refusals end the lookup; absence is undefined', () => {
    const cases: [string, string | undefined][] = [
      ['ring.wav', join(SITE, 'ring.wav')],
      ['sip.ld', join(SHIPPED, 'sip.ld')],
      ['alias.rom', join(SHIPPED, 'real.rom')],
      ['evil.rom', 'symlink-out'],
      ['cross.rom', 'symlink-out'],
      ['dangling.rom', 'dangling'],
      ['adir', 'not-a-file'],
      ['.hidden', 'bad-name'],
      ['../outside/passwd', 'bad-name'],
      ['missing.ld', undefined],
    ];
    for (const [file, want] of cases) {
      const got = lookupStatic(file, DIRS);
      const said = got === undefined ? undefined : 'refused' in got ? got.refused : got.path;
      assert.equal(said, want, file);
      if (want === undefined || !want.startsWith('/')) assert.equal(answerStatic({ file, method: 'GET' }, DIRS), undefined, file);
    }
  });

  test('staticDirsFor: the site folder before the shipped one; no vendor name, no dirs', () => {
    assert.deepEqual(staticDirsFor('polycom', '/usr/lib/provisiond/phones/profiles', '/etc/provisiond/phones'), [
      '/etc/provisiond/phones/polycom/files',
      '/usr/lib/provisiond/phones/profiles/polycom/files',
    ]);
    assert.deepEqual(staticDirsFor('yealink', '/p'), ['/p/yealink/files']);
    for (const bad of ['..', '../x', 'Yealink', '', 'a/b']) assert.equal(staticDirsFor(bad, '/p', '/s'), undefined, bad);
  });

  test('stat on demand only: one lstat per dir until a hit, nothing listed', () => {
    const calls: string[] = [];
    const files: StaticFiles = {
      lstat: (p) => (calls.push(`lstat ${p}`), undefined),
      stat: (p) => (calls.push(`stat ${p}`), undefined),
      realpath: (p) => (calls.push(`realpath ${p}`), undefined),
    };
    assert.equal(answerStatic({ file: 'x.ld', method: 'GET' }, ['/a', '/b', '/c'], files), undefined);
    assert.deepEqual(calls, ['lstat /a/x.ld', 'lstat /b/x.ld', 'lstat /c/x.ld']);
  });
});

describe('static files: answers', () => {
  test('200: headers and the whole file streamed', async () => {
    const a = ask({ file: 'sip.ld' });
    assert.ok(a);
    assert.equal(a.status, 200);
    assert.deepEqual(a.headers, {
      etag: ETAG,
      'last-modified': LAST_MODIFIED,
      'cache-control': 'no-cache',
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      'content-length': '1000',
    });
    assert.deepEqual(await streamed(a), FW);
    assert.equal(etagOf({ size: 1000, mtimeMs: MTIME.getTime() + 0.7, isFile: () => true, isSymbolicLink: () => false }), ETAG);
  });

  test('HEAD: the same headers, no body; an empty file has no body either', () => {
    const h = ask({ file: 'sip.ld', method: 'HEAD', range: 'bytes=0-9' });
    assert.equal(h?.status, 200, 'Range is for GET only');
    assert.equal(h?.headers['content-length'], '1000');
    assert.equal(h?.body, undefined);
    const e = ask({ file: 'empty.bin' });
    assert.equal(e?.status, 200);
    assert.equal(e?.headers['content-length'], '0');
    assert.equal(e?.body, undefined);
  });

  test('content types by extension', () => {
    const cases: [string, string][] = [
      ['sip.ld', 'application/octet-stream'],
      ['T46.ROM', 'application/octet-stream'],
      ['ring.WAV', 'audio/wav'],
      ['logo.png', 'image/png'],
      ['lang.xml', 'application/xml; charset=utf-8'],
      ['common.cfg', 'text/plain; charset=utf-8'],
      ['noext', 'application/octet-stream'],
    ];
    for (const [file, type] of cases) assert.equal(contentTypeOf(file), type, file);
  });

  test('conditionals: If-None-Match before If-Modified-Since', () => {
    const cases: [Partial<StaticRequest>, number][] = [
      [{ ifNoneMatch: ETAG }, 304],
      [{ ifNoneMatch: `W/${ETAG}` }, 304],
      [{ ifNoneMatch: `"other", ${ETAG}` }, 304],
      [{ ifNoneMatch: '*' }, 304],
      [{ ifNoneMatch: '"other"' }, 200],
      [{ ifNoneMatch: '"other"', ifModifiedSince: LAST_MODIFIED }, 200],
      [{ ifModifiedSince: LAST_MODIFIED }, 304],
      [{ ifModifiedSince: 'Sun, 01 Mar 2026 10:20:29 GMT' }, 200],
      [{ ifModifiedSince: 'Mon, 02 Mar 2026 00:00:00 GMT' }, 304],
      [{ ifModifiedSince: 'not a date' }, 200],
      [{ ifNoneMatch: ETAG, method: 'HEAD' }, 304],
      [{ ifNoneMatch: ETAG, range: 'bytes=0-1' }, 304],
    ];
    for (const [req, status] of cases) {
      const a = ask({ file: 'sip.ld', ...req });
      assert.equal(a?.status, status, JSON.stringify(req));
      if (status === 304) {
        assert.equal(a?.body, undefined);
        assert.deepEqual(a?.headers, { etag: ETAG, 'last-modified': LAST_MODIFIED, 'cache-control': 'no-cache' });
      }
    }
    assert.equal(noneMatch('"a", "b"', '"b"'), true);
    assert.equal(noneMatch('"a"', 'W/"a"'), true);
  });

  test('Range by table', () => {
    const size = 1000;
    const cases: [string, ReturnType<typeof parseRange>][] = [
      ['bytes=0-99', { start: 0, end: 99 }],
      ['bytes=100-', { start: 100, end: 999 }],
      ['bytes=-100', { start: 900, end: 999 }],
      ['bytes=-5000', { start: 0, end: 999 }],
      ['bytes=990-5000', { start: 990, end: 999 }],
      ['bytes=999-999', { start: 999, end: 999 }],
      ['Bytes = 5-6', { start: 5, end: 6 }],
      ['bytes=1000-', 'unsatisfiable'],
      ['bytes=1000-2000', 'unsatisfiable'],
      ['bytes=-0', 'unsatisfiable'],
      ['bytes=0-1,5-6', 'ignore'],
      ['bytes=0-1, 2-3, 4-5', 'ignore'],
      ['bytes=5-4', 'ignore'],
      ['bytes=a-b', 'ignore'],
      ['bytes=--1', 'ignore'],
      ['bytes=1', 'ignore'],
      ['bytes=', 'ignore'],
      ['items=0-1', 'ignore'],
      ['bytes=0x10-', 'ignore'],
      [`bytes=${'9'.repeat(16)}-`, 'ignore'],
      [`bytes=0-${'1'.repeat(300)}`, 'ignore'],
    ];
    for (const [h, want] of cases) assert.deepEqual(parseRange(h, size), want, h);
    assert.equal(parseRange('bytes=-1', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  });

  test('206: the range streamed with Content-Range; 416 with bytes */size; several ranges: the whole file', async () => {
    const p = ask({ file: 'sip.ld', range: 'bytes=10-19' });
    assert.equal(p?.status, 206);
    assert.equal(p?.headers['content-range'], 'bytes 10-19/1000');
    assert.equal(p?.headers['content-length'], '10');
    assert.deepEqual(await streamed(p!), FW.subarray(10, 20));
    const tail = ask({ file: 'sip.ld', range: 'bytes=-3' });
    assert.deepEqual(await streamed(tail!), FW.subarray(997));
    const u = ask({ file: 'sip.ld', range: 'bytes=2000-' });
    assert.equal(u?.status, 416);
    assert.equal(u?.headers['content-range'], 'bytes */1000');
    assert.equal(u?.body, undefined);
    const m = ask({ file: 'sip.ld', range: 'bytes=0-1,5-6' });
    assert.equal(m?.status, 200);
    assert.equal(m?.headers['content-range'], undefined);
    assert.deepEqual(await streamed(m!), FW);
  });

  test('If-Range: the current ETag or date keeps the range; anything else gives the whole file', () => {
    const cases: [string, number][] = [
      [ETAG, 206],
      [LAST_MODIFIED, 206],
      [`W/${ETAG}`, 200],
      ['"stale"', 200],
      ['Sat, 28 Feb 2026 00:00:00 GMT', 200],
    ];
    for (const [ifRange, status] of cases) assert.equal(ask({ file: 'sip.ld', range: 'bytes=0-0', ifRange })?.status, status, ifRange);
  });

  test('a changed file gets a new ETag', () => {
    put(SITE, 'new.ld', 'v1');
    const one = ask({ file: 'new.ld' })?.headers['etag'];
    writeFileSync(join(SITE, 'new.ld'), 'v2 longer');
    const two = ask({ file: 'new.ld' })?.headers['etag'];
    assert.notEqual(one, two);
    assert.equal(ask({ file: 'new.ld', ifNoneMatch: one })?.status, 200);
  });

  test('openStatic refuses a file replaced by a symlink after the lookup, and a removed one', () => {
    put(SITE, 'swap.ld', 'v1');
    const a = ask({ file: 'swap.ld' });
    assert.ok(a?.body);
    rmSync(join(SITE, 'swap.ld'));
    assert.equal(openStatic(a.body), undefined);
    symlinkSync(join(OUTSIDE, 'passwd'), join(SITE, 'swap.ld'));
    assert.equal(openStatic(a.body), undefined);
  });
});
