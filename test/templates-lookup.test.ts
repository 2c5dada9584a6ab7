import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTemplateLookup, checkTemplateName, templateChain, stableContext, diskFiles, vendorRoots, numsort } from '../src/templates/lookup';
import type { TemplateFiles, TemplateRoot } from '../src/templates/lookup';
import { isProvError } from '../src/errors';

/** MemFiles is an in-memory tree; the stamp is a write counter, and every access is recorded. */
class MemFiles implements TemplateFiles {
  private readonly files = new Map<string, { text: string; version: number }>();
  private version = 0;
  readonly reads: string[] = [];
  readonly stamps: string[] = [];
  write(path: string, text: string): void {
    this.files.set(path, { text, version: ++this.version });
  }
  remove(path: string): void {
    this.files.delete(path);
  }
  stamp(path: string): string | undefined {
    this.stamps.push(path);
    const f = this.files.get(path);
    return f === undefined ? undefined : String(f.version);
  }
  read(path: string): string {
    this.reads.push(path);
    const f = this.files.get(path);
    if (f === undefined) throw new Error(`ENOENT ${path}`);
    return f.text;
  }
}

const ROOTS: TemplateRoot[] = [
  { label: 'custom', dir: '/etc/provisiond/templates/yealink' },
  { label: 'shipped', dir: '/usr/lib/provisiond/profiles/yealink/templates' },
];
const C = (name: string): string => `${ROOTS[0]?.dir}/${name}`;
const S = (name: string): string => `${ROOTS[1]?.dir}/${name}`;

const FILE = '00085D2EECFB.cfg';
const MODEL = 'T46S';

function setup(): { files: MemFiles; lookup: ReturnType<typeof createTemplateLookup> } {
  const files = new MemFiles();
  return { files, lookup: createTemplateLookup(ROOTS, files, { recheckMs: 0 }) };
}

function templateError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => isProvError(err) && err.code === 'PROVD_ERR_TEMPLATE' && re.test(err.message));
}

describe('lookup order', () => {
  // The six levels, in wazo-provd's order (reference §1.8).
  const LEVELS = [
    { root: 'custom', name: `${FILE}.tpl` },
    { root: 'shipped', name: `${FILE}.tpl` },
    { root: 'custom', name: `${MODEL}.tpl` },
    { root: 'shipped', name: `${MODEL}.tpl` },
    { root: 'custom', name: 'base.tpl' },
    { root: 'shipped', name: 'base.tpl' },
  ];

  test('chain names: file, model, base', () => {
    assert.deepEqual(templateChain(FILE, MODEL), [`${FILE}.tpl`, `${MODEL}.tpl`, 'base.tpl']);
    assert.deepEqual(templateChain(FILE, undefined), [`${FILE}.tpl`, 'base.tpl']);
    assert.deepEqual(templateChain('base', 'base'), ['base.tpl']);
  });

  test('every combination of the six levels present/absent (2^6): the first present wins', () => {
    for (let mask = 0; mask < 64; mask++) {
      const { files, lookup } = setup();
      LEVELS.forEach((l, i) => {
        if (mask & (1 << i)) files.write(l.root === 'custom' ? C(l.name) : S(l.name), `${l.root}/${l.name}`);
      });
      const first = LEVELS.findIndex((_, i) => (mask & (1 << i)) !== 0);
      if (first < 0) {
        templateError(() => lookup.render(FILE, MODEL, {}), /no template for 00085D2EECFB\.cfg \(model T46S\): tried custom\/00085D2EECFB\.cfg\.tpl, shipped\/00085D2EECFB\.cfg\.tpl, custom\/T46S\.tpl, shipped\/T46S\.tpl, custom\/base\.tpl, shipped\/base\.tpl/);
        assert.equal(lookup.find(FILE, MODEL), undefined);
        continue;
      }
      const want = LEVELS[first];
      assert.ok(want);
      const r = lookup.render(FILE, MODEL, {});
      assert.equal(r.text, `${want.root}/${want.name}`, `mask ${mask.toString(2)}`);
      assert.equal(r.template.root, want.root);
      assert.equal(r.template.name, want.name);
      assert.equal(r.template.path, want.root === 'custom' ? C(want.name) : S(want.name));
      assert.deepEqual(lookup.find(FILE, MODEL), r.template);
      assert.deepEqual(r.used, [`${want.root}/${want.name}`]);
    }
  });

  test('include and extends resolve custom before shipped, for every combination', () => {
    // [custom part, shipped part, custom base, shipped base]
    for (let mask = 0; mask < 16; mask++) {
      const { files, lookup } = setup();
      files.write(S(`${MODEL}.tpl`), '{% extends "base.tpl" %}{% block lines %}model lines{% endblock %}');
      if (mask & 1) files.write(C('part.tpl'), 'custom part');
      if (mask & 2) files.write(S('part.tpl'), 'shipped part');
      if (mask & 4) files.write(C('base.tpl'), 'custom base [{% block lines %}{% endblock %}] {% include "part.tpl" %}');
      if (mask & 8) files.write(S('base.tpl'), 'shipped base [{% block lines %}{% endblock %}] {% include "part.tpl" %}');
      const base = mask & 4 ? 'custom' : mask & 8 ? 'shipped' : undefined;
      const part = mask & 1 ? 'custom' : mask & 2 ? 'shipped' : undefined;
      if (base === undefined) {
        templateError(() => lookup.render(FILE, MODEL, {}), /template not found: base\.tpl/);
        continue;
      }
      if (part === undefined) {
        templateError(() => lookup.render(FILE, MODEL, {}), /template not found: part\.tpl/);
        continue;
      }
      const r = lookup.render(FILE, MODEL, {});
      assert.equal(r.text, `${base} base [model lines] ${part} part`, `mask ${mask.toString(2)}`);
      assert.equal(r.template.root, 'shipped');
      assert.equal(r.template.name, `${MODEL}.tpl`);
      assert.deepEqual(r.used, [`shipped/${MODEL}.tpl`, `${base}/base.tpl`, `${part}/part.tpl`]);
    }
  });

  test('import and relative names resolve the same way', () => {
    const { files, lookup } = setup();
    files.write(S('base.tpl'), '{% import "macros/lines.tpl" as m %}{{ m.line(1) }}|{% include "./macros/../macros/x.tpl" %}');
    files.write(S('macros/lines.tpl'), '{% macro line(n) %}shipped {{ n }}{% endmacro %}');
    files.write(C('macros/lines.tpl'), '{% macro line(n) %}custom {{ n }}{% endmacro %}{% include "./y.tpl" %}');
    files.write(S('macros/y.tpl'), '');
    files.write(S('macros/x.tpl'), 'x');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'custom 1|x');
  });
});

describe('names that escape the directories are refused', () => {
  const BAD = ['../base', '../../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', './x', 'a\\..\\b', 'x\u0000y', ''];
  test('checkTemplateName', () => {
    for (const n of BAD) assert.notEqual(checkTemplateName(n), undefined, JSON.stringify(n));
    for (const n of ['base.tpl', '00085D2EECFB.cfg.tpl', 'y000000000028.cfg.tpl', 'macros/lines.tpl', 'VVX 410.tpl', '0004f2211c8b-user.cfg.tpl']) {
      assert.equal(checkTemplateName(n), undefined, n);
    }
  });

  test('as a file, a model, an include or an extends; no file outside the roots is touched', () => {
    const { files, lookup } = setup();
    files.write(S('base.tpl'), 'base');
    files.write(C('inc-up.cfg.tpl'), '{% include "../../secret.tpl" %}');
    files.write(C('inc-abs.cfg.tpl'), '{% include "/etc/passwd" %}');
    files.write(C('ext-up.cfg.tpl'), '{% extends "../x.tpl" %}');
    files.write(C('sub/rel.cfg.tpl'), '{% include "../../x.tpl" %}');
    const CASES: { file: string; model: string | undefined }[] = [
      { file: '../../etc/passwd', model: undefined },
      { file: '/etc/shadow', model: undefined },
      { file: 'ok.cfg', model: '../../../etc/passwd' },
      { file: 'ok.cfg', model: '/etc/passwd' },
      { file: 'inc-up.cfg', model: undefined },
      { file: 'inc-abs.cfg', model: undefined },
      { file: 'ext-up.cfg', model: undefined },
      { file: 'sub/rel.cfg', model: undefined },
    ];
    for (const c of CASES) templateError(() => lookup.render(c.file, c.model, {}), /template name .* (is absolute|leaves the template directories)/);
    for (const p of [...files.stamps, ...files.reads]) assert.ok(ROOTS.some((r) => p.startsWith(r.dir + '/')), p);
  });
});

test('vendorRoots: custom under the site directory, then the shipped profile; bad names refused', () => {
  assert.deepEqual(vendorRoots('/etc/provisiond/templates', 'yealink', '/usr/lib/provisiond/profiles/yealink/templates'), [
    { label: 'custom', dir: '/etc/provisiond/templates/yealink' },
    { label: 'shipped', dir: '/usr/lib/provisiond/profiles/yealink/templates' },
  ]);
  for (const v of ['', '..', 'Yealink', 'a/b', '../x']) templateError(() => vendorRoots('/etc', v, '/usr'), /vendor name/);
  templateError(() => createTemplateLookup([{ label: 'a/b', dir: '/x' }]), /root label/);
});

describe('changes on disk are seen at the next render, with no reconfigure step', () => {
  test('a custom file added, edited, removed; an included file edited; compiled templates reused', () => {
    const { files, lookup } = setup();
    files.write(S('base.tpl'), 'base {% include "part.tpl" %}');
    files.write(S('part.tpl'), 'p1');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'base p1');
    files.reads.length = 0;
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'base p1');
    assert.deepEqual(files.reads, [], 'unchanged templates are not read again');

    files.write(C(`${FILE}.tpl`), 'custom device file');
    const r = lookup.render(FILE, MODEL, {});
    assert.equal(r.text, 'custom device file');
    assert.equal(r.template.root, 'custom');

    files.write(C(`${FILE}.tpl`), 'edited {% include "part.tpl" %}');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'edited p1');

    files.write(C('part.tpl'), 'custom part');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'edited custom part');
    files.write(C('part.tpl'), 'custom part 2');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'edited custom part 2');

    files.remove(C(`${FILE}.tpl`));
    files.remove(C('part.tpl'));
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'base p1');
  });

  test('with recheckMs, a stamp is trusted that long, then the change is seen', () => {
    const files = new MemFiles();
    let clock = 1_000_000;
    const lookup = createTemplateLookup(ROOTS, files, { recheckMs: 1000, now: () => clock });
    files.write(S('base.tpl'), 'old');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'old');
    files.stamps.length = 0;
    files.write(C('base.tpl'), 'new');
    clock += 999;
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'old');
    assert.deepEqual(files.stamps, [], 'no stat within recheckMs');
    clock += 1;
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'new');
    clock -= 60_000; // the clock stepped back: stamps are read again
    files.write(C('base.tpl'), 'newer');
    assert.equal(lookup.render(FILE, MODEL, {}).text, 'newer');
  });

  test('clear() forgets the compiled templates', () => {
    const { files, lookup } = setup();
    files.write(S('base.tpl'), 'base');
    lookup.render(FILE, MODEL, {});
    files.reads.length = 0;
    lookup.clear();
    lookup.render(FILE, MODEL, {});
    assert.deepEqual(files.reads, [S('base.tpl')]);
  });

  test('on disk: a custom template written after the first render wins the next one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provd-lookup-'));
    try {
      const custom = join(dir, 'custom');
      const shipped = join(dir, 'shipped');
      mkdirSync(custom);
      mkdirSync(shipped);
      writeFileSync(join(shipped, 'base.tpl'), 'shipped base');
      const lookup = createTemplateLookup([{ label: 'custom', dir: custom }, { label: 'shipped', dir: shipped }], diskFiles, { recheckMs: 0 });
      assert.equal(lookup.render(FILE, MODEL, {}).text, 'shipped base');
      writeFileSync(join(custom, `${MODEL}.tpl`), '{% extends "base.tpl" %}');
      const r = lookup.render(FILE, MODEL, {});
      assert.equal(r.text, 'shipped base');
      assert.equal(r.template.path, join(custom, `${MODEL}.tpl`));
      writeFileSync(join(custom, 'base.tpl'), 'custom base');
      assert.equal(lookup.render(FILE, MODEL, {}).text, 'custom base');
      // An editor's save: a new file renamed over the old one (same size, new inode).
      writeFileSync(join(custom, 'base.tmp'), 'CUSTOM BASE');
      renameSync(join(custom, 'base.tmp'), join(custom, 'base.tpl'));
      assert.equal(lookup.render(FILE, MODEL, {}).text, 'CUSTOM BASE');
      mkdirSync(join(custom, `${FILE}.tpl`)); // a directory is not a template
      assert.equal(lookup.render(FILE, MODEL, {}).template.name, `${MODEL}.tpl`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rendering', () => {
  test('byte-stable: the same inputs in another key order give the same bytes', () => {
    const { files, lookup } = setup();
    files.write(
      S('base.tpl'),
      '{% for n, l in sip_lines %}line {{ n }}: {{ l.username }} {% for k, v in l %}{{ k }}={{ v }};{% endfor %}\n{% endfor %}{% for k, v in X_opts %}{{ k }}={{ v }}\n{% endfor %}',
    );
    const a = {
      sip_lines: { '2': { username: 'bob', password: 'b', display_name: 'Bob' }, '1': { username: 'alice', password: 'a', display_name: 'Alice' } },
      X_opts: { zeta: 1, alpha: 'x', mid: true },
    };
    const b = {
      X_opts: { mid: true, alpha: 'x', zeta: 1 },
      sip_lines: { '1': { display_name: 'Alice', password: 'a', username: 'alice' }, '2': { display_name: 'Bob', username: 'bob', password: 'b' } },
    };
    const ra = Buffer.from(lookup.render(FILE, MODEL, a).text);
    const rb = Buffer.from(lookup.render(FILE, MODEL, b).text);
    const ra2 = Buffer.from(lookup.render(FILE, MODEL, a).text);
    assert.ok(ra.equals(rb), `${ra.toString()}\n---\n${rb.toString()}`);
    assert.ok(ra.equals(ra2));
    assert.equal(
      ra.toString(),
      'line 1: alice display_name=Alice;password=a;username=alice;\nline 2: bob display_name=Bob;password=b;username=bob;\nalpha=x\nmid=true\nzeta=1\n',
    );
  });

  test('stableContext refuses values whose text is not stable', () => {
    assert.deepEqual(Object.keys(stableContext({ b: 1, a: { d: 1, c: 2 } }) as object), ['a', 'b']);
    for (const bad of [{ when: new Date(0) }, { f: () => 1 }, { n: Number.NaN }, { m: new Map() }, { big: 1n }]) {
      assert.throws(() => stableContext(bad), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_TEMPLATE');
    }
  });

  test('errors name the file and line; an undefined value is an error', () => {
    const { files, lookup } = setup();
    files.write(C(`${FILE}.tpl`), 'a\n{{ sip_lines["1"].usernme }}');
    templateError(() => lookup.render(FILE, MODEL, { sip_lines: { '1': { username: 'u' } } }), /custom\/00085D2EECFB\.cfg\.tpl.*Line 2/);
    files.write(C(`${FILE}.tpl`), 'a\n{% if %}');
    templateError(() => lookup.render(FILE, MODEL, {}), /custom\/00085D2EECFB\.cfg\.tpl.*Line 2/);
  });
});

describe('numsort', () => {
  const table: readonly { readonly name: string; readonly input: unknown; readonly keys: readonly string[] }[] = [
    { name: 'digits in numeric order', input: { '1': 0, '10': 0, '11': 0, '12': 0, '2': 0, '3': 0 }, keys: ['1', '2', '3', '10', '11', '12'] },
    { name: 'digit keys before the others, the others in text order', input: { b: 0, '2': 0, a: 0, '10': 0, '1x': 0 }, keys: ['2', '10', '1x', 'a', 'b'] },
    { name: 'leading zeros: equal numbers in text order', input: { '02': 0, '2': 0, '1': 0 }, keys: ['1', '02', '2'] },
    { name: 'undefined', input: undefined, keys: [] },
    { name: 'null', input: null, keys: [] },
  ];
  for (const row of table) {
    test(row.name, () => {
      assert.deepEqual(numsort(row.input).map(([k]) => k), row.keys);
    });
  }
  test('pairs carry their values, and a render iterates them', () => {
    assert.deepEqual(numsort({ '10': 'x', '9': 'y' }), [['9', 'y'], ['10', 'x']]);
    const files: TemplateFiles = { stamp: (p) => (p === '/s/base.tpl' ? '1' : undefined), read: () => '{% for n, v in m | numsort %}{{ n }}={{ v }};{% endfor %}' };
    const lookup = createTemplateLookup([{ label: 'shipped', dir: '/s' }], files);
    assert.equal(lookup.render('f.cfg', undefined, { m: { '10': 'a', '2': 'b', '1': 'c' } }).text, '1=c;2=b;10=a;');
  });
  test('a list or a text is refused with PROVD_ERR_TEMPLATE', () => {
    for (const bad of [[1, 2], 'abc', 3]) assert.throws(() => numsort(bad), (e: unknown) => isProvError(e) && e.code === 'PROVD_ERR_TEMPLATE');
  });
  test('LookupOptions.filters adds a filter', () => {
    const files: TemplateFiles = { stamp: (p) => (p === '/s/base.tpl' ? '1' : undefined), read: () => '{{ x | twice }}' };
    const lookup = createTemplateLookup([{ label: 'shipped', dir: '/s' }], files, { filters: { twice: (v) => `${String(v)}${String(v)}` } });
    assert.equal(lookup.render('f.cfg', undefined, { x: 'ab' }).text, 'abab');
  });
});
