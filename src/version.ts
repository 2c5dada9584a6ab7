/**
 * version.ts: the package version, read once from package.json (two levels above dist/src).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'provisiond' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0-unknown';
}

/** version is provisiond's version string. */
export const version: string = readVersion();
