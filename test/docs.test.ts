import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ErrorCodes } from '../src/errors';

/** ROOT is the repository (this file runs as dist/test/docs.test.js). */
const ROOT = join(__dirname, '..', '..');
/** FACES are the folders that must each document their own error codes in a README.md. */
const FACES = ['dhcp', 'mdns', 'http', 'probe', 'tftp'] as const;
const CODE = /PROVD_ERR_[A-Z][A-Z0-9_]*/g;

/** walk lists the files under dir (recursively) whose name satisfies keep. */
function walk(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p, keep));
    else if (keep(name)) out.push(p);
  }
  return out;
}

/** readmes are the top-level README.md and every src/**\/README.md. */
function readmes(): string[] {
  return [join(ROOT, 'README.md'), ...walk(join(ROOT, 'src'), (n) => n === 'README.md')];
}

/** prose drops fenced code blocks and inline code, where brackets are not links. */
function prose(md: string): string {
  return md.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '').replace(/`[^`\n]*`/g, (s) => (s.includes('](') ? '' : s));
}

/** anchors are the GitHub heading anchors of a Markdown file (duplicates get -1, -2, …). */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of md.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '').matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = (m[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

test('each face folder has a README.md naming every PROVD_ERR_* code its code uses', () => {
  for (const face of FACES) {
    const dir = join(ROOT, 'src', face);
    const readme = join(dir, 'README.md');
    assert.ok(existsSync(readme), `src/${face}/README.md is missing`);
    const text = readFileSync(readme, 'utf8');
    const used = new Set<string>();
    for (const f of walk(dir, (n) => n.endsWith('.ts'))) for (const m of readFileSync(f, 'utf8').matchAll(CODE)) used.add(m[0]);
    const missing = [...used].filter((c) => !text.includes(c)).sort();
    assert.deepEqual(missing, [], `src/${face}/README.md does not mention ${missing.join(', ')}`);
  }
});

test('every PROVD_ERR_* code a folder README mentions exists in src/errors.ts', () => {
  for (const file of readmes().slice(1)) {
    const unknown = [...new Set([...readFileSync(file, 'utf8').matchAll(CODE)].map((m) => m[0]))].filter((c) => !(c in ErrorCodes));
    assert.deepEqual(unknown, [], `${relative(ROOT, file)} names unknown codes`);
  }
});

test('every relative link in README.md and src/**/README.md resolves', () => {
  const broken: string[] = [];
  for (const file of readmes()) {
    const md = readFileSync(file, 'utf8');
    for (const m of prose(md).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const link = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:, …
      const [path = '', anchor] = link.split('#', 2);
      const target = path === '' ? file : join(dirname(file), decodeURIComponent(path));
      const where = `${relative(ROOT, file)}: ${link}`;
      if (!existsSync(target)) {
        broken.push(`${where} (no such path)`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${where} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

/** helpCommands lists `provisiond …` commands from a --help text's Commands: section. */
function helpCommands(args: readonly string[]): string[] {
  const text = execFileSync(process.execPath, [join(ROOT, 'dist', 'src', 'main.js'), ...args, '--help'], { encoding: 'utf8', timeout: 20_000 });
  const start = text.indexOf('\nCommands:\n');
  const section = start < 0 ? '' : text.slice(start + 11).split('\n\n')[0] ?? '';
  const out: string[] = [];
  for (const m of section.matchAll(/^ {2}(provisiond(?: [a-z][a-z-]*)+)/gm)) out.push(m[1] ?? '');
  return out;
}

test("README's command block names every command and subcommand of --help, and nothing that no longer exists", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // `provisiond [run]`: run is the default command.
  const block = /^## Command line\n\n```\n([\s\S]*?)^```$/m.exec(readme)?.[1]?.replace(/^provisiond \[run\]/m, 'provisiond run');
  assert.ok(block !== undefined, 'README has a "## Command line" section starting with a code block');
  const top = helpCommands([]);
  assert.ok(top.length >= 10, `--help lists ${top.length} commands`);
  const all: string[] = [];
  for (const c of top) {
    const sub = helpCommands(c.split(' ').slice(1));
    // A group (user, key, devices, …) lists its own subcommands; a leaf lists none.
    all.push(...(sub.length > 0 ? sub : [c]));
  }
  const missing = all.filter((c) => !new RegExp(`^${c}(?: |$)`, 'm').test(block));
  assert.deepEqual(missing, [], 'commands of --help missing from README\'s command block');
  const documented = new Set([...block.matchAll(/^provisiond ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)/gm)].map((m) => m[1]?.split(' ')[0]));
  const known = new Set(top.map((c) => c.split(' ')[1]));
  assert.deepEqual([...documented].filter((c) => c !== undefined && !known.has(c)), [], 'README documents commands --help does not know');
});
