/**
 * sip-digest.test.ts: the Digest client (src/sip/digest.ts) against the RFCs' worked examples
 * (RFC 2617 §3.5, RFC 7616 §3.9.1) and vectors computed independently with Python's hashlib
 * (the RFC 2069 form without qop, MD5-sess), plus the parser's refusals.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { authorization, digestResponse, parseChallenge, MAX_HEADER, type DigestChallenge } from '../src/sip/digest';

function must(header: string): DigestChallenge {
  const r = parseChallenge(header);
  if (!r.ok) assert.fail(`parseChallenge refused: ${r.reason}`);
  return r.challenge;
}

/** params reads an Authorization value back into its parameters (test side, simple). */
function params(auth: string): Map<string, string> {
  assert.match(auth, /^Digest /);
  const out = new Map<string, string>();
  for (const m of auth.slice(7).matchAll(/([a-z]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) out.set(m[1] ?? '', m[2] ?? m[3] ?? '');
  return out;
}

describe('Digest: worked examples', () => {
  test('RFC 2617 §3.5 (qop=auth, MD5): response 6629fae49393a05397450978507c4ef1', () => {
    const c = must('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    assert.equal(c.realm, 'testrealm@host.com');
    assert.deepEqual(c.qop, ['auth', 'auth-int']);
    assert.equal(c.algorithm, 'MD5');
    const auth = authorization(c, { username: 'Mufasa', password: 'Circle Of Life' }, { method: 'GET', uri: '/dir/index.html' }, { cnonce: '0a4f113b', nc: 1 });
    const p = params(auth);
    assert.equal(p.get('response'), '6629fae49393a05397450978507c4ef1');
    assert.equal(p.get('nc'), '00000001');
    assert.equal(p.get('qop'), 'auth');
    assert.equal(p.get('cnonce'), '0a4f113b');
    assert.equal(p.get('opaque'), '5ccc069c403ebaf9f0171e9517f40e41');
    assert.equal(p.get('uri'), '/dir/index.html');
    assert.equal(p.has('algorithm'), false, 'algorithm is echoed only when the challenge named it');
  });

  const rfc7616 = (alg: string): string =>
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;
  for (const [alg, expected] of [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ] as const) {
    test(`RFC 7616 §3.9.1 (${alg}): response ${expected.slice(0, 8)}…`, () => {
      const c = must(rfc7616(alg));
      const auth = authorization(c, { username: 'Mufasa', password: 'Circle of Life' }, { method: 'GET', uri: '/dir/index.html' }, { cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' });
      const p = params(auth);
      assert.equal(p.get('response'), expected);
      assert.equal(p.get('algorithm'), alg);
    });
  }

  test('SIP without qop (RFC 2069 form, what a Cisco SPA challenge may ask): hashlib vector', () => {
    const c = must('Digest realm="cisco-spa",nonce="4a2b7c9d"');
    assert.deepEqual(c.qop, []);
    const auth = authorization(c, { username: 'erin-1001', password: 'erin-SIP-Secret-9' }, { method: 'NOTIFY', uri: 'sip:erin-1001@192.0.2.50:5060' });
    const p = params(auth);
    assert.equal(p.get('response'), 'b7c7a8d4265c7a85ff5c28fddd49a6ea');
    assert.equal(p.has('qop'), false);
    assert.equal(p.has('nc'), false);
    assert.equal(p.has('cnonce'), false);
  });

  test('MD5-sess with qop=auth: hashlib vector', () => {
    const c = must('Digest realm="biloxi.com", nonce="n0nce", algorithm=MD5-sess, qop=auth');
    assert.equal(digestResponse(c, { username: 'bob', password: 'zanzibar' }, { method: 'NOTIFY', uri: 'sip:bob@192.0.2.4' }, { cnonce: 'c0ffee', nc: '00000001' }), 'cd1dfab8abc3c30ad61db1eb60c19e44');
  });
});

describe('Digest: parsing', () => {
  test('scheme and names are case-insensitive, quoted commas and escapes are kept, stale is read', () => {
    const c = must('DIGEST Realm="a, \\"b\\"", NONCE=abc, Algorithm=md5, stale=TRUE');
    assert.equal(c.realm, 'a, "b"');
    assert.equal(c.nonce, 'abc');
    assert.equal(c.algorithm, 'MD5');
    assert.equal(c.algorithmToken, 'md5');
    assert.equal(c.stale, true);
  });

  for (const [name, header, reason] of [
    ['Basic', 'Basic realm="x"', /not Digest/],
    ['no realm', 'Digest nonce="n"', /no realm/],
    ['no nonce', 'Digest realm="r"', /no nonce/],
    ['unknown algorithm', 'Digest realm="r", nonce="n", algorithm=SHA-512-256', /not supported/],
    ['auth-int only', 'Digest realm="r", nonce="n", qop="auth-int"', /auth-int/],
    ['unterminated quote', 'Digest realm="r, nonce="n', /malformed/],
    ['a parameter twice', 'Digest realm="r", realm="s", nonce="n"', /twice/],
    ['no parameters', 'Digest', /not a challenge/],
    ['garbage between params', 'Digest realm="r" nonce="n"', /malformed/],
    ['too long', `Digest realm="${'x'.repeat(MAX_HEADER)}", nonce="n"`, /longer than/],
    ['too many params', `Digest realm="r", nonce="n", ${Array.from({ length: 40 }, (_, i) => `p${i}=1`).join(', ')}`, /malformed/],
  ] as const) {
    test(`refuses: ${name}`, () => {
      const r = parseChallenge(header);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }

  test('a hostile realm cannot end the header line (control characters dropped, quotes escaped)', () => {
    const c = must('Digest realm="evil\r\nVia: x", nonce="n\\"x"');
    const auth = authorization(c, { username: 'u', password: 'p' }, { method: 'NOTIFY', uri: 'sip:u@h' });
    assert.doesNotMatch(auth, /[\r\n]/);
    assert.match(auth, /nonce="n\\"x"/);
  });

  test('property: parseChallenge never throws on any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseChallenge(`Digest ${s}`);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 500 },
    );
  });
});
