/**
 * summary.ts (bench/phones): the Markdown tables of a boot-storm run (bench/phones/run.sh).
 *
 *   node dist/bench/phones/summary.js RUNS.jsonl
 *
 * RUNS.jsonl holds one line per storm: {case, round, attempt, noisy, foreign, serverCpuMs,
 * result} (result: storm.ts's RESULT). Round 0 is the first storm after the servers started
 * (reported apart); the medians are over the quiet runs of rounds 1 and up (over all of them,
 * said so, when none was quiet). Then the ratios provisiond / nginx of the medians.
 */
import { readFileSync } from 'node:fs';
import type { StormResult } from './storm';

/** RunLine is one line of RUNS.jsonl. */
export interface RunLine {
  readonly case: string;
  readonly round: number;
  readonly attempt: number;
  readonly noisy: boolean;
  readonly foreign: number;
  readonly serverCpuMs: number;
  /** tcp: the namespace's kernel counters over the storm (a listen-queue overflow costs the client a 1 s SYN retransmission). */
  readonly tcp?: { readonly listenOverflows: number; readonly listenDrops: number; readonly timeouts: number; readonly retransSegs: number; readonly attemptFails: number };
  readonly result: StormResult;
}

/** median of numbers (NaN when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const errText = (r: StormResult): string => {
  const e = Object.entries(r.errors);
  return e.length === 0 ? '0' : e.map(([k, c]) => `${c} ${k}`).join(', ');
};

const f1 = (x: number): string => (Number.isFinite(x) ? (Math.round(x * 10) / 10).toString() : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');

/** summarize is the report's Markdown. */
export function summarize(lines: readonly RunLine[]): string {
  const out: string[] = [];
  out.push('| case | round | noisy (foreign CPU %) | phones ok | errors | completion s | req/s | request p50 / p99 ms | phone p50 / p99 ms | server CPU s | client CPU s | listen overflows / retransmitted segments |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const l of lines) {
    const r = l.result;
    out.push(
      `| ${l.case} | ${l.round === 0 ? '0 (first after start)' : l.round}${l.attempt > 1 ? ` (attempt ${l.attempt})` : ''} | ${l.noisy ? 'yes' : 'no'} (${f1(l.foreign)}) | ${r.phonesOk}/${r.phones} | ${errText(r)} | ${f2(r.completionMs / 1000)} | ${r.reqPerSec} | ${f2(r.reqP50Ms)} / ${f2(r.reqP99Ms)} | ${f1(r.phoneP50Ms)} / ${f1(r.phoneP99Ms)} | ${f2(l.serverCpuMs / 1000)} | ${f2(r.clientCpuMs / 1000)} | ${l.tcp === undefined ? '–' : `${l.tcp.listenOverflows} / ${l.tcp.retransSegs}`} |`,
    );
  }
  const cases = [...new Set(lines.map((l) => l.case))];
  const med = new Map<string, { completion: number; rps: number; p50: number; p99: number; phoneP99: number; cpu: number; runs: number; errors: number }>();
  out.push('', '| case | runs in the medians (rounds ≥ 1) | phones failed (sum) | completion s median | req/s median | request p50 / p99 ms median | phone p99 ms median | server CPU s median |', '|---|---|---|---|---|---|---|---|');
  for (const c of cases) {
    const all = lines.filter((l) => l.case === c && l.round >= 1);
    const quiet = all.filter((l) => !l.noisy);
    // no quiet run at all (a busy shared box): the medians of every run, said so in the table
    const q = quiet.length > 0 ? quiet : all;
    const m = {
      completion: median(q.map((l) => l.result.completionMs / 1000)),
      rps: median(q.map((l) => l.result.reqPerSec)),
      p50: median(q.map((l) => l.result.reqP50Ms)),
      p99: median(q.map((l) => l.result.reqP99Ms)),
      phoneP99: median(q.map((l) => l.result.phoneP99Ms)),
      cpu: median(q.map((l) => l.serverCpuMs / 1000)),
      runs: q.length,
      errors: q.reduce((s, l) => s + l.result.phonesFailed, 0),
    };
    med.set(c, m);
    out.push(`| ${c} | ${quiet.length > 0 ? `${m.runs} quiet` : `${m.runs}, all noisy`} | ${m.errors} | ${f2(m.completion)} | ${Math.round(m.rps)} | ${f2(m.p50)} / ${f2(m.p99)} | ${f1(m.phoneP99)} | ${f2(m.cpu)} |`);
  }
  const p = med.get('provisiond');
  const n = med.get('nginx');
  if (p !== undefined && n !== undefined) {
    out.push(
      '',
      `ratio provisiond / nginx (medians): completion time x${f2(p.completion / n.completion)}, req/s x${f2(p.rps / n.rps)}, ` +
        `request p50 x${f2(p.p50 / n.p50)}, p99 x${f2(p.p99 / n.p99)}, server CPU x${f2(p.cpu / n.cpu)}`,
    );
  }
  return out.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: summary.js RUNS.jsonl\n');
    process.exit(64);
  }
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((s) => s.trim() !== '')
    .map((s) => JSON.parse(s) as RunLine);
  process.stdout.write(`${summarize(lines)}\n`);
}
