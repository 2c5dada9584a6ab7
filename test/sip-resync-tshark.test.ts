/**
 * sip-resync-tshark.test.ts: Wireshark's SIP dissector (tshark) as an independent decoder of
 * what resync and `probe --as` send: the NOTIFY (plain, with a digest answer, with Cisco's
 * service-control body) and the PnP SUBSCRIBE must read as well-formed SIP, field by field, with
 * no malformed-packet or expert warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChallenge, authorization } from '../src/sip/digest';
import { buildNotify } from '../src/sip/resync';
import { subscribeRequest, VENDORS } from '../src/probe/phone';
import { pcapFile } from './helpers/pcap';

const hasTshark = spawnSync('tshark', ['--version']).status === 0;

test('tshark reads our NOTIFYs and SUBSCRIBE as SIP, field by field', { skip: hasTshark ? false : 'tshark is not installed' }, () => {
  const local = { address: '192.0.2.10', port: 40000 };
  const ids = { callId: '5f1c@192.0.2.10', fromTag: 'pd-77d2' };
  const target = { address: '192.0.2.50', port: 5060, user: '1001', event: { event: 'check-sync;reboot=false' } };
  const c = parseChallenge('Digest realm="spa", nonce="4a2b", qop="auth"');
  assert.ok(c.ok);
  const auth = authorization(c.challenge, { username: 'auth1001', password: 'x' }, { method: 'NOTIFY', uri: 'sip:1001@192.0.2.50:5060' }, { cnonce: 'abc' });
  const yealink = VENDORS['yealink'];
  assert.ok(yealink !== undefined);
  const payloads = [
    buildNotify(target, local, ids, { cseq: 1, branch: 'z9hG4bK-pd-1' }, { userAgent: 'provisiond/0.1.0' }),
    buildNotify({ ...target, event: { event: 'resync' } }, local, ids, { cseq: 2, branch: 'z9hG4bK-pd-2' }, { userAgent: 'provisiond/0.1.0', auth: { header: 'Authorization', value: auth } }),
    buildNotify({ ...target, event: { event: 'service-control', contentType: 'text/plain', body: ['action=restart', 'RegisterCallId={}'] } }, local, ids, { cseq: 1, branch: 'z9hG4bK-pd-3' }, { userAgent: 'provisiond/0.1.0' }),
    subscribeRequest(yealink, '0015654aa937', 'T46S', { address: '192.0.2.50', port: 5060 }, { callId: 'c1@192.0.2.50', tag: 't1', branch: 'z9hG4bK-s1', cseq: 1 }),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-sip-tshark-'));
  try {
    const file = join(dir, 'x.pcap');
    writeFileSync(file, pcapFile(payloads.map((payload) => ({ src: [192, 0, 2, 10], dst: [192, 0, 2, 50], sport: 40000, dport: 5060, payload }))));
    const fields = ['sip.Method', 'sip.r-uri.user', 'sip.r-uri.host', 'sip.r-uri.port', 'sip.Event', 'sip.CSeq', 'sip.Call-ID', 'sip.Subscription-State', 'sip.Content-Type', 'sip.Content-Length', 'sip.auth.username', 'sip.auth.realm', 'sip.auth.nc', 'sip.from.tag', '_ws.malformed', '_ws.expert.severity'];
    const out = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out.status, 0, out.stderr);
    const rows = out.stdout.trim().split('\n').map((line) => Object.fromEntries(line.split('|').map((v, i) => [fields[i] as string, v])));
    assert.equal(rows.length, 4);
    const [plain, digest, cisco, subscribe] = rows as [Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>];
    assert.deepEqual([plain['sip.Method'], plain['sip.r-uri.user'], plain['sip.r-uri.host'], plain['sip.r-uri.port'], plain['sip.Event'], plain['sip.CSeq'], plain['sip.Call-ID'], plain['sip.Subscription-State'], plain['sip.Content-Length'], plain['sip.from.tag']], ['NOTIFY', '1001', '192.0.2.50', '5060', 'check-sync;reboot=false', '1 NOTIFY', '5f1c@192.0.2.10', 'terminated', '0', 'pd-77d2']);
    assert.deepEqual([digest['sip.Event'], digest['sip.CSeq'], digest['sip.auth.username'], digest['sip.auth.realm'], digest['sip.auth.nc']], ['resync', '2 NOTIFY', '"auth1001"', '"spa"', '00000001'], 'tshark keeps the quotes of quoted-strings');
    assert.deepEqual([cisco['sip.Event'], cisco['sip.Content-Type'], cisco['sip.Content-Length']], ['service-control', 'text/plain', String('action=restart\r\nRegisterCallId={}\r\n'.length)]);
    assert.deepEqual([subscribe['sip.Method'], subscribe['sip.r-uri.host'], subscribe['sip.CSeq']], ['SUBSCRIBE', '224.0.1.75', '1 SUBSCRIBE']);
    assert.match(subscribe['sip.Event'] ?? '', /^ua-profile;profile-type="device";vendor="Yealink";model="T46S"/);
    for (const r of rows) {
      assert.equal(r['_ws.malformed'], '', 'no malformed packet');
      assert.equal(r['_ws.expert.severity'], '', 'no expert note or warning');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
