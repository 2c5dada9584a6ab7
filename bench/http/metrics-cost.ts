/**
 * metrics-cost.ts: what the Prometheus metrics cost the provisioning path, in-process and without
 * the noise of a shared box: the time per answered request that the HTTP face's activity record
 * and the metrics watcher (src/metrics/metrics.ts: the request counter and the latency
 * histogram) add, and the time one scrape takes with no face behind it.
 *
 *   node dist/bench/http/metrics-cost.js [N]      (N records, default 1 000 000, at most 10 000 000)
 */
import { ActivityBus, type Activity } from '../../src/activity';
import { Metrics } from '../../src/metrics/metrics';

function perRecord(bus: ActivityBus, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const a: Activity = { face: 'http', outcome: 'ok', ok: true, status: 200, at: Date.now(), ms: 0.8, ip: '10.0.0.1', tenant: 'localdomain', user: 'alice@localdomain', device: 'uuid:x' };
    bus.emit(a);
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

async function main(): Promise<void> {
  const n = Math.min(Math.max(Number(process.argv[2] ?? 1_000_000) || 1_000_000, 1000), 10_000_000);
  const bus = new ActivityBus();
  perRecord(bus, n); // warm-up
  const bare = perRecord(bus, n);
  const metrics = new Metrics({ bus, faces: () => Promise.resolve({}) });
  perRecord(bus, n); // warm-up
  const watched = perRecord(bus, n);
  await metrics.scrape();
  const t0 = process.hrtime.bigint();
  const runs = 100;
  for (let i = 0; i < runs; i++) await metrics.scrape();
  const scrapeMs = Number(process.hrtime.bigint() - t0) / runs / 1e6;
  metrics.close();
  process.stdout.write(
    `records: ${n}\nno watcher (the record built, the bus's size check): ${bare.toFixed(0)} ns per request\n` +
      `with the metrics watcher: ${watched.toFixed(0)} ns per request (+${(watched - bare).toFixed(0)} ns)\n` +
      `one scrape (no face behind it, mean of ${runs}): ${scrapeMs.toFixed(2)} ms\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
