/**
 * phones-uploads.test.ts: classifyUpload against the shipped profiles and a site override, and
 * storeUpload on a temp dir: discard and store, replace, the size cap, the per-MAC file cap and the
 * MAC cap (answered 204, not stored), symlinks never followed, no temporary file left behind,
 * concurrent uploads of one file, and hostile MACs and names.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { classifyUpload, storeUpload, UPLOAD_KINDS, type UploadKind, type UploadOptions } from '../src/phones/uploads';

const { profiles } = loadProfiles(shippedProfilesDir());
const TMP = mkdtempSync(join(tmpdir(), 'provd-uploads-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = join(TMP, `state${n++}`);
  mkdirSync(d);
  return d;
};
const MAC = '00:04:f2:aa:bb:cc';
const HEX = '0004f2aabbcc';
const STORE: UploadOptions = { mode: 'store', maxBytes: 1024 };

describe('classifyUpload', () => {
  test('the upload names of the Polycom profile, by table', () => {
    const cases: [string, UploadKind | undefined, string?][] = [
      [`${HEX}-boot.log`, 'boot-log'],
      [`${HEX}-app.log`, 'app-log'],
      [`${HEX}-phone.cfg`, 'phone-override'],
      [`${HEX}-web.cfg`, 'web-override'],
      [`${HEX}-directory.xml`, 'directory'],
      [`${HEX}-calls.xml`, 'calls'],
      ['0004F2AABBCC-app.log', 'app-log', `${HEX}-app.log`], // stored in the profile's case
      // not uploads: per-device and common files, other suffixes, all-zero MAC, hostile names
      [`${HEX}-user.cfg`, undefined],
      [`${HEX}.cfg`, undefined],
      [`${HEX}-license.cfg`, undefined],
      ['000000000000-directory.xml', undefined],
      ['000000000000-app.log', undefined],
      [`${HEX}-app.log.tmp`, undefined],
      [`${HEX}-APP.LOG`, undefined], // the profile's pattern is lower case
      [`../${HEX}-app.log`, undefined],
      [`${HEX}-app.log/..`, undefined],
      [`${HEX.slice(1)}-app.log`, undefined],
      [`${HEX}0-app.log`, undefined],
      ['', undefined],
      ['x'.repeat(10_000), undefined],
      [`${HEX}-boot.log\n`, undefined],
    ];
    for (const [file, kind, stored] of cases) {
      const t = classifyUpload(file, profiles);
      assert.equal(t?.kind, kind, file.slice(0, 40));
      if (kind !== undefined) {
        assert.equal(t?.vendor, 'polycom');
        assert.equal(t?.mac, MAC);
        assert.equal(t?.file, stored ?? file);
      }
    }
    assert.equal(UPLOAD_KINDS.size, 6);
  });

  test('only a profile listing the name makes it an upload (a site profile can drop one)', () => {
    const site = join(TMP, 'site');
    mkdirSync(join(site, 'polycom'), { recursive: true });
    const shipped = readFileSync(join(shippedProfilesDir(), 'polycom', 'profile.yaml'), 'utf8');
    writeFileSync(join(site, 'polycom', 'profile.yaml'), shipped.replace("  - '{mac}-app.log'\n", ''));
    const loaded = loadProfiles(shippedProfilesDir(), site);
    assert.deepEqual(loaded.problems, []);
    assert.equal(classifyUpload(`${HEX}-app.log`, loaded.profiles), undefined);
    assert.equal(classifyUpload(`${HEX}-boot.log`, loaded.profiles)?.kind, 'boot-log');
    assert.equal(classifyUpload(`${HEX}-boot.log`, new Map()), undefined);
  });
});

describe('storeUpload', () => {
  test('discard: 204, nothing written; store: 201 then 204 on replace, whole-file content, 0600', async () => {
    const s = fresh();
    assert.deepEqual(await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.from('x'), { mode: 'discard', maxBytes: 1024 }), { status: 204, stored: false, reason: 'discarded' });
    assert.equal(existsSync(join(s, 'uploads')), false);
    const path = join(s, 'uploads', HEX, `${HEX}-app.log`);
    assert.deepEqual(await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.from('first run\n'), STORE), { status: 201, stored: true, reason: 'created', path });
    assert.deepEqual(await storeUpload(s, '00-04-F2-AA-BB-CC', `${HEX}-app.log`, Buffer.from('second\n'), STORE), { status: 204, stored: true, reason: 'replaced', path });
    assert.equal(readFileSync(path, 'utf8'), 'second\n', 'replaced, not appended');
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
    assert.equal(lstatSync(join(s, 'uploads', HEX)).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(join(s, 'uploads', HEX)), [`${HEX}-app.log`], 'no temporary file left');
    assert.equal((await storeUpload(s, MAC, `${HEX}-boot.log`, Buffer.alloc(0), STORE)).status, 201, 'an empty body is a file too');
  });

  test('the size cap: maxBytes is accepted, one more is 413 in both modes', async () => {
    const s = fresh();
    assert.equal((await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.alloc(1024, 0x61), STORE)).status, 201);
    for (const mode of ['store', 'discard'] as const) {
      assert.deepEqual(await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.alloc(1025), { mode, maxBytes: 1024 }), { status: 413, stored: false, reason: 'too-large' });
    }
    assert.equal(readFileSync(join(s, 'uploads', HEX, `${HEX}-app.log`)).length, 1024, 'the stored file is untouched');
  });

  test('the per-MAC file cap and the MAC cap: answered 204, not stored; replacing still works', async () => {
    const s = fresh();
    const opts = { ...STORE, maxFilesPerMac: 2, maxMacs: 2 };
    assert.equal((await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.from('a'), opts)).reason, 'created');
    assert.equal((await storeUpload(s, MAC, `${HEX}-boot.log`, Buffer.from('b'), opts)).reason, 'created');
    assert.deepEqual(await storeUpload(s, MAC, `${HEX}-web.cfg`, Buffer.from('c'), opts), { status: 204, stored: false, reason: 'file-cap' });
    assert.equal((await storeUpload(s, MAC, `${HEX}-app.log`, Buffer.from('a2'), opts)).reason, 'replaced');
    assert.equal((await storeUpload(s, '00:04:f2:00:00:01', '0004f2000001-app.log', Buffer.from('m2'), opts)).reason, 'created');
    assert.deepEqual(await storeUpload(s, '00:04:f2:00:00:02', '0004f2000002-app.log', Buffer.from('m3'), opts), { status: 204, stored: false, reason: 'mac-cap' });
    assert.deepEqual(readdirSync(join(s, 'uploads')).sort(), ['0004f2000001', HEX]);
  });

  test('symlinks are never followed: uploads or MAC folder as a link is refused, a link at the file name is replaced', async () => {
    const victim = join(TMP, 'victim');
    mkdirSync(victim, { recursive: true });
    writeFileSync(join(victim, 'keep'), 'precious');
    const a = fresh();
    symlinkSync(victim, join(a, 'uploads'));
    const ra = await storeUpload(a, MAC, `${HEX}-app.log`, Buffer.from('x'), STORE);
    assert.equal(ra.status, 500);
    assert.equal(ra.reason, 'unsafe-path');
    const b = fresh();
    mkdirSync(join(b, 'uploads'));
    symlinkSync(victim, join(b, 'uploads', HEX));
    assert.equal((await storeUpload(b, MAC, `${HEX}-app.log`, Buffer.from('x'), STORE)).reason, 'unsafe-path');
    const c = fresh();
    mkdirSync(join(c, 'uploads', HEX), { recursive: true });
    symlinkSync(join(victim, 'keep'), join(c, 'uploads', HEX, `${HEX}-app.log`));
    assert.equal((await storeUpload(c, MAC, `${HEX}-app.log`, Buffer.from('new'), STORE)).reason, 'replaced');
    assert.equal(lstatSync(join(c, 'uploads', HEX, `${HEX}-app.log`)).isSymbolicLink(), false);
    assert.equal(readFileSync(join(victim, 'keep'), 'utf8'), 'precious');
    assert.deepEqual(readdirSync(victim), ['keep']);
    const d = fresh();
    mkdirSync(join(d, 'uploads', HEX, `${HEX}-app.log`), { recursive: true });
    assert.equal((await storeUpload(d, MAC, `${HEX}-app.log`, Buffer.from('x'), STORE)).status, 500);
  });

  test('bad MACs and names: 400, nothing written', async () => {
    const s = fresh();
    const cases: [string, string, string][] = [
      ['nope', `${HEX}-app.log`, 'bad-mac'],
      ['00:04:f2:aa:bb', `${HEX}-app.log`, 'bad-mac'],
      ['00:04:f2-aa:bb:cc', `${HEX}-app.log`, 'bad-mac'],
      ['../../etc', `${HEX}-app.log`, 'bad-mac'],
      [MAC, '0004f2000001-app.log', 'bad-name'],
      [MAC, `${HEX}-../x`, 'bad-name'],
      [MAC, `${HEX}-a/b`, 'bad-name'],
      [MAC, `${HEX}-..`, 'bad-name'],
      [MAC, `${HEX}`, 'bad-name'],
      [MAC, `.${HEX}-app.log`, 'bad-name'],
      [MAC, `${HEX}-${'x'.repeat(60)}`, 'bad-name'],
    ];
    for (const [mac, file, reason] of cases) {
      const r = await storeUpload(s, mac, file, Buffer.from('x'), STORE);
      assert.deepEqual(r, { status: 400, stored: false, reason }, `${mac} ${file}`);
    }
    assert.equal(existsSync(join(s, 'uploads')), false);
  });

  test('concurrent uploads of one file: one complete file, no temporary file left', async () => {
    const s = fresh();
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(800, 0x41 + i));
    const results = await Promise.all(bodies.map((b) => storeUpload(s, MAC, `${HEX}-app.log`, b, STORE)));
    assert.ok(results.every((r) => r.stored && (r.status === 201 || r.status === 204)), JSON.stringify(results));
    const got = readFileSync(join(s, 'uploads', HEX, `${HEX}-app.log`));
    assert.ok(bodies.some((b) => b.equals(got)), 'the file is one of the bodies, whole');
    assert.deepEqual(readdirSync(join(s, 'uploads', HEX)), [`${HEX}-app.log`]);
  });
});
