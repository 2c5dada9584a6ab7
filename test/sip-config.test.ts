/**
 * sip-config.test.ts: the `sip` configuration section (src/sip/config.ts, mounted in
 * src/config/schema.ts): defaults, the cross-section checks (phones.enabled, sip.tenant), unknown
 * keys, and check-config's host warning for an interface this host lacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../src/config/load';
import { hostWarnings } from '../src/config/check';
import type { ProvError } from '../src/errors';

const TENANT = 'provisioning: { defaultDomain: lab.example, tenants: { lab.example: { auth: none } } }\n';

function problems(text: string): string {
  try {
    parseConfigText(text, 't.yaml', { skipPhoneProfiles: true });
    return 'valid';
  } catch (err) {
    const e = err as ProvError;
    assert.equal(e.code, 'PROVD_ERR_CONFIG_INVALID', e.message);
    return [e.message, ...e.details].join('\n');
  }
}

test('defaults: off, 5060, a kernel reply port, every interface, no allow-list, 10/s burst 20', () => {
  const c = parseConfigText(TENANT, 't.yaml', { skipPhoneProfiles: true });
  assert.deepEqual(c.sip, { enabled: false, port: 5060, replyPort: 0, interfaces: [], allowFrom: [], notifyForm: 'dialog', rateLimit: { rate: 10, burst: 20 } });
});

test('refusals name the key', () => {
  const table: [string, RegExp][] = [
    [`${TENANT}sip: { enabled: true }\n`, /sip\.enabled.*needs phones\.enabled/],
    [`${TENANT}phones: { enabled: true }\nsip: { enabled: true, tenant: nope.example }\n`, /sip\.tenant.*names no tenant/],
    [`${TENANT}sip: { allowFrom: [10.0.0.0/33] }\n`, /sip\.allowFrom/],
    [`${TENANT}sip: { port: 70000 }\n`, /sip\.port/],
    [`${TENANT}sip: { interfaces: [eth0, eth0] }\n`, /listed twice/],
    [`${TENANT}sip: { enable: true }\n`, /sip.*enable/],
    [`${TENANT}sip: { notifyForm: swapped }\n`, /sip\.notifyForm/],
  ];
  for (const [text, want] of table) assert.match(problems(text), want, text);
  assert.equal(problems(`${TENANT}phones: { enabled: true }\nsip: { enabled: true, tenant: lab.example, allowFrom: [10.0.0.0/8] }\n`), 'valid');
});

test('check-config warns about a sip interface this host lacks, only while the face is enabled', () => {
  const host = () => [{ name: 'eth0', address: 0x0a000001, internal: false, cidr: { network: '10.0.0.0', prefix: 8, base: 0x0a000000, mask: 0xff000000 } }];
  const on = parseConfigText(`${TENANT}dhcp: { enabled: false }\nmdns: { enabled: false }\nphones: { enabled: true }\nsip: { enabled: true, interfaces: [eth0, lan9] }\n`, 't.yaml', { skipPhoneProfiles: true });
  const w = hostWarnings(on, host);
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0] ?? '', /^sip\.interfaces: interface 'lan9' does not exist/);
  const off = parseConfigText(`${TENANT}dhcp: { enabled: false }\nmdns: { enabled: false }\nsip: { interfaces: [lan9] }\n`, 't.yaml', { skipPhoneProfiles: true });
  assert.deepEqual(hostWarnings(off, host), []);
});
