/**
 * bench/storm/kdfcost.ts: the cost model of a cold storm: how many scrypt checks one core does
 * per second at each KDF cost (ln = log2 N, r=8, p=1: the stored form's parameters), and what
 * that makes for a 10 s client timeout with the product's default pool (cores − 1 threads).
 *
 *   node dist/bench/storm/kdfcost.js [lnFrom=10] [lnTo=17] [secondsPerCost=2]
 *
 * Runs scrypt on this thread, synchronously, at this process's priority (the daemon's pool runs
 * at nice 10: on a busy host it gets less than this). The CPU share (process CPU time / wall
 * time) is printed beside each row (under 1.0 the host was busy); the per-core rate is computed
 * from the CPU time, i.e. what a core of its own would do (memory bandwidth shared with the
 * host's other load still slows it).
 */
import { scryptSync, randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';

function main(): void {
  const [from, to, secs] = [Number(process.argv[2] ?? 10), Number(process.argv[3] ?? 17), Number(process.argv[4] ?? 2)];
  const cores = availableParallelism();
  const pool = Math.max(1, cores - 1);
  process.stdout.write(`# scrypt r=8 p=1 on one thread; ${cores} cores, default pool ${pool} thread(s); load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write('| ln | memory | wall ms per check | CPU share | CPU ms per check | checks per CPU-second (one core) | pool checks/s (a core each) | logins in a 10 s timeout (burst) |\n|---|---|---|---|---|---|---|---|\n');
  for (let ln = from; ln <= to; ln++) {
    const N = 2 ** ln;
    const salt = randomBytes(16);
    const opts = { N, r: 8, p: 1, maxmem: 256 * N * 8 + (1 << 20) };
    scryptSync('warm', salt, 32, opts);
    let runs = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    while (runs < 3 || performance.now() - t0 < secs * 1000) {
      scryptSync(`pw-${runs}`, salt, 32, opts);
      runs++;
    }
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const ms = wall / runs;
    const share = (cpu.user + cpu.system) / 1000 / wall;
    // The CPU time per check is what a core of its own would give (the host's other load left out).
    const cpuMs = ms * share;
    const perCore = 1000 / cpuMs;
    process.stdout.write(`| ${ln} | ${(128 * 8 * N) / 2 ** 20} MiB | ${ms.toFixed(1)} | ${share.toFixed(2)} | ${cpuMs.toFixed(1)} | ${perCore.toFixed(1)} | ${(perCore * pool).toFixed(1)} | ${Math.floor(perCore * pool * 10)} |\n`);
  }
}

main();
