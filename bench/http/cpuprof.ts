/**
 * cpuprof.ts: a `node --cpu-prof` profile as two short tables: self time by function and by
 * origin (our src/ rooms, each node_modules package, node: internals, GC, idle).
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/http/alloc.js 20000 50
 *   node dist/bench/http/cpuprof.js /tmp/prof/*.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** originOf names where a frame's code lives. */
function originOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const src = url.indexOf('/dist/');
  if (src >= 0) return url.slice(src + '/dist/'.length).split('/').slice(0, 2).join('/');
  return url;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: cpuprof.js FILE.cpuprofile [TOP]');
  const top = Number(topArg ?? 25);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const origin = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i] ?? -1);
    const dt = p.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const o = originOf(f.url, f.functionName);
    origin.set(o, (origin.get(o) ?? 0) + dt);
  }
  const busy = total - (origin.get('(idle)') ?? 0);
  const pct = (v: number): string => `${((100 * v) / total).toFixed(1)} %`;
  process.stdout.write(`total ${(total / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms\n\n| origin | self | share |\n|---|---|---|\n`);
  for (const [k, v] of [...origin].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`| ${k} | ${(v / 1000).toFixed(0)} ms | ${pct(v)} |\n`);
  process.stdout.write('\n| function | self | share |\n|---|---|---|\n');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`| ${k} | ${(v / 1000).toFixed(0)} ms | ${pct(v)} |\n`);
}

main();
