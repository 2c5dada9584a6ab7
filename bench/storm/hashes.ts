/**
 * hashes.ts (bench/storm): the storm users' password hashes, shared by run.ts and twonode.ts.
 * User i is `u<i>` with the password `pw-<i>`.
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../test/helpers/mdns-lab';
import { hashPassword, parseHash, verifyPassword } from '../../src/identity/passwords';
import { setKdfThreads } from '../../src/identity/kdf';

/**
 * userHashes returns the scrypt hashes of pw-0 … pw-(n-1) at `cost`, kept between runs in
 * .bench-results/storm-hashes-ln<cost>.txt (10 000 hashes at the product's ln=15 take minutes on
 * the 2-core box; not with --no-record). One cached hash is verified before the file is trusted.
 */
export async function userHashes(n: number, cost: number, cache: boolean): Promise<string[]> {
  const file = join(ROOT, '.bench-results', `storm-hashes-ln${cost}.txt`);
  let hashes: string[] = cache && existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0) : [];
  const first = hashes[0] === undefined ? undefined : parseHash(hashes[0]);
  if (first !== undefined && !(first.ok && (await verifyPassword('pw-0', first.value)))) hashes = [];
  if (hashes.length < n) {
    process.stderr.write(`hashing ${n - hashes.length} passwords (scrypt ln=${cost}${cache ? `; cached in ${file}` : ''})...\n`);
    // The bench's own hashing may use every core (the product's KDF gate leaves one to the faces).
    setKdfThreads(availableParallelism());
    const B = 256;
    for (let i = hashes.length; i < n; i += B) hashes.push(...(await Promise.all(Array.from({ length: Math.min(B, n - i) }, (_, k) => hashPassword(`pw-${i + k}`, cost)))));
    if (cache) {
      mkdirSync(join(ROOT, '.bench-results'), { recursive: true });
      writeFileSync(file, `${hashes.join('\n')}\n`);
    }
  }
  return hashes.slice(0, n);
}
