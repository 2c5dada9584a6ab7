/**
 * setup.ts (bench/phones): builds the lab of the phone boot storm (bench/phones/run.sh).
 *
 *   node dist/bench/phones/setup.js OUT_DIR N PORT WORKERS [--default-limits]
 *
 * Writes, under OUT_DIR (which should be empty):
 *   - provisiond.yaml: the lab (lab.ts labYaml): one tenant `bench.test` with `auth: url_key`
 *     and a urlKey, N users each with its own SIP username/password, one default config,
 *     N phones in `phones.devices`; phones.enabled; the flood limits off unless --default-limits;
 *   - state/: the store, seeded here with syncDeclared as the daemon seeds it at start (an
 *     unchanged declaration then writes nothing);
 *   - www/<key>/<file>: every file the storm fetches that provisiond answers 200, rendered once
 *     by PhoneService (per-device files with renderDevice, common files with answer() and the
 *     phone's User-Agent), for nginx; a file provisiond answers 404 is not written (nginx 404s);
 *   - manifest.json: per phone its User-Agent, source address, expected SIP username and
 *     password, and its request sequence (entry files then lab.ts follow()) with, per file, the
 *     expected status and the sha256 of the expected body.
 * Any other status than 200/404, a common file that differs between two phones, or a
 * per-device file without the phone's SIP username and password stops the setup (exit 1); a
 * per-device file where renderDevice and the phone's own answer() disagree is reported (the
 * docroot gets the phone's answer).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load';
import { hashPassword } from '../../src/identity/passwords';
import { loadPhonesDomain } from '../../src/phones/domain';
import { PhoneService, syncDeclared } from '../../src/phones/service';
import { openSqliteStore } from '../../src/store/sqlite';
import { deviceFileOf, entryFiles, follow, generateLab, labYaml, userOfBody, MAX_PHONES, type Manifest, type ManifestPhone, type Phone } from './lab';

/** TENANT is the lab's one tenant. */
export const TENANT = 'bench.test';
/** BASE_URL is phones.baseUrl: the same http_base_url in every file whichever server serves it. */
export const BASE_URL = 'http://prov.bench.test:8667/';
/** MAX_FILES_PER_PHONE bounds one phone's sequence. */
const MAX_FILES_PER_PHONE = 12;

const sha = (b: Buffer): string => (b.length === 0 ? '' : createHash('sha256').update(b).digest('hex'));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const defaultLimits = args.includes('--default-limits');
  const [out, nArg, portArg, workersArg] = args.filter((a) => !a.startsWith('--'));
  if (out === undefined || nArg === undefined || portArg === undefined || workersArg === undefined) throw new Error('usage: setup.js OUT_DIR N PORT WORKERS [--default-limits]');
  const n = Number(nArg);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PHONES) throw new Error(`N must be 1..${MAX_PHONES}`);
  const t0 = Date.now();
  const phones = generateLab(n);
  const key = randomBytes(24).toString('base64url'); // 32 characters of the key alphabet
  const stateDir = join(out, 'state');
  mkdirSync(out, { recursive: true });
  // One stored hash for every user: phones never send it, the user schema requires one (ln=10 keeps it cheap).
  const passwordHash = await hashPassword(randomBytes(16).toString('hex'), 10);
  const yamlPath = join(out, 'provisiond.yaml');
  writeFileSync(yamlPath, labYaml(phones, { stateDir, port: Number(portArg), workers: Number(workersArg), tenant: TENANT, urlKey: key, baseUrl: BASE_URL, passwordHash, defaultLimits }));

  const cfg = loadConfigFile(yamlPath);
  const store = openSqliteStore(cfg.stateDir);
  try {
    const domain = loadPhonesDomain(cfg.phones);
    if (domain.problems.length > 0) throw new Error(`profile problems:\n${domain.problems.join('\n')}`);
    const sync = syncDeclared(store.phones, cfg.phones, cfg.provisioning.defaultDomain);
    if (sync.problems.length > 0) throw new Error(`syncDeclared:\n${sync.problems.slice(0, 10).join('\n')}`);
    const svc = new PhoneService({ phones: cfg.phones, provisioning: cfg.provisioning }, { phones: store.phones, users: store.sync?.users, keys: store.sync?.keys, domain });
    const resolved = svc.resolveTenant(key, '127.0.0.1');
    if (!resolved.ok) throw new Error(`the lab's key reaches no tenant: ${resolved.outcome}`);
    const server = { httpBaseUrl: BASE_URL };
    const www = join(out, 'www', key);
    mkdirSync(www, { recursive: true });
    const written = new Map<string, string>(); // file → sha256
    const manifest: ManifestPhone[] = [];
    let files = 0;
    const renderMismatch = new Map<string, number>();
    for (const p of phones) {
      const deviceFile = deviceFileOf(p);
      const queue = [...entryFiles(p)];
      const reqs: [string, number, string][] = [];
      while (queue.length > 0 && reqs.length < MAX_FILES_PER_PHONE) {
        const file = queue.shift() as string;
        const a = svc.answer({ path: `/${key}/${file}`, userAgent: p.userAgent, ip: p.source }, resolved.tenant, server);
        if (a.status !== 200 && a.status !== 404) throw new Error(`${p.vendor} ${p.mac} ${file}: status ${a.status} (${a.outcome}${a.problem !== undefined ? `: ${a.problem}` : ''})`);
        let body = a.body;
        if (file === deviceFile) {
          if (a.status !== 200) throw new Error(`${p.vendor} ${p.mac}: its per-device file ${file} answers ${a.status} (${a.outcome})`);
          // renderDevice (what `provisiond render --mac` prints) must give the phone's bytes; where it
          // does not, the phone's own answer is kept and the disagreement reported.
          const r = svc.renderDevice(p.mac, { file, baseUrl: BASE_URL, key });
          if (!r.answer.body.equals(a.body)) {
            const k = `${p.vendor}: renderDevice ${r.answer.status} ${r.answer.outcome}, the phone's request ${a.status} ${a.outcome}`;
            renderMismatch.set(k, (renderMismatch.get(k) ?? 0) + 1);
          }
          const user = userOfBody(p.vendor, body.toString('utf8'));
          if (user !== p.sipUsername) throw new Error(`${p.vendor} ${p.mac} ${file}: line 1 user ${String(user)}, expected ${p.sipUsername}`);
          if (!body.includes(p.sipPassword)) throw new Error(`${p.vendor} ${p.mac} ${file}: the SIP password is missing (${a.outcome})`);
        }
        const h = a.status === 200 ? sha(body) : '';
        reqs.push([file, a.status, h]);
        if (a.status === 200) {
          const had = written.get(file);
          if (had === undefined) {
            writeFileSync(join(www, file), body, { mode: 0o644 });
            written.set(file, h);
            files++;
          } else if (had !== h) {
            throw new Error(`${file} differs between two phones (common file rendered per device): nginx cannot serve one copy`);
          }
        }
        queue.push(...follow(p, file, a.status, body.toString('utf8')));
      }
      if (!reqs.some(([f]) => f === deviceFile)) throw new Error(`${p.vendor} ${p.mac}: its sequence never reaches ${deviceFile}`);
      manifest.push({ i: p.index, vendor: p.vendor, mac: p.mac, ua: p.userAgent, src: p.source, sipUsername: p.sipUsername, sipPassword: p.sipPassword, deviceFile, reqs });
    }
    const m: Manifest = { key, n, files, phones: manifest };
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(m));
    const reqCount = manifest.reduce((s, p) => s + p.reqs.length, 0);
    const notFound = manifest.reduce((s, p) => s + p.reqs.filter(([, st]) => st === 404).length, 0);
    const perVendor = new Map<string, string>();
    for (const p of manifest) if (!perVendor.has(p.vendor)) perVendor.set(p.vendor, p.reqs.map(([f, st]) => `${f.replace(new RegExp(p.mac.replace(/:/g, ''), 'i'), '<mac>')} ${st}`).join(', '));
    process.stderr.write(
      `lab: ${n} phones, ${reqCount} requests (${notFound} answered 404), ${files} files in the docroot, store seeded (${sync.devices} devices, ${sync.configs} configs), ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
        [...perVendor].map(([v, s]) => `  ${v}: ${s}`).join('\n') +
        '\n',
    );
    for (const [k, c] of renderMismatch) process.stderr.write(`WARNING renderDevice differs from the phone's answer for ${c} phones (${k}); the docroot has the phone's answer\n`);
    if (!existsSync(join(www, deviceFileOf(phones[0] as Phone)))) throw new Error('the docroot lacks the first phone file');
  } finally {
    store.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`setup: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
