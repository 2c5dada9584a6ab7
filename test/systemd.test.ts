import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = join(__dirname, '..', '..', 'systemd', 'provisiond.service');

describe('systemd unit', () => {
  const text = readFileSync(UNIT, 'utf8');
  const has = (line: string): void => assert.ok(text.split('\n').includes(line), `missing '${line}'`);

  test('is hardened as the issue requires', () => {
    has('DynamicUser=yes');
    has('ProtectSystem=strict');
    has('StateDirectory=provisiond');
    has('ConfigurationDirectory=provisiond');
    has('NoNewPrivileges=yes');
    has('Restart=on-failure');
    has('ExecReload=/bin/kill -HUP $MAINPID');
    // One capability, for the answering threads' priority (src/priority.ts); setpriority re-allowed after ~@resources.
    has('CapabilityBoundingSet=CAP_SYS_NICE');
    has('AmbientCapabilities=CAP_SYS_NICE');
    const filters = text.split('\n').filter((l) => l.startsWith('SystemCallFilter='));
    assert.deepEqual(filters, ['SystemCallFilter=@system-service', 'SystemCallFilter=~@privileged @resources', 'SystemCallFilter=setpriority']);
    assert.match(text, /^ExecStart=\S+node (--[a-z-]+=\d+ )*\S+main\.js run --config \$\{CONFIGURATION_DIRECTORY\}\/provisiond\.yaml$/m);
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  test('passes systemd-analyze verify', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' }, () => {
    // Point ExecStart at this machine's node, so the check does not depend on the package's bundled one.
    const dir = mkdtempSync(join(tmpdir(), 'provisiond-unit-'));
    try {
      const copy = join(dir, 'provisiond.service');
      writeFileSync(copy, text.replaceAll('/opt/provisiond/node/bin/node', process.execPath));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim(), '', `warnings:\n${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
