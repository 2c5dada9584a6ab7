import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import nunjucks from 'nunjucks';
import { compileTemplate } from '../src/templates/templates';
import type { RenderContext } from '../src/templates/context';

// The fast path for plain lookups must give exactly what nunjucks gives, error for error.
const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });

function viaNunjucks(src: string, ctx: RenderContext): string | Error {
  try {
    return new nunjucks.Template(src, env, 'n', true).render(ctx as unknown as object);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function viaOurs(src: string, ctx: RenderContext): string | Error {
  const t = compileTemplate(src);
  assert.ok(t.ok);
  try {
    return t.template.render(ctx);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

const params = Object.assign(Object.create(null), { os: 'Linux', n: '', weird: "a'b\"c" }) as Record<string, string>;
const base: RenderContext = {
  params,
  user: { name: 'alice', domain: 'example.org', id: 'alice@example.org', attributes: { ext: '1001', n: '0' } },
  tenant: { domain: 'example.org', attributes: {} },
  client: { ip: '192.0.2.1', userAgent: 'Jitsi/2.10.5550', product: 'Jitsi', version: '2.10.5550' },
  device: { key: undefined, uuid: undefined, hwaddr: '00:1a:2b:3c:4d:5e', hostname: undefined, osname: 'Linux', arch: undefined, build: undefined, ipaddr: undefined },
};
const contexts: RenderContext[] = [base, { ...base, user: null }, { ...base, params: Object.create(null) as Record<string, string> }];

const TEMPLATES = [
  'SIP:{{ user.name }}@{{ tenant.domain }}',
  '{{ params.os }}',
  '{{params.os}}-{{ params.n }}',
  '{{ params.missing }}',
  "{{ params.missing | default('none') }}",
  '{{ params.os | default("x") }}',
  "{{ params.n | default('empty stays empty') }}",
  "{{ user.name | default('anonymous') }}",
  "{{ user.attributes.ext | default('') }}",
  "{{ user.attributes.nope.deeper | default('d') }}",
  '{{ user.attributes.constructor }}',
  "{{ user.attributes.toString | default('t') }}",
  '{{ device.uuid }}',
  "{{ device.uuid | default('no uuid') }}",
  '{{ client.version }}',
  '{{ user.name.length }}',
  '{{ params.weird }}',
  '{{ tenant.attributes }}',
  '{{ user }}',
  'literal only',
];

describe('template fast path matches nunjucks exactly', () => {
  for (const src of TEMPLATES) {
    test(src, () => {
      for (const ctx of contexts) {
        const want = viaNunjucks(src, ctx);
        const got = viaOurs(src, ctx);
        if (want instanceof Error) assert.ok(got instanceof Error, `expected an error, got ${JSON.stringify(got)}`);
        else assert.equal(got, want);
      }
    });
  }
});
