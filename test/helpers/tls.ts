/**
 * tls.ts (test helper): self-signed certificates made with the openssl command, and an HTTPS GET
 * that reports the certificate the server presented.
 */
import { spawnSync } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';

/** opensslMissing is a skip reason when openssl cannot run, else false. */
export function opensslMissing(): string | false {
  const r = spawnSync('openssl', ['version']);
  return r.error || r.status !== 0 ? 'openssl is not installed' : false;
}

/** makeCert writes `${name}.crt` and `${name}.key` (EC P-256, CN and SAN 127.0.0.1) into dir. */
export function makeCert(dir: string, name: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

/** httpsPost POSTs a form over a fresh TLS connection and returns status, body and the peer's CN. */
export function httpsPost(port: number, path: string, body: string): Promise<{ status: number; body: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Jitsi/2.10.5550' } },
      (res) => {
        const cn = String((res.socket as unknown as { getPeerCertificate(): { subject?: { CN?: string } } }).getPeerCertificate().subject?.CN ?? '');
        let data = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, cn }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
