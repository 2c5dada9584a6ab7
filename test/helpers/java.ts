/**
 * java.ts (test helper): parse properties documents with the JDK's java.util.Properties.load,
 * through test/helpers/Prop.java. Tests skip when no `java` is installed (Debian:
 * default-jdk-headless, installed by scripts/install-test-deps.sh).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROP_JAVA = join(__dirname, '..', '..', '..', 'test', 'helpers', 'Prop.java');

/** javaMissing is a skip reason when java cannot run, else false. */
export function javaMissing(): string | false {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? 'java is not installed (apt-get install default-jdk-headless)' : false;
}

function unhex(h: string): string {
  let s = '';
  for (let i = 0; i < h.length; i += 4) s += String.fromCharCode(parseInt(h.slice(i, i + 4), 16));
  return s;
}

/** javaLoad parses each document (as bytes) with Properties.load; an Error entry for a load failure. */
export function javaLoad(docs: readonly (string | Buffer)[]): (Map<string, string> | Error)[] {
  const dir = mkdtempSync(join(tmpdir(), 'provisiond-prop-'));
  try {
    const files = docs.map((d, i) => {
      const f = join(dir, `doc${i}.properties`);
      writeFileSync(f, typeof d === 'string' ? Buffer.from(d, 'latin1') : d);
      return f;
    });
    const r = spawnSync('java', [PROP_JAVA, ...files], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`java Prop.java failed: ${r.stderr}`);
    const out: (Map<string, string> | Error)[] = [];
    let cur: Map<string, string> | Error | undefined;
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('=== ')) {
        cur = new Map();
        out.push(cur);
      } else if (line.startsWith('ERROR ')) {
        out[out.length - 1] = new Error(line.slice(6));
        cur = undefined;
      } else if (line.length > 0 && cur instanceof Map) {
        const [k, v] = line.split(' ');
        cur.set(unhex(k ?? ''), unhex(v ?? ''));
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
