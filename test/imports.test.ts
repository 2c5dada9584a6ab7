/**
 * imports.test.ts: the shape of src/'s import graph (issue 11).
 *
 * - no import circle anywhere in src/ (type-only imports count: a type circle still couples
 *   two rooms);
 * - no face (src/dhcp, src/mdns, src/http, src/sip, src/tftp) imports another face's folder: what two faces share
 *   lives in a neutral room (src/urls, src/net, src/limits, …);
 * - only the composition root (src/config/, src/cli/, src/main.ts,
 *   src/daemon.ts) imports src/config/: a face or a domain types its own section;
 * - imports come first in every file of src/ (no constant
 *   declared between two import groups).
 *
 * The graph is read from the .ts sources (relative specifiers only, via TypeScript's own
 * import scanner). The checkers are pure functions over a graph, tested first on tiny
 * synthetic graphs so that a broken checker cannot pass silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, dirname, relative, sep, posix } from 'node:path';
import * as ts from 'typescript';

const SRC = join(__dirname, '..', '..', 'src');

/** FACES are the protocol faces' folders: none may import another. */
const FACES = ['dhcp', 'mdns', 'http', 'sip', 'tftp'];


/** Graph maps a file (path relative to src/, posix separators) to the files it imports. */
type Graph = ReadonlyMap<string, readonly string[]>;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** resolveSpecifier turns a relative specifier into a src/ file, or undefined when it leaves src/ or names no .ts file. */
function resolveSpecifier(fromFile: string, spec: string): string | undefined {
  const base = join(dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) {
      const rel = relative(SRC, candidate);
      return rel.startsWith('..') ? undefined : rel.split(sep).join(posix.sep);
    }
  }
  return undefined;
}

/** sourceGraph reads the relative imports (including `import type` and `export … from`) of every .ts file under src/. */
function sourceGraph(): Graph {
  const graph = new Map<string, string[]>();
  for (const file of listTs(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const deps = info.importedFiles
      .map((f) => f.fileName)
      .filter((s) => s.startsWith('./') || s.startsWith('../'))
      .map((s) => {
        const r = resolveSpecifier(file, s);
        assert.ok(r !== undefined, `${relative(SRC, file)}: cannot resolve '${s}'`);
        return r;
      });
    graph.set(relative(SRC, file).split(sep).join(posix.sep), [...new Set(deps)].sort());
  }
  return graph;
}

/**
 * findCycles returns one circle per strongly connected component of the graph that has one
 * (Tarjan), each as a path `[a, b, …, a]`, sorted for a stable message.
 */
function findCycles(graph: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      components.push(comp);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);

  const cycles: string[][] = [];
  for (const comp of components) {
    const members = new Set(comp);
    const start = [...comp].sort()[0];
    if (start === undefined) continue;
    if (comp.length === 1 && !(graph.get(start) ?? []).includes(start)) continue;
    cycles.push(pathBack(graph, start, members));
  }
  return cycles.sort((a, b) => a.join().localeCompare(b.join()));
}

/** pathBack finds a shortest path from `start` back to itself inside one strongly connected component (BFS). */
function pathBack(graph: Graph, start: string, members: ReadonlySet<string>): string[] {
  const prev = new Map<string, string>();
  const queue: string[] = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.unshift(u);
        path.unshift(start);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

const folderOf = (file: string): string | undefined => (file.includes('/') ? file.split('/')[0] : undefined);

/** faceViolations lists each import from one face's folder into another face's folder. */
function faceViolations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    if (from === undefined || !FACES.includes(from)) continue;
    for (const d of deps) {
      const to = folderOf(d);
      if (to !== undefined && to !== from && FACES.includes(to)) out.push(`${file} -> ${d}`);
    }
  }
  return out.sort();
}

/** isCompositionRoot: the files allowed to import src/config/ (the composed configuration and its loader). */
const isCompositionRoot = (file: string): boolean => /^(config|cli)\//.test(file) || ['main.ts', 'daemon.ts'].includes(file);

/** configViolations lists each import of src/config/ from a face, a domain or a shared module. */
function configViolations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [file, deps] of graph) {
    if (isCompositionRoot(file)) continue;
    for (const d of deps) if (d.startsWith('config/')) out.push(`${file} -> ${d}`);
  }
  return out.sort();
}

const g = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges));

test('findCycles finds a circle, a self-import and two separate circles, and passes an acyclic graph', () => {
  assert.deepEqual(findCycles(g({ a: ['b'], b: ['c'], c: [] })), []);
  assert.deepEqual(findCycles(g({ a: ['b', 'c'], b: ['c'], c: [] })), [], 'a diamond is no circle');
  assert.deepEqual(findCycles(g({ a: ['b'], b: ['c'], c: ['a'] })), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(g({ a: ['a'] })), [['a', 'a']]);
  assert.deepEqual(
    findCycles(g({ 'config/schema.ts': ['mdns/plan.ts', 'x.ts'], 'mdns/plan.ts': ['config/schema.ts'], 'x.ts': ['y.ts'], 'y.ts': ['x.ts'] })),
    [
      ['config/schema.ts', 'mdns/plan.ts', 'config/schema.ts'],
      ['x.ts', 'y.ts', 'x.ts'],
    ],
  );
  // A longer circle reached through a node outside it is reported with its members only.
  assert.deepEqual(findCycles(g({ r: ['p'], p: ['q'], q: ['s'], s: ['p'] })), [['p', 'q', 's', 'p']]);
});

test('faceViolations and configViolations catch a face reaching into another face or into src/config', () => {
  const graph = g({
    'mdns/plan.ts': ['dhcp/handler.ts', 'urls/plan.ts', 'config/schema.ts'],
    'dhcp/server.ts': ['dhcp/handler.ts', 'net/ipv4.ts'],
    'http/worker.ts': ['config/load.ts'],
    'jitsi/engine.ts': ['config/schema.ts'],
    'log.ts': ['config/schema.ts'],
    'daemon.ts': ['config/schema.ts', 'dhcp/server.ts'],
    'cli/run.ts': ['config/load.ts'],
    'config/schema.ts': ['dhcp/config.ts'],
  });
  assert.deepEqual(faceViolations(graph), ['mdns/plan.ts -> dhcp/handler.ts']);
  assert.deepEqual(configViolations(graph), ['http/worker.ts -> config/load.ts', 'jitsi/engine.ts -> config/schema.ts', 'log.ts -> config/schema.ts', 'mdns/plan.ts -> config/schema.ts']);
});

test('src/ import graph is read (sanity: known edges, type-only imports included)', () => {
  const graph = sourceGraph();
  assert.ok(graph.size > 50, `only ${graph.size} files under src/`);
  assert.ok(graph.get('dhcp/engine.ts')?.includes('dhcp/codec.ts'), 'dhcp/engine.ts -> dhcp/codec.ts');
  assert.ok(graph.get('facethread/host.ts')?.includes('facethread/guest.ts'), "facethread/host.ts -> facethread/guest.ts (an 'import type': the threads are loaded by path)");
  assert.ok(graph.get('dhcp/server.ts')?.includes('face.ts'), "dhcp/server.ts -> face.ts (an 'import type')");
  assert.ok(graph.get('config/schema.ts')?.includes('dhcp/config.ts'), 'config/schema.ts -> dhcp/config.ts');
});

test('src/ has no import circle', () => {
  const cycles = findCycles(sourceGraph());
  assert.deepEqual(cycles, [], `import circles in src/:\n${cycles.map((c) => `  ${c.join(' -> ')}`).join('\n')}`);
});

test('no face imports another face (src/dhcp, src/mdns, src/http share through neutral rooms)', () => {
  const bad = faceViolations(sourceGraph());
  assert.deepEqual(bad, [], `a face imports another face's folder:\n  ${bad.join('\n  ')}`);
});

test('only the composition root imports src/config (faces and domains import their own section)', () => {
  const bad = configViolations(sourceGraph());
  assert.deepEqual(bad, [], `imports of src/config outside the composition root:\n  ${bad.join('\n  ')}`);
});

/** lateImports lists each import declaration that follows another kind of statement in `text`. */
function lateImports(name: string, text: string): string[] {
  const sf = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  let first: ts.Statement | undefined;
  for (const s of sf.statements) {
    const isImport = ts.isImportDeclaration(s) || ts.isImportEqualsDeclaration(s);
    if (!isImport) first ??= s;
    else if (first !== undefined) out.push(`${name}:${sf.getLineAndCharacterOfPosition(s.getStart()).line + 1}: import after the statement on line ${sf.getLineAndCharacterOfPosition(first.getStart()).line + 1}`);
  }
  return out;
}

test('lateImports finds an import below a constant', () => {
  assert.deepEqual(lateImports('a.ts', "import { a } from './a';\nconst X = 1;\nimport { b } from './b';\n"), ['a.ts:3: import after the statement on line 2']);
  assert.deepEqual(lateImports('b.ts', "import { a } from './a';\nimport type { B } from './b';\nexport const X = 1;\n"), []);
});

test('imports come first in every file of src/', () => {
  const bad = listTs(SRC).flatMap((f) => lateImports(relative(SRC, f), readFileSync(f, 'utf8')));
  assert.deepEqual(bad, [], `imports below other statements:\n  ${bad.join('\n  ')}`);
});
