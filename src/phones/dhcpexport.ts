/**
 * dhcpexport.ts: the DHCP server snippets that point each loaded phone vendor at provisiond
 * (`provisiond export dhcp --format isc|kea|dnsmasq`). Pure: profiles and a URL in, text out.
 *
 * Per vendor one class, matched by the profile's OUIs (the first three bytes of the hardware
 * address) and/or its option 60 prefixes (`dhcp.vendorClasses`), giving the provisioning URL in
 * each of the profile's `dhcp.options` (66 TFTP server name, 160 Polycom, 114 default-url, 43
 * as a plain string), in that order. The options are sent even when the phone's parameter
 * request list lacks them (ISC: appended to the list, Kea: `always-send`, dnsmasq:
 * `dhcp-option-force`): only matched phones get them. A vendor with neither OUI nor vendor
 * class cannot be matched and is left out (returned in `skipped`). Facts: sip-phones.md §1.
 */
import type { DhcpUrlOption, Profile } from './profile';

/** DHCP_FORMATS are the output formats. */
export const DHCP_FORMATS = ['isc', 'kea', 'dnsmasq'] as const;

/** DhcpFormat is one of DHCP_FORMATS. */
export type DhcpFormat = (typeof DHCP_FORMATS)[number];

/** DhcpVendor is what one class needs. */
export interface DhcpVendor {
  readonly vendor: string;
  readonly family: string;
  /** ouis: `aa:bb:cc`, lower-case. */
  readonly ouis: readonly string[];
  readonly vendorClasses: readonly string[];
  readonly options: readonly DhcpUrlOption[];
}

/** DhcpExport is a rendered snippet and the vendors it had to leave out. */
export interface DhcpExport {
  readonly text: string;
  readonly skipped: readonly string[];
}

/** dhcpVendors lists the profiles' DHCP facts, sorted by vendor. */
export function dhcpVendors(profiles: Iterable<Profile>): DhcpVendor[] {
  return [...profiles]
    .map((p) => ({ vendor: p.vendor, family: p.family, ouis: [...p.ouis].sort(), vendorClasses: [...p.dhcp.vendorClasses], options: [...p.dhcp.options] }))
    .sort((a, b) => (a.vendor < b.vendor ? -1 : a.vendor > b.vendor ? 1 : 0));
}

/** OPTION_NAMES: what each URL option is called (ISC and Kea share the standard names). */
const OPTION_NAMES: Readonly<Record<DhcpUrlOption, string>> = { 66: 'tftp-server-name', 160: 'provisiond-url-160', 114: 'provisiond-url-114', 43: 'vendor-encapsulated-options' };

/** className is the class (tag) name of a vendor. */
const className = (vendor: string): string => `provisiond-${vendor}`;

/** hex2 writes a byte as two hex digits. */
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** checkUrl refuses a URL a DHCP configuration file cannot quote (it is a configuration value). */
function checkUrl(url: string): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(url) || /["\\'`$]/.test(url)) throw new RangeError(`the provisioning URL cannot go in a DHCP option: 1-255 printable characters, no quotes, backslashes or $ (${JSON.stringify(url.slice(0, 80))})`);
}

/** renderDhcp renders the snippet in one format; `header` lines become comments. */
export function renderDhcp(format: DhcpFormat, vendors: readonly DhcpVendor[], url: string, header: readonly string[]): DhcpExport {
  checkUrl(url);
  const usable = vendors.filter((v) => v.ouis.length > 0 || v.vendorClasses.length > 0);
  const skipped = vendors.filter((v) => !usable.includes(v)).map((v) => v.vendor);
  switch (format) {
    case 'isc':
      return { text: renderIsc(usable, url, header), skipped };
    case 'kea':
      return { text: renderKea(usable, url, header), skipped };
    case 'dnsmasq':
      return { text: renderDnsmasq(usable, url, header), skipped };
  }
}

function renderIsc(vendors: readonly DhcpVendor[], url: string, header: readonly string[]): string {
  const out: string[] = header.map((h) => `# ${h}`);
  out.push('# ISC dhcpd: include this file in dhcpd.conf at the global scope (include "/etc/dhcp/provisiond-phones.conf";).');
  const used = new Set(vendors.flatMap((v) => v.options));
  if (used.has(160)) out.push(`option ${OPTION_NAMES[160]} code 160 = text;`);
  if (used.has(114)) out.push(`option ${OPTION_NAMES[114]} code 114 = text;`);
  for (const v of vendors) {
    const tests = [
      ...v.ouis.map((o) => `substring(hardware, 1, 3) = ${o}`),
      ...v.vendorClasses.map((c) => `substring(option vendor-class-identifier, 0, ${Buffer.byteLength(c)}) = "${c}"`),
    ];
    out.push('', `# ${v.family}`, `class "${className(v.vendor)}" {`);
    out.push(`  match if ${tests.map((t) => (tests.length > 1 ? `(${t})` : t)).join('\n        or ')};`);
    for (const o of v.options) out.push(`  option ${OPTION_NAMES[o]} "${url}";`);
    out.push('  if exists dhcp-parameter-request-list {');
    out.push(`    option dhcp-parameter-request-list = concat(option dhcp-parameter-request-list, ${v.options.map(hex2).join(', ')});`);
    out.push('  }', '}');
  }
  return `${out.join('\n')}\n`;
}

/** KeaClass is one entry of Dhcp4.client-classes. */
interface KeaClass {
  readonly name: string;
  readonly test: string;
  readonly 'option-def'?: readonly { readonly name: string; readonly code: number; readonly type: string }[];
  readonly 'option-data': readonly Record<string, string | number | boolean>[];
}

function renderKea(vendors: readonly DhcpVendor[], url: string, header: readonly string[]): string {
  const classes: KeaClass[] = vendors.map((v) => {
    const tests = [
      ...v.ouis.map((o) => `substring(pkt4.mac, 0, 3) == 0x${o.replace(/:/g, '')}`),
      ...v.vendorClasses.map((c) => `substring(option[60].text, 0, ${Buffer.byteLength(c)}) == '${c}'`),
    ];
    const data = v.options.map((o): Record<string, string | number | boolean> => {
      // 160 and 114 have no (stable) definition across Kea versions: raw bytes need none.
      if (o === 160 || o === 114) return { code: o, 'csv-format': false, data: Buffer.from(url).toString('hex').toUpperCase(), 'always-send': true };
      return { name: OPTION_NAMES[o], data: url, 'always-send': true };
    });
    return {
      name: className(v.vendor),
      test: tests.join(' or '),
      // Kea reads option 43 as a plain string only with a class-level definition.
      ...(v.options.includes(43) ? { 'option-def': [{ name: OPTION_NAMES[43], code: 43, type: 'string' }] } : {}),
      'option-data': data,
    };
  });
  const doc = { Dhcp4: { 'user-context': { comment: [...header, 'Kea: merge Dhcp4.client-classes into kea-dhcp4.conf; options 160 and 114 carry the URL as hex bytes.'] }, 'client-classes': classes } };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function renderDnsmasq(vendors: readonly DhcpVendor[], url: string, header: readonly string[]): string {
  const out: string[] = header.map((h) => `# ${h}`);
  out.push('# dnsmasq: put this file in /etc/dnsmasq.d/ (or conf-file=FILE).');
  for (const v of vendors) {
    const tag = className(v.vendor);
    out.push('', `# ${v.family}`);
    for (const o of v.ouis) out.push(`dhcp-mac=set:${tag},${o}:*:*:*`);
    for (const c of v.vendorClasses) out.push(`dhcp-vendorclass=set:${tag},${c}`);
    for (const o of v.options) out.push(`dhcp-option-force=tag:${tag},${o},"${url}"`);
  }
  return `${out.join('\n')}\n`;
}
