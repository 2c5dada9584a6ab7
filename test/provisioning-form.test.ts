import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseForm, decodeComponent } from '../src/jitsi/form';
import { identify } from '../src/devices/request';
import { deviceOf } from '../src/devices/device';
import { BODY_2_10, BODY_HEAD, DOC_PASSWORD, DOC_USER, DOC_UUID } from './helpers/prov';

function params(body: string): Record<string, string> {
  const r = parseForm(body);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return { ...r.params };
}

describe('form bodies as the Jitsi client sends them (contract §4.2-4.3)', () => {
  test('Jitsi 2.10 (URI order) and current Jitsi (HashMap order) give the same parameters', () => {
    const a = params(BODY_2_10);
    const b = params(BODY_HEAD);
    assert.deepEqual(a, b);
    assert.deepEqual(a, {
      user: DOC_USER,
      password: DOC_PASSWORD,
      os: 'Windows 10',
      hw: '00:1a:2b:3c:4d:5e',
      uuid: DOC_UUID,
      hostname: 'DESKTOP-7Q2',
    });
  });

  test('identity and device from the doc sample: user@domain split, os=/hw= aliases', () => {
    const p = params(BODY_HEAD);
    const id = identify(p, 'localdomain');
    assert.deepEqual(id, { domain: 'example.com', name: 'alice', password: DOC_PASSWORD, hasPair: true });
    const d = deviceOf(p);
    assert.equal(d.key, `uuid:${DOC_UUID}`);
    assert.equal(d.hwaddr, '00:1a:2b:3c:4d:5e');
    assert.equal(d.osname, 'Windows 10');
    assert.equal(d.hostname, 'DESKTOP-7Q2');
  });

  test('identity: domain field, default domain, last @ splits, missing pair', () => {
    assert.deepEqual(identify(params('username=bob&password=x&domain=Example.ORG'), 'd'), { domain: 'example.org', name: 'bob', password: 'x', hasPair: true });
    assert.equal(identify(params('username=bob&password=x'), 'localdomain').domain, 'localdomain');
    assert.deepEqual(identify(params('username=a%40b%40c.org&password='), 'd'), { domain: 'c.org', name: 'a@b', password: '', hasPair: true });
    assert.equal(identify(params('username=bob'), 'd').hasPair, false);
    assert.equal(identify(params('pass=x'), 'd').hasPair, false);
    assert.equal(identify(params('user=bob&pass=x'), 'd').hasPair, true);
  });

  test('double encoding is passed through as the client sent it: %2520 is the text %20', () => {
    assert.equal(params('site=a%2520b')['site'], 'a%20b');
    assert.equal(params('p=%2B+%2b')['p'], '+ +');
  });

  test('duplicate names keep the last value; order does not matter', () => {
    assert.deepEqual(params('a=1&b=2&a=3'), { a: '3', b: '2' });
  });

  test('edge segments: name without =, empty name (a=1&&b=2 in the URI), empty body', () => {
    assert.deepEqual(params('flag&x='), { flag: '', x: '' });
    assert.deepEqual(params('a=1&=&b=2'), { a: '1', '': '', b: '2' });
    assert.deepEqual(params(''), {});
  });

  test('UTF-8 is decoded; malformed escapes and invalid UTF-8 are rejected', () => {
    assert.equal(params('n=%C5%81%F0%9F%98%80')['n'], 'Ł😀');
    assert.equal(parseForm('a=%zz').ok, false);
    assert.equal(parseForm('a=%C5').ok, false);
    assert.equal(parseForm('a=%').ok, false);
    assert.equal(decodeComponent('%41%42'), 'AB');
  });

  test('parameter count is bounded', () => {
    const many = Array.from({ length: 65 }, (_, i) => `p${i}=1`).join('&');
    assert.equal(parseForm(many).ok, false);
    assert.equal(parseForm(many.split('&').slice(0, 64).join('&')).ok, true);
  });

  test('the result has no prototype: __proto__ and constructor are plain fields', () => {
    const p = parseForm('__proto__=x&constructor=y');
    assert.ok(p.ok);
    if (p.ok) {
      assert.equal(p.params['__proto__'], 'x');
      assert.equal(p.params['constructor'], 'y');
      assert.equal(Object.getPrototypeOf(p.params), null);
    }
  });

  test('unsubstituted placeholders are not device data (no MAC: ${hwaddr} stays literal)', () => {
    const d = deviceOf(params('hwaddr=%24%7Bhwaddr%7D&uuid=%24%7Buuid%7D'));
    assert.equal(d.hwaddr, undefined);
    assert.equal(d.key, undefined);
    assert.equal(deviceOf(params('hwaddr=00-1A-2B-3C-4D-5E')).key, 'hwaddr:00:1a:2b:3c:4d:5e');
    assert.equal(deviceOf(params('hwaddr=junk')).key, undefined);
  });
});
