/**
 * prov.ts (test helper): provisioning fixtures: configurations, the Jitsi doc's sample request
 * bodies, and an HTTP face on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import { HttpFace } from '../../src/http/server';
import { openSqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/repository';
import type { Logger } from '../../src/log';
import { captureLog } from './log';

/** DOC_USER/DOC_PASSWORD: the worked example of contract §4.6. */
export const DOC_USER = 'alice@example.com';
export const DOC_PASSWORD = 'p@ss w0rd!';
export const DOC_UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';

/**
 * BODY_2_10 is what Jitsi 2.10 POSTs for the doc's sample URI
 * `?user=${username}&password=${password}&os=${osname}&hw=${hwaddr}&uuid=${uuid}&hostname=${hostname}`
 * (URI order, HttpClient URLEncodedUtils: safe [A-Za-z0-9_.*-], space as +, %XX upper-case).
 */
export const BODY_2_10 =
  'user=alice%40example.com&password=p%40ss+w0rd%21&os=Windows+10&hw=00%3A1a%3A2b%3A3c%3A4d%3A5e&uuid=0f8fad5b-d9cb-469f-a165-70867728950e&hostname=DESKTOP-7Q2';

/** BODY_HEAD is the same request from current Jitsi: java.util.HashMap order (contract §4.2). */
export const BODY_HEAD =
  'password=p%40ss+w0rd%21&hostname=DESKTOP-7Q2&os=Windows+10&user=alice%40example.com&uuid=0f8fad5b-d9cb-469f-a165-70867728950e&hw=00%3A1a%3A2b%3A3c%3A4d%3A5e';

/** fastHash is a cheap scrypt hash (ln=10) of `pw`, for tests. */
export { hashPassword } from '../../src/identity/passwords';

/** tenantYaml is a provisioning section with example.com: users alice (DOC_PASSWORD) and bob. */
export function provisioningYaml(hashes: { alice: string; bob: string }, extra = ''): string {
  return `provisioning:
  defaultDomain: example.com
  allowPrefix: [net.java.sip.communicator]
  wipe: [net.java.sip.communicator.impl.protocol.sip]
  enforcePrefix: [net.java.sip.communicator]
  passwords: {scryptCost: 10}
  tenants:
    example.com:
      auth: credentials
      attributes: {sipServer: sip.example.com}
      users:
        alice: {password: "${hashes.alice}", attributes: {displayName: "Alice Ł", extension: "1001"}}
        bob: {password: "${hashes.bob}", attributes: {displayName: "Bob", extension: "1002"}}
      rules:
        - name: sip
          subject: default
          properties:
            net.java.sip.communicator.impl.protocol.sip.acc1: acc1
            net.java.sip.communicator.impl.protocol.sip.acc1.USER_ID: "{{ user.attributes.extension | default('none') }}@{{ tenant.attributes.sipServer }}"
            net.java.sip.communicator.impl.protocol.sip.acc1.DISPLAY_NAME: "{{ user.attributes.displayName | default(user.name) }}"
            net.java.sip.communicator.impl.protocol.sip.acc1.PASSWORD: "{{ params.password | default('') }}"
            net.java.sip.communicator.impl.gui.OS: "{{ device.osname | default('?') }} {{ device.hwaddr | default('-') }} {{ client.version | default('-') }}"
        - name: desk
          subject: {hwaddr: "00:1A:2B:3C:4D:5E"}
          priority: 5
          properties:
            net.java.sip.communicator.impl.gui.DESK: "front desk"
    open.example:
      requireCredentials: false
      rules:
        - subject: default
          properties:
            net.java.sip.communicator.impl.gui.HELLO: "hello {{ user.name if user else 'anonymous' }}"
${extra}`;
}

/** TestFace is a started HTTP face with its store, log and cleanup. */
export interface TestFace {
  readonly face: HttpFace;
  readonly store: Store;
  readonly config: Config;
  readonly log: Logger;
  readonly text: () => string;
  readonly lines: () => Record<string, unknown>[];
  readonly url: string;
  readonly stateDir: string;
  close(): Promise<void>;
}

/** startFace starts an HTTP face on 127.0.0.1:0 with a fresh store. */
export async function startFace(yaml: string, opts: { level?: 'debug' | 'info' | 'trace'; stateDir?: string } = {}): Promise<TestFace> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'provisiond-http-'));
  const config = parseConfigText(`${yaml}\nstateDir: ${stateDir}\n`, 'test.yaml');
  const store = openSqliteStore(stateDir);
  const cap = captureLog(opts.level ?? 'debug');
  const face = new HttpFace({ config, log: cap.log, store });
  await face.start();
  // The face starts one KDF run at start (the typical check time); a login that arrives while it
  // runs is admitted only if the measured rate says it can wait for it, which on a starved CI box
  // (one run measured at seconds) refuses it 429. Tests start from an idle pool.
  await face.engine?.auth.warmUp().catch(() => undefined);
  return {
    face,
    store,
    config,
    log: cap.log,
    text: cap.text,
    lines: () => cap.lines,
    url: `http://127.0.0.1:${face.port ?? 0}`,
    stateDir,
    close: async () => {
      await face.close();
      store.close();
      if (opts.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** HTTP_LOOPBACK is the http section for tests: loopback, a free port, no rate limit. */
export const HTTP_LOOPBACK = 'http: {host: 127.0.0.1, port: 0, rateLimit: {rate: 0}}\ndhcp: {enabled: false}\nmdns: {enabled: false}\n';
