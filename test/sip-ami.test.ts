/**
 * sip-ami.test.ts: resync through Asterisk's manager interface (`phones.resync.via: ami`,
 * src/sip/ami.ts): the framing (pure), then `devices sync` through the executable against a
 * scripted AMI server that is not our code (test/fixtures/ami_server.py, Python): the login, one
 * PJSIPNotify per phone (the line-1 username as the endpoint, else the URI of the last address;
 * the profile's event as `Variable: Event=…`), an endpoint Asterisk refuses, a wrong secret.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmiReader, encodeAction, notifyAction } from '../src/sip/ami';
import { cliWithInput } from './helpers/daemon';
import { LineProcess } from './helpers/netns';
import { openSqliteStore } from '../src/store/sqlite';

const ROOT = join(__dirname, '..', '..');
const PY = '/usr/bin/python3';

describe('AMI framing', () => {
  test('an action is Key: Value lines and an empty line; a value with a line break is refused', () => {
    assert.equal(encodeAction([['Action', 'Login'], ['Username', 'pd']])?.toString(), 'Action: Login\r\nUsername: pd\r\n\r\n');
    assert.equal(encodeAction([['Action', 'PJSIPNotify'], ['Endpoint', '1001\r\nAction: Originate']]), undefined);
    assert.equal(encodeAction([['Bad Key', 'x']]), undefined);
  });

  test('PJSIPNotify: the endpoint or the URI, the event, a body as Content-Type and Content lines', () => {
    assert.deepEqual(notifyAction('7', { endpoint: '1001' }, { event: 'check-sync;reboot=false' }), [
      ['Action', 'PJSIPNotify'],
      ['ActionID', '7'],
      ['Endpoint', '1001'],
      ['Variable', 'Event=check-sync;reboot=false'],
    ]);
    assert.deepEqual(notifyAction('8', { uri: 'sip:1001@192.0.2.5:5060' }, { event: 'service-control', contentType: 'text/plain', body: ['action=restart', 'RegisterCallId={}'] }).slice(2), [
      ['URI', 'sip:1001@192.0.2.5:5060'],
      ['Variable', 'Event=service-control'],
      ['Variable', 'Content-Type=text/plain'],
      ['Variable', 'Content=action=restart'],
      ['Variable', 'Content=RegisterCallId={}'],
    ]);
  });

  test('the reader: the banner, messages split across chunks, bounds', () => {
    const r = new AmiReader();
    assert.deepEqual(r.push(Buffer.from('Asterisk Call Manager/9.0.0\r\nResponse: Succ')), []);
    assert.equal(r.banner, 'Asterisk Call Manager/9.0.0');
    assert.deepEqual(r.push(Buffer.from('ess\r\nActionID: 1\r\n\r\nEvent: X\r\n\r\n')), [
      [
        ['Response', 'Success'],
        ['ActionID', '1'],
      ],
      [['Event', 'X']],
    ]);
    const big = new AmiReader();
    big.push(Buffer.from('Asterisk Call Manager/9.0.0\r\n'));
    big.push(Buffer.alloc(70_000, 'a'));
    assert.match(big.error ?? '', /KiB/);
  });
});

describe('devices sync through a scripted AMI server', { skip: existsSync(PY) ? false : `${PY} is not installed` }, () => {
  let tmp = '';
  let ami: LineProcess | undefined;
  let port = 0;
  const configFor = (secret: string): string => {
    const p = join(tmp, `provisiond-${secret}.yaml`);
    writeFileSync(
      p,
      `http: { host: 127.0.0.1, port: 0 }
dhcp: { enabled: false }
mdns: { enabled: false }
stateDir: ${join(tmp, 'state')}
provisioning:
  defaultDomain: lab.example
  tenants:
    lab.example:
      auth: none
      users:
        alice: { password: "plain:pw", attributes: { sip_username: "1001", sip_password: "a" } }
        erin: { password: "plain:pw", attributes: { sip_username: "1005", sip_password: "e" } }
        ghost: { password: "plain:pw", attributes: { sip_username: "1099" } }
phones:
  enabled: true
  resync:
    via: ami
    ami: { host: 127.0.0.1, port: ${port}, username: provisiond, secret: ${secret} }
  devices:
    - { mac: "00:15:65:00:00:01", profile: yealink, users: [alice] }
    - { mac: "00:02:fd:00:00:02", profile: cisco-spa, users: [erin] }
    - { mac: "00:04:13:00:00:03", profile: snom }
    - { mac: "0c:38:3e:00:00:04", profile: fanvil }
    - { mac: "7c:2f:80:00:00:05", profile: gigaset, users: [ghost] }
`,
    );
    return p;
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'provd-ami-'));
    ami = await LineProcess.spawn(PY, [join(ROOT, 'test', 'fixtures', 'ami_server.py'), JSON.stringify({ username: 'provisiond', secret: 's3cret', refuse: ['1099'] })]);
    port = Number((JSON.parse(await ami.waitForLine('the AMI port', (l) => l.includes('"port"'), 10_000)) as { port: number }).port);
    // The declared phones are written by the first command; the snom's last address, as the HTTP face records it.
    const first = await cliWithInput(['devices', 'list', '--config', configFor('s3cret'), '--kind', 'phones']);
    assert.equal(first.code, 0, first.stderr);
    const store = openSqliteStore(join(tmp, 'state'));
    try {
      assert.ok(store.phones.observe('00:04:13:00:00:03', { ip: '192.0.2.33' }));
    } finally {
      store.close();
    }
  });
  after(async () => {
    await ami?.stop();
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  test('sent by endpoint or URI, a refused endpoint, a phone with neither; exit 6', async () => {
    const from = ami?.lines.length ?? 0;
    const r = await cliWithInput(['devices', 'sync', '--all', '--reboot', '--config', configFor('s3cret')]);
    assert.equal(r.code, 6, r.stderr);
    const line = (mac: string): string => r.stdout.split('\n').find((l) => l.startsWith(mac)) ?? '';
    assert.match(line('00:15:65:00:00:01'), /ami:1001 {2}sent {2}Asterisk: NOTIFY sent {2}\[check-sync;reboot=true\]$/);
    assert.match(line('00:02:fd:00:00:02'), /ami:1005 {2}sent .*\[reboot_now\]$/);
    assert.match(line('00:04:13:00:00:03'), /ami:sip:192\.0\.2\.33:5060 {2}sent /);
    assert.match(line('0c:38:3e:00:00:04'), / - {2}no-address /);
    assert.match(line('7c:2f:80:00:00:05'), /ami:1099 {2}refused {2}Asterisk: Unable to retrieve endpoint 1099/);
    assert.match(r.stdout, /^5 phones: 0 accepted, 3 sent by Asterisk, 1 refused, 0 unreachable, 1 without a known address \(reboot\)$/m);
    const actions = (ami?.lines ?? []).slice(from).map((l) => JSON.parse(l) as { fields: [string, string][] });
    const sent = actions.map((a) => a.fields.filter(([k]) => k !== 'ActionID' && k !== 'Action'));
    for (const want of [
      [['Endpoint', '1001'], ['Variable', 'Event=check-sync;reboot=true']],
      [['Endpoint', '1005'], ['Variable', 'Event=reboot_now']],
      [['URI', 'sip:192.0.2.33:5060'], ['Variable', 'Event=check-sync;reboot=true']],
      [['Endpoint', '1099'], ['Variable', 'Event=check-sync;reboot=true']],
    ]) {
      assert.ok(sent.some((s) => JSON.stringify(s) === JSON.stringify(want)), `AMI got ${JSON.stringify(want)}: ${JSON.stringify(sent)}`);
    }
    assert.equal(sent.length, 4);
  });

  test('a wrong secret: every phone unreachable, naming the refused login', async () => {
    const r = await cliWithInput(['devices', 'sync', '00:15:65:00:00:01', '--config', configFor('wrong')]);
    assert.equal(r.code, 6);
    assert.match(r.stdout, /^00:15:65:00:00:01 {2}ami:1001 {2}unreachable {2}AMI login as provisiond refused: Authentication failed/m);
  });

  test('check-config refuses via: ami without its section', async () => {
    const p = join(tmp, 'bad.yaml');
    writeFileSync(p, 'phones:\n  resync: { via: ami }\n');
    const r = await cliWithInput(['check-config', '--config', p]);
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /phones\.resync\.ami/);
  });
});
