/**
 * phones-dhcp.test.ts: the profiles' `dhcp` key (src/phones/profile.ts) and the DHCP snippets
 * of src/phones/dhcpexport.ts, by table. The servers' own syntax checks run in
 * test/phones-cli.test.ts.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseProfile } from '../src/phones/profile';
import { loadProfiles, shippedProfilesDir } from '../src/phones/profiles';
import { dhcpVendors, renderDhcp, DHCP_FORMATS, type DhcpVendor } from '../src/phones/dhcpexport';

const MINIMAL = ['vendor: acme', 'family: Acme phones', 'deviceFiles:', "  - '{mac}.cfg'", "ouis: ['00:11:22']", "resyncEvent: 'check-sync'", ''].join('\n');

describe('profile dhcp key', () => {
  const cases: { name: string; dhcp: string; ok?: { vendorClasses: string[]; options: number[] }; problem?: RegExp }[] = [
    { name: 'absent: option 66, no vendor class', dhcp: '', ok: { vendorClasses: [], options: [66] } },
    { name: 'options in order', dhcp: 'dhcp: { options: [160, 66] }', ok: { vendorClasses: [], options: [160, 66] } },
    { name: 'vendor classes', dhcp: "dhcp: { vendorClasses: ['snom', 'Cisco SPA'] }", ok: { vendorClasses: ['snom', 'Cisco SPA'], options: [66] } },
    { name: 'an option that carries no URL', dhcp: 'dhcp: { options: [67] }', problem: /one of 66, 160, 114, 43/ },
    { name: 'an option twice', dhcp: 'dhcp: { options: [66, 66] }', problem: /listed twice/ },
    { name: 'no option', dhcp: 'dhcp: { options: [] }', problem: /dhcp\.options/ },
    { name: 'a quote in a vendor class', dhcp: `dhcp: { vendorClasses: ['sn"om'] }`, problem: /no quotes/ },
    { name: 'a control character', dhcp: 'dhcp: { vendorClasses: ["sn\\tom"] }', problem: /printable ASCII/ },
    { name: 'an unknown key', dhcp: 'dhcp: { option66: true }', problem: /option66/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = parseProfile(`${MINIMAL}${c.dhcp}\n`, 'acme/profile.yaml');
      if (c.ok) {
        assert.deepEqual(r.problems, []);
        assert.deepEqual({ vendorClasses: [...(r.profile?.dhcp.vendorClasses ?? [])], options: [...(r.profile?.dhcp.options ?? [])] }, c.ok);
      } else {
        assert.equal(r.profile, undefined);
        assert.ok(r.problems.some((p) => c.problem?.test(`${p.path}: ${p.message}`) === true && p.line === 7), JSON.stringify(r.problems));
      }
    });
  }

  test('the shipped profiles: Polycom 160 then 66, Gigaset 114, Snom and Cisco SPA by option 60', () => {
    const v = new Map(dhcpVendors(loadProfiles(shippedProfilesDir()).profiles.values()).map((d) => [d.vendor, d]));
    assert.deepEqual(v.get('polycom')?.options, [160, 66]);
    assert.deepEqual(v.get('gigaset')?.options, [114]);
    assert.deepEqual(v.get('yealink')?.options, [66, 43]);
    assert.deepEqual(v.get('snom')?.vendorClasses, ['snom']);
    assert.deepEqual(v.get('cisco-spa')?.ouis, []);
    assert.ok((v.get('cisco-spa')?.vendorClasses.length ?? 0) > 0, 'Cisco SPA has no OUI: it must have a vendor class');
    assert.deepEqual([...v.keys()], ['cisco-spa', 'fanvil', 'gigaset', 'grandstream', 'polycom', 'snom', 'yealink']);
  });
});

describe('renderDhcp', () => {
  const URL = 'http://192.0.2.10:8667/k/';
  const vendors: DhcpVendor[] = [
    { vendor: 'ouionly', family: 'OUI only', ouis: ['00:11:22', 'aa:bb:cc'], vendorClasses: [], options: [66] },
    { vendor: 'classonly', family: 'Class only', ouis: [], vendorClasses: ['Acme X'], options: [160, 114, 43] },
    { vendor: 'none', family: 'Nothing to match', ouis: [], vendorClasses: [], options: [66] },
  ];
  const expected: Record<(typeof DHCP_FORMATS)[number], readonly (string | RegExp)[]> = {
    isc: [
      'option provisiond-url-160 code 160 = text;',
      'option provisiond-url-114 code 114 = text;',
      'class "provisiond-ouionly" {\n  match if (substring(hardware, 1, 3) = 00:11:22)\n        or (substring(hardware, 1, 3) = aa:bb:cc);',
      `  option tftp-server-name "${URL}";`,
      'concat(option dhcp-parameter-request-list, 42);',
      'class "provisiond-classonly" {\n  match if substring(option vendor-class-identifier, 0, 6) = "Acme X";',
      `  option provisiond-url-160 "${URL}";\n  option provisiond-url-114 "${URL}";\n  option vendor-encapsulated-options "${URL}";`,
      'concat(option dhcp-parameter-request-list, a0, 72, 2b);',
    ],
    kea: [
      '"test": "substring(pkt4.mac, 0, 3) == 0x001122 or substring(pkt4.mac, 0, 3) == 0xaabbcc"',
      `"test": "substring(option[60].text, 0, 6) == 'Acme X'"`,
      `"code": 160,\n            "csv-format": false,\n            "data": "${Buffer.from(URL).toString('hex').toUpperCase()}"`,
      '"type": "string"',
    ],
    dnsmasq: [
      'dhcp-mac=set:provisiond-ouionly,00:11:22:*:*:*\ndhcp-mac=set:provisiond-ouionly,aa:bb:cc:*:*:*',
      `dhcp-option-force=tag:provisiond-ouionly,66,"${URL}"`,
      'dhcp-vendorclass=set:provisiond-classonly,Acme X',
      `dhcp-option-force=tag:provisiond-classonly,160,"${URL}"\ndhcp-option-force=tag:provisiond-classonly,114,"${URL}"\ndhcp-option-force=tag:provisiond-classonly,43,"${URL}"`,
    ],
  };
  for (const format of DHCP_FORMATS) {
    test(`${format}: a class per matchable vendor, the unmatchable one skipped, byte-stable`, () => {
      const r = renderDhcp(format, vendors, URL, ['header line']);
      for (const e of expected[format]) assert.ok(typeof e === 'string' ? r.text.includes(e) : e.test(r.text), `${format} lacks ${String(e)}\n${r.text}`);
      assert.deepEqual(r.skipped, ['none']);
      assert.ok(!r.text.includes('provisiond-none'));
      assert.ok(r.text.includes('header line'));
      assert.equal(renderDhcp(format, vendors, URL, ['header line']).text, r.text);
      if (format === 'kea') assert.doesNotThrow(() => JSON.parse(r.text) as unknown);
    });
  }

  test('a URL a DHCP file cannot quote is refused', () => {
    for (const bad of ['http://x/"', 'http://x/a b', 'http://x/\\', `http://x/${'a'.repeat(260)}`, 'http://x/$(id)', '']) {
      assert.throws(() => renderDhcp('isc', vendors, bad, []), /cannot go in a DHCP option/, bad);
    }
  });
});
