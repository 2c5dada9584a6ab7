/**
 * tftp-config.test.ts: the `tftp` section (src/tftp/config.ts): its defaults, its refusals by
 * table, and check-config's warnings (an interface this host lacks; TFTP without phones).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../src/config/load';
import { hostWarnings } from '../src/config/check';
import type { HostInterface } from '../src/net/interfaces';
import { configProblems } from './helpers/config';

const LOOPBACK: HostInterface = { name: 'lo', address: 0x7f000001, internal: true, cidr: { network: '127.0.0.0', prefix: 8, base: 0x7f000000, mask: 0xff000000 } };

describe('tftp configuration section', () => {
  test('defaults: off, port 69, every interface, 256/8 transfers, blksize 65464, window 64, 5 retries, 20/60 per source', () => {
    const c = parseConfigText('stateDir: /tmp/x\n', 't.yaml');
    assert.deepEqual(c.tftp, { enabled: false, port: 69, interfaces: [], maxTransfers: 256, maxTransfersPerSource: 8, maxBlockSize: 65464, maxWindowSize: 64, retries: 5, rateLimit: { rate: 20, burst: 60 } });
  });

  const bad: Array<[string, RegExp]> = [
    ['tftp: {port: 70000}', /tftp\.port/],
    ['tftp: {maxBlockSize: 7}', /tftp\.maxBlockSize/],
    ['tftp: {maxBlockSize: 65465}', /tftp\.maxBlockSize/],
    ['tftp: {maxWindowSize: 0}', /tftp\.maxWindowSize/],
    ['tftp: {maxWindowSize: 5000}', /tftp\.maxWindowSize/],
    ['tftp: {maxTransfers: 0}', /tftp\.maxTransfers/],
    ['tftp: {retries: 0}', /tftp\.retries/],
    ['tftp: {interfaces: [eth0, eth0]}', /listed twice/],
    ['tftp: {blksize: 512}', /tftp/],
  ];
  for (const [yaml, want] of bad) {
    test(`refused: ${yaml}`, () => {
      const problems = configProblems(`${yaml}\nstateDir: /tmp/x\n`);
      assert.ok(problems.some((p) => want.test(p)), problems.join('\n'));
    });
  }

  test('check-config warns about a tftp interface this host lacks, and about TFTP without phones', () => {
    const c = parseConfigText('tftp: {enabled: true, interfaces: [nosuch0]}\nstateDir: /tmp/x\n', 't.yaml');
    const w = hostWarnings(c, () => [LOOPBACK]);
    assert.ok(w.some((l) => l.startsWith("tftp.interfaces: interface 'nosuch0' does not exist")), w.join('\n'));
    assert.ok(w.includes('tftp.enabled without phones.enabled: every TFTP request gets File not found'), w.join('\n'));
    assert.deepEqual(hostWarnings(parseConfigText('tftp: {enabled: false, interfaces: [nosuch0]}\nstateDir: /tmp/x\n', 't.yaml'), () => [LOOPBACK]), []);
  });
});
