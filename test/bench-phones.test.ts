/**
 * bench-phones.test.ts: the phone boot-storm bench's own parts (bench/phones), not the storm:
 * the generated lab (MACs in each vendor's OUIs, models of the profiles, User-Agents the shipped
 * profiles identify, per-vendor follow-ups), the lab's YAML against the configuration schema,
 * setup.js end to end on a small lab (it checks each vendor's rendered per-device file for the
 * phone's SIP username and password), the storm client's validation and HTTP parsing by table,
 * and the client on real loopback sockets against a node:http server (connections per phone,
 * a wrong body counted, the global timeout).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load';
import { hashPassword } from '../src/identity/passwords';
import { identify } from '../src/phones/identify';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { deviceFileOf, entryFiles, FACTS, follow, generateLab, labYaml, phoneAt, userOfBody, MAX_PHONES, VENDORS, type Manifest, type ManifestPhone } from '../bench/phones/lab';
import { checkAnswer, parseResponse, pct, runStorm, type StormOptions } from '../bench/phones/storm';
import { median, summarize, type RunLine } from '../bench/phones/summary';

const ROOT = join(__dirname, '..', '..');
const P = loadProfiles(shippedProfilesDir()).profiles;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('lab', () => {
  test('bounds: 1..MAX_PHONES phones', () => {
    assert.throws(() => generateLab(0), RangeError);
    assert.throws(() => generateLab(MAX_PHONES + 1), RangeError);
    assert.throws(() => phoneAt(-1), RangeError);
    assert.equal(generateLab(7).length, 7);
  });

  test('unique MACs, users and source addresses over the largest lab', () => {
    const lab = generateLab(MAX_PHONES);
    for (const k of ['mac', 'user', 'sipUsername', 'source'] as const) assert.equal(new Set(lab.map((p) => p[k])).size, MAX_PHONES, k);
    assert.ok(lab.every((p) => /^127\.(1[0-9])\.\d{1,3}\.\d{1,3}$/.test(p.source) && p.source !== '127.0.0.1'));
  });

  test('every vendor in turn, its MAC in its OUIs, its model in its profile', () => {
    const lab = generateLab(70);
    for (const v of VENDORS) assert.equal(lab.filter((p) => p.vendor === v).length, 10, v);
    for (const p of lab) {
      const profile = P.get(p.vendor);
      assert.ok(profile, p.vendor);
      assert.ok(profile.models.has(p.model), `${p.vendor} ${p.model}`);
      assert.ok(FACTS[p.vendor].ouis.includes(p.mac.slice(0, 8)), p.mac);
      // Cisco SPA's profile matches option 60, not OUIs: 00:02:fd is the OUI of the reference's sample MAC
      if (profile.ouis.size > 0) assert.ok(profile.ouis.has(p.mac.slice(0, 8)), `${p.vendor} ${p.mac}`);
    }
  });

  test('the shipped profiles identify each phone from its User-Agent and per-device file', () => {
    for (const p of generateLab(35)) {
      const file = deviceFileOf(p);
      const id = identify({ userAgent: p.userAgent, path: `/k/${file}`, ip: p.source }, P);
      assert.equal(id?.vendor, p.vendor, p.userAgent);
      assert.equal(id?.mac, p.mac, p.userAgent);
      assert.equal(id?.kind, 'device', `${p.userAgent} ${file}`);
      assert.equal(id?.sensitive, true, file);
      assert.equal(id?.macConflict, undefined);
      for (const e of entryFiles(p)) assert.notEqual(identify({ userAgent: p.userAgent, path: `/k/${e}`, ip: p.source }, P), undefined, e);
    }
  });

  test('follow-ups as each vendor reads its answers', () => {
    const [y, pc, sn, gs] = [phoneAt(0), phoneAt(1), phoneAt(2), phoneAt(3)];
    const ym = y.mac.replace(/:/g, '');
    const rows: [string, string[], string[]][] = [
      ['yealink boot file', follow(y, `${ym}.boot`, 200, '#!version:1.0.0.1\ninclude:config "y000000000000.cfg"\ninclude:config "$mac.cfg"\noverwrite_mode = 1\n'), ['y000000000000.cfg', `${ym}.cfg`]],
      ['yealink absent boot file', follow(y, `${ym}.boot`, 404, ''), ['y000000000000.boot']],
      ['yealink common boot file absent', follow(y, 'y000000000000.boot', 404, ''), []],
      ['polycom master', follow(pc, '000000000000.cfg', 200, '<APPLICATION APP_FILE_PATH="sip.ld" CONFIG_FILES="[PHONE_MAC_ADDRESS]-user.cfg, common.cfg" />'), [`${pc.mac.replace(/:/g, '')}-user.cfg`, 'common.cfg', `${pc.mac.replace(/:/g, '')}-directory.xml`, '000000000000-directory.xml']],
      ['polycom 404', follow(pc, `${pc.mac.replace(/:/g, '')}.cfg`, 404, ''), []],
      ['snom setting files', follow(sn, 'snomD785-X.htm', 200, '<setting-files>\n<file url="http://h/k/snom-general.xml"/>\n<file url="http://h/k/{mac}.xml?x=1"/>\n</setting-files>'), ['snom-general.xml', `${sn.mac.replace(/:/g, '').toUpperCase()}.xml`]],
      ['grandstream: a fixed list', follow(gs, `cfg${gs.mac.replace(/:/g, '')}.xml`, 200, '<P35>x</P35>'), []],
      ['hostile: bounded to 8', follow(y, `${ym}.boot`, 200, 'include:config "a"\n'.repeat(50)), Array(8).fill('a') as string[]],
    ];
    for (const [name, got, want] of rows) assert.deepEqual(got, want, name);
  });

  test('userOfBody reads line 1 of each vendor', () => {
    const rows: [ManifestPhone['vendor'], string, string | undefined][] = [
      ['yealink', 'account.1.label = x\naccount.1.user_name = sip00001\naccount.2.user_name = other\n', 'sip00001'],
      ['polycom', '<reg reg.1.address="sip00002" reg.2.address="z"/>', 'sip00002'],
      ['snom', '<user_name idx="1" perm="">sip00003</user_name>', 'sip00003'],
      ['grandstream', '<P35>sip00004</P35><P404>z</P404>', 'sip00004'],
      ['cisco-spa', '<User_ID_1_ ua="na">sip00005</User_ID_1_>', 'sip00005'],
      ['fanvil', 'SIP1 Register User      :sip00006\nSIP2 Register User      :z\n', 'sip00006'],
      ['gigaset', `<SYMB_ITEM ID="BS_IP_Data1.aucS_SIP_USER_ID" class="symb_item" value='"sip00007"'/>`, 'sip00007'],
      ['yealink', 'account.2.user_name = sip00001\n', undefined],
      ['snom', '', undefined],
    ];
    for (const [v, body, want] of rows) assert.equal(userOfBody(v, body), want, `${v} ${body.slice(0, 30)}`);
  });

  test('the lab YAML is a valid configuration (one keyed tenant, users, devices, limits)', async () => {
    const lab = generateLab(14);
    const hash = await hashPassword('x', 10);
    const base = { stateDir: '/tmp/x', port: 8090, workers: 1, tenant: 'bench.test', urlKey: 'k'.repeat(32), baseUrl: 'http://prov.bench.test:8667/', passwordHash: hash };
    const cfg = parseConfigText(labYaml(lab, { ...base, defaultLimits: false }), 'lab.yaml');
    assert.equal(cfg.phones.devices.length, 14);
    assert.equal(cfg.phones.enabled, true);
    assert.equal(cfg.http.rateLimit.rate, 0);
    assert.equal(cfg.http.maxConnectionsPerSource, 0);
    assert.equal(cfg.http.bans.maxRetry, 0);
    const t = cfg.provisioning.tenants['bench.test'];
    assert.equal(t?.urlKey, 'k'.repeat(32));
    assert.equal(t?.users['u00003']?.attributes['sip_username'], 'sip00003');
    const dflt = parseConfigText(labYaml(lab, { ...base, defaultLimits: true }), 'lab.yaml');
    assert.notEqual(dflt.http.rateLimit.rate, 0);
    assert.notEqual(dflt.http.bans.maxRetry, 0);
  });
});

describe('setup.js on a small lab', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pphones-setup-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('seeds the store, renders each vendor once per file, writes the manifest', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'phones', 'setup.js'), dir, '14', '8090', '1'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.n, 14);
    assert.match(m.key, /^[A-Za-z0-9_-]{32}$/);
    for (const p of m.phones) {
      const dev = p.reqs.find(([f]) => f === p.deviceFile);
      assert.ok(dev && dev[1] === 200 && dev[2].length === 64, `${p.vendor} ${p.deviceFile}`);
      const body = readFileSync(join(dir, 'www', m.key, p.deviceFile), 'utf8');
      assert.equal(sha(body), dev[2]);
      assert.equal(userOfBody(p.vendor, body), p.sipUsername);
      for (const [f, st] of p.reqs) assert.equal(existsSync(join(dir, 'www', m.key, f)), st === 200, f);
    }
    assert.match(r.stderr, /lab: 14 phones/);
  });
});

describe('storm client', () => {
  const phone = { vendor: 'yealink' as const, sipUsername: 'sip00001', sipPassword: 'pw-1', deviceFile: 'a.cfg' };
  const good = 'account.1.user_name = sip00001\naccount.1.password = pw-1\n';

  test('checkAnswer by table', () => {
    const rows: [string, readonly [string, number, string], number, string, string | undefined][] = [
      ['right device file', ['a.cfg', 200, sha(good)], 200, good, undefined],
      ['right 404 probe', ['x.cfg', 404, ''], 404, 'Not Found', undefined],
      ['404 instead of the file', ['a.cfg', 200, sha(good)], 404, '', 'status-404'],
      ['200 instead of 404', ['x.cfg', 404, ''], 200, 'x', 'status-200'],
      ['another phone file', ['a.cfg', 200, sha(good)], 200, good.replace('sip00001', 'sip00002'), 'wrong-user'],
      ['secrets withheld', ['a.cfg', 200, sha(good)], 200, 'account.1.user_name = sip00001\n', 'no-password'],
      ['empty device file', ['a.cfg', 200, sha(good)], 200, '', 'wrong-user'],
      ['common file changed', ['c.cfg', 200, sha('one')], 200, 'two', 'body-differs'],
      ['device file one byte off', ['a.cfg', 200, sha(good)], 200, `${good} `, 'body-differs'],
    ];
    for (const [name, req, status, body, want] of rows) assert.equal(checkAnswer(phone, req, { status, body: Buffer.from(body) }), want, name);
  });

  test('parseResponse by table', () => {
    const b = (s: string): Buffer => Buffer.from(s, 'latin1');
    const ok = parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcNEXT'));
    assert.ok(ok !== 'more');
    assert.deepEqual([ok.got.status, ok.got.body.toString(), ok.close, ok.rest.toString()], [200, 'abc', false, 'NEXT']);
    const ch = parseResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'));
    assert.ok(ch !== 'more');
    assert.deepEqual([ch.got.body.toString(), ch.close], ['abcde', true]);
    assert.equal(parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab')), 'more');
    assert.equal(parseResponse(b('HTTP/1.1 200 OK\r\nContent-')), 'more');
    assert.equal(parseResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab')), 'more');
    const eof = parseResponse(b('HTTP/1.0 404 Not Found\r\n\r\ngone'), true);
    assert.ok(eof !== 'more');
    assert.deepEqual([eof.got.status, eof.got.body.toString(), eof.close], [404, 'gone', true]);
    const nm = parseResponse(b('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'));
    assert.ok(nm !== 'more' && nm.got.body.length === 0);
    assert.throws(() => parseResponse(b('SSH-2.0-OpenSSH\r\n\r\n')), /bad-response/);
    assert.throws(() => parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n')), /bad-response/);
    assert.throws(() => parseResponse(b(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(20_000)}`)), /bad-response/);
    assert.throws(() => parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), true), /io-closed/);
  });

  test('pct, median and the summary ratio', () => {
    assert.equal(pct([1, 2, 3, 4], 50), 2);
    assert.equal(pct([1, 2, 3, 4], 99), 4);
    assert.ok(Number.isNaN(pct([], 50)));
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    const r = (c: string, ms: number): RunLine => ({
      case: c,
      round: 1,
      attempt: 1,
      noisy: false,
      foreign: 1,
      serverCpuMs: ms,
      result: { label: c, url: '', phones: 1, concurrency: 1, conn: 'phone', oneSource: false, phonesOk: 1, phonesFailed: 0, requests: 2, requestsOk: 2, completionMs: ms, reqPerSec: 2000 / ms, reqP50Ms: 1, reqP99Ms: 2, reqMaxMs: 2, phoneP50Ms: 1, phoneP99Ms: 2, firstP50Ms: 1, firstP99Ms: 2, laterP50Ms: 1, laterP99Ms: 2, byVendorP99Ms: {}, errors: {}, examples: [], clientCpuMs: 1, timedOut: false },
    });
    assert.match(summarize([r('provisiond', 2000), r('nginx', 1000)]), /completion time x2\.00, req\/s x0\.50/);
  });

  describe('on loopback sockets', () => {
    let server: http.Server;
    let port = 0;
    let connections = 0;
    let hang = false;
    const seen: string[] = [];
    const key = 'K'.repeat(32);
    const body = (n: string): string => `account.1.user_name = sip0000${n}\naccount.1.password = pw-${n}\n`;
    const mk = (i: number, src: string): ManifestPhone => ({
      i,
      vendor: 'yealink',
      mac: `00:15:65:00:00:0${i}`,
      ua: `Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:0${i}`,
      src,
      sipUsername: `sip0000${i}`,
      sipPassword: `pw-${i}`,
      deviceFile: `p${i}.cfg`,
      reqs: [
        ['probe.boot', 404, ''],
        [`p${i}.cfg`, 200, sha(body(String(i)))],
      ],
    });
    const manifest: Manifest = { key, n: 3, files: 3, phones: [mk(1, '127.10.0.1'), mk(2, '127.10.0.2'), mk(3, '127.10.0.3')] };
    const opts = (o: Partial<StormOptions> = {}): StormOptions => ({ url: `http://127.0.0.1:${port}`, label: 't', concurrency: 2, phones: 3, conn: 'phone', timeoutMs: 10_000, requestTimeoutMs: 5_000, oneSource: false, ...o });

    test('start a node:http server', async () => {
      server = http.createServer((req, res) => {
        seen.push(`${req.socket.remoteAddress} ${req.headers['user-agent'] ?? ''} ${req.url ?? ''}`);
        if (hang) return;
        const m = /^\/K{32}\/p(\d)\.cfg$/.exec(req.url ?? '');
        if (m === null) {
          res.writeHead(404).end('not found');
          return;
        }
        // phone 3 gets phone 1's file: the client must say so
        res.writeHead(200, { 'content-type': 'text/plain' }).end(body(m[1] === '3' ? '1' : (m[1] ?? '')));
      });
      server.on('connection', () => connections++);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });

    test('one connection per phone, from its own address, with its User-Agent; a wrong file is an error', async () => {
      connections = 0;
      seen.length = 0;
      const r = await runStorm(manifest, opts());
      assert.equal(r.requests, 6);
      assert.equal(r.phonesOk, 2);
      assert.deepEqual(r.errors, { 'wrong-user': 1 });
      assert.match(r.examples[0] ?? '', /wrong-user: yealink p3\.cfg/);
      assert.equal(connections, 3);
      assert.ok(seen.includes(`127.10.0.2 ${manifest.phones[1]?.ua ?? ''} /${key}/p2.cfg`), seen.join('\n'));
      assert.equal(r.timedOut, false);
    });

    test('--conn request: a connection per file; --one-source: 127.0.0.1', async () => {
      connections = 0;
      seen.length = 0;
      const r = await runStorm(manifest, opts({ conn: 'request', oneSource: true, phones: 2 }));
      assert.equal(r.phonesOk, 2);
      assert.equal(connections, 4);
      assert.ok(seen.every((s) => s.startsWith('127.0.0.1 ')), seen.join('\n'));
    });

    test('the global timeout ends the storm and counts the phones not done', async () => {
      hang = true;
      const t0 = Date.now();
      const r = await runStorm(manifest, opts({ timeoutMs: 300, concurrency: 1 }));
      assert.ok(Date.now() - t0 < 3000);
      assert.equal(r.timedOut, true);
      assert.equal(r.phonesOk, 0);
      assert.equal(r.errors['global-timeout'], 3);
      hang = false;
    });

    test('stop the server', async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
  });
});
