/**
 * The README's `npm start`, end to end: in a fresh network namespace holding only loopback,
 * the daemon runs on its embedded defaults and a Jitsi DHCPINFORM from port 6768 gets its ACK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { decode } from '../src/dhcp/codec';
import { jitsiInform } from './helpers/jitsi';

const ROOT = join(__dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
const hasIp = spawnSync('ip', ['-V']).status === 0;
const skip = !isRoot ? 'needs root to create a network namespace' : !hasIp ? 'iproute2 (ip) is not installed' : false;

test('npm start answers a Jitsi DHCPINFORM on embedded defaults (fresh namespace)', { skip, timeout: 60_000 }, async () => {
  const ns = `pvd-start-${process.pid}`;
  const ip = (...a: string[]): void => {
    const r = spawnSync('ip', a, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${a.join(' ')}: ${r.stderr}`);
  };
  ip('netns', 'add', ns);
  // npm start runs in its own process group so the whole tree can be stopped by our PID.
  const daemon = spawn('ip', ['netns', 'exec', ns, 'npm', 'start', '--silent'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PROVISIOND_ENSURE_QUIET: '1' } });
  let out = '';
  daemon.stdout.on('data', (d: Buffer) => (out += d.toString()));
  daemon.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    for (let i = 0; i < 300 && !out.includes('"msg":"provisiond started"'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /"msg":"provisiond started"/, `daemon did not start:\n${out}`);
    assert.match(out, /no non-loopback IPv4 interface found; serving loopback only/);

    const inform = jitsiInform({ xid: 0x0badcafe, ciaddr: [127, 0, 0, 1], mac: [2, 0, 0, 0, 0, 7] }).toString('hex');
    const client = `
      const s = require('dgram').createSocket('udp4');
      const t = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 3000);
      s.on('message', (m, r) => { console.log(JSON.stringify({ hex: m.toString('hex'), from: r.address + ':' + r.port })); clearTimeout(t); s.close(); });
      s.bind(6768, '0.0.0.0', () => s.send(Buffer.from('${inform}', 'hex'), 6767, '127.0.0.1'));`;
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', client], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `client failed: ${r.stdout}${r.stderr}\ndaemon:\n${out}`);
    const got = JSON.parse(r.stdout.trim()) as { hex: string; from: string };
    assert.equal(got.from, '127.0.0.1:6767');
    const d = decode(Buffer.from(got.hex, 'hex'));
    assert.ok(d.ok);
    if (!d.ok) return;
    assert.equal(d.message.xid, 0x0badcafe);
    assert.equal(d.message.options.get(53)?.[0], 5);
    assert.equal(
      d.message.options.get(224)?.toString('latin1'),
      'http://127.0.0.1:8667/jitsi?username=${username}&password=${password}&uuid=${uuid}&hwaddr=${hwaddr}&osname=${osname}&build=${build}',
    );
  } finally {
    if (daemon.pid !== undefined && daemon.exitCode === null) {
      process.kill(-daemon.pid, 'SIGTERM');
      const exited = await Promise.race([new Promise((r) => daemon.once('exit', r)), new Promise((r) => setTimeout(() => r('timeout'), 8000))]);
      if (exited === 'timeout') process.kill(-daemon.pid, 'SIGKILL');
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
