/**
 * lab.ts (bench/phones): the generated lab of the phone boot storm, as pure functions.
 *
 * N phones (at most MAX_PHONES) of seven vendors in turn (Yealink, Polycom, Snom, Grandstream,
 * Cisco SPA, Fanvil, Gigaset): phone i gets a MAC in one of its vendor's OUIs, a model of the
 * vendor's profile, the vendor's real User-Agent shape with that MAC/model/version
 * (sip-phones.md §3.2), its own user (SIP username, password, number, display name) and its own
 * loopback source address. Its boot is the vendor's request sequence (sip-phones.md §3.1): the
 * entry files, then the files the answers name (Yealink's `include:config`, Polycom's
 * `CONFIG_FILES`, Snom's `<setting-files>`), followed by `follow()` exactly as a phone would.
 *
 * `labYaml` writes the provisiond configuration of the lab (one keyed tenant, its users, one
 * default config, every phone in `phones.devices`). `userOfBody` reads the SIP username of line 1
 * from a vendor's per-device file (the property that names the user): the storm's validation.
 */
import { createHash } from 'node:crypto';

/** MAX_PHONES bounds the lab (and so the YAML file, the store and the docroot). */
export const MAX_PHONES = 20_000;

/** Vendor is one profile folder of phones/profiles. */
export type Vendor = 'yealink' | 'polycom' | 'snom' | 'grandstream' | 'cisco-spa' | 'fanvil' | 'gigaset';

/** VENDORS is the rotation order of the lab. */
export const VENDORS: readonly Vendor[] = ['yealink', 'polycom', 'snom', 'grandstream', 'cisco-spa', 'fanvil', 'gigaset'];

/** Phone is one emulated phone of the lab. */
export interface Phone {
  readonly index: number;
  readonly vendor: Vendor;
  readonly model: string;
  /** mac is `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  readonly userAgent: string;
  /** user is the provisiond user name assigned to line 1. */
  readonly user: string;
  readonly sipUsername: string;
  readonly sipPassword: string;
  readonly number: string;
  /** source is the phone's own loopback address (127.x.y.z): phones are separate hosts. */
  readonly source: string;
}

interface VendorFacts {
  readonly ouis: readonly string[];
  /** models: [the profile's model name, the model as the User-Agent writes it, firmware version]. */
  readonly models: readonly (readonly [string, string, string])[];
  readonly userAgent: (mac: string, uaModel: string, version: string, index: number) => string;
  /** entry: the files the phone asks first, in order (the follow-ups come from the answers). */
  readonly entry: (mac: string, model: string) => readonly string[];
  /** deviceFile is the per-device file that carries line 1's credentials. */
  readonly deviceFile: (mac: string, model: string) => string;
  /** line1User reads line 1's SIP username from that file. */
  readonly line1User: RegExp;
}

const hex = (mac: string): string => mac.replace(/:/g, '');
const upper = (mac: string): string => hex(mac).toUpperCase();

/** FACTS per vendor: OUIs and models from phones/profiles/<vendor>/profile.yaml, UA shapes and files from sip-phones.md §3. */
export const FACTS: Readonly<Record<Vendor, VendorFacts>> = {
  yealink: {
    ouis: ['00:15:65', '80:5e:c0', '24:9a:d8', '44:db:d2'],
    models: [
      ['T46S', 'T46S', '66.86.0.15'],
      ['T54W', 'T54W', '96.86.0.30'],
      ['T42S', 'T42S', '67.86.0.15'],
      ['T48G', 'T48G', '35.83.0.35'],
      ['T57W', 'T57W', '97.86.0.30'],
    ],
    userAgent: (mac, m, v) => `Yealink SIP-${m} ${v} ${mac}`,
    // fw >= 81: <mac>.boot, whose include:config lines name the files to load in order
    entry: (mac) => [`${hex(mac)}.boot`],
    deviceFile: (mac) => `${hex(mac)}.cfg`,
    line1User: /^account\.1\.user_name = (.*)$/m,
  },
  polycom: {
    ouis: ['00:04:f2', '64:16:7f', '48:25:67'],
    models: [
      ['VVX400', 'VVX-VVX_400', '5.9.5.0614'],
      ['VVX410', 'VVX-VVX_410', '5.9.5.0614'],
      ['VVX500', 'VVX-VVX_500', '5.9.5.0614'],
      ['VVX311', 'VVX-VVX_311', '5.9.5.0614'],
      ['SPIP550', 'SoundPointIP-SPIP_550', '4.0.15.1009'],
    ],
    userAgent: (_mac, m, v) => `FileTransport Polycom${m}-UA/${v} Type/Application`,
    // <mac>.cfg (absent) then the master 000000000000.cfg, whose CONFIG_FILES it loads; then the directory probes
    entry: (mac) => [`${hex(mac)}.cfg`, '000000000000.cfg'],
    deviceFile: (mac) => `${hex(mac)}-user.cfg`,
    line1User: /reg\.1\.address="([^"]*)"/,
  },
  snom: {
    ouis: ['00:04:13'],
    models: [
      ['D785', 'D785', '10.1.33.33'],
      ['D735', 'D735', '10.1.54.13'],
      ['D385', 'D385', '10.1.54.13'],
      ['D120', 'D120', '10.1.46.16'],
      ['760', '760', '8.9.3.80'],
    ],
    userAgent: (mac, m, v) => `Mozilla/4.0 (compatible; snom${m}-SIP ${v} 2010.12-00004-g9ba52f5 ${upper(mac)} SXM:0 UXM:0)`,
    // the setting URL names snom<model>-<MAC>.htm, whose <setting-files> list it loads
    entry: (mac, model) => [`snom${model}-${upper(mac)}.htm`],
    deviceFile: (mac) => `${upper(mac)}.xml`,
    line1User: /<user_name idx="1" perm="">([^<]*)<\/user_name>/,
  },
  grandstream: {
    ouis: ['00:0b:82', 'c0:74:ad', 'ec:74:d7'],
    models: [
      ['GXP2170', 'GXP2170', '1.0.11.85'],
      ['GRP2614', 'GRP2614', '1.0.5.67'],
      ['GXP1628', 'GXP1628', '1.0.7.13'],
      ['GRP2612W', 'GRP2612W', '1.0.5.67'],
      ['GXP2135', 'GXP2135', '1.0.11.85'],
    ],
    userAgent: (mac, m, v) => `Grandstream Model HW ${m} SW ${v} DevId ${hex(mac)}`,
    entry: (mac, model) => [`cfg${hex(mac)}.xml`, `cfg${model.toLowerCase()}.xml`, 'cfg.xml'],
    deviceFile: (mac) => `cfg${hex(mac)}.xml`,
    line1User: /<P35>([^<]*)<\/P35>/,
  },
  'cisco-spa': {
    ouis: ['00:02:fd'],
    models: [
      ['SPA504G', 'SPA504G', '7.6.2'],
      ['SPA508G', 'SPA508G', '7.4.4'],
      ['SPA525G2', 'SPA525G2', '7.6.2'],
      ['SPA509G', 'SPA509G', '7.6.2'],
    ],
    userAgent: (mac, m, v, i) => `Cisco/${m}-${v} (${upper(mac)})(CBT${String(140000 + i).padStart(6, '0')}UK)`,
    // the default Profile Rule /spa$PSN.cfg, then the per-device file
    entry: (mac, model) => [`${model.toLowerCase()}.cfg`, `${hex(mac)}.xml`],
    deviceFile: (mac) => `${hex(mac)}.xml`,
    line1User: /<User_ID_1_ ua="na">([^<]*)<\/User_ID_1_>/,
  },
  fanvil: {
    ouis: ['0c:38:3e', '00:a8:59'],
    models: [
      ['X4', 'X4', '2.10.2.6887'],
      ['X3S', 'X3S', '2.4.10.1'],
      ['X6', 'X6', '2.10.2.6887'],
      ['X7', 'X7', '2.12.1.2'],
      ['X210', 'X210', '2.12.1.2'],
    ],
    userAgent: (mac, m, v) => `Fanvil ${m} ${v} ${hex(mac)}`,
    // the per-hardware common file, then <mac>.cfg
    entry: (mac, model) => [`fanvil_${model.toLowerCase()}_hwv2_0.txt`, `${hex(mac)}.cfg`],
    deviceFile: (mac) => `${hex(mac)}.cfg`,
    line1User: /^SIP1 Register User\s*:(.*)$/m,
  },
  gigaset: {
    ouis: ['7c:2f:80'],
    models: [
      ['N870 IP PRO', 'N870 IP PRO', '83.V2.11.0+build.a546b91'],
      ['N510 IP PRO', 'N510 IP PRO', '42.245.00.000.000'],
      ['N720 DM PRO', 'N720 DM PRO', '70.100.00.000.000'],
      ['N670 IP PRO', 'N670 IP PRO', '83.V2.11.0+build.a546b91'],
    ],
    userAgent: (mac, m, v) => `Gigaset ${m}/${v};${upper(mac)}`,
    entry: (mac) => [`${upper(mac)}.xml`],
    deviceFile: (mac) => `${upper(mac)}.xml`,
    line1User: /BS_IP_Data1\.aucS_SIP_USER_ID" class="symb_item" value='"([^"]*)"'/,
  },
};

/** pad5 writes an index on five digits (so no user name is a prefix of another). */
const pad5 = (i: number): string => String(i).padStart(5, '0');

/** phoneAt is phone i of the lab: vendor i mod 7, a MAC in one of its OUIs, a model in turn. */
export function phoneAt(index: number, seed = 'bench'): Phone {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_PHONES) throw new RangeError(`phone index ${index} outside 0..${MAX_PHONES - 1}`);
  const vendor = VENDORS[index % VENDORS.length] as Vendor;
  const f = FACTS[vendor];
  const k = Math.floor(index / VENDORS.length);
  const oui = f.ouis[k % f.ouis.length] as string;
  // the low three bytes: 0x10_0000 + index, unique in the lab whatever the OUI
  const low = (0x100000 + index).toString(16).padStart(6, '0');
  const mac = `${oui}:${low.slice(0, 2)}:${low.slice(2, 4)}:${low.slice(4, 6)}`;
  const [model, uaModel, version] = f.models[k % f.models.length] as readonly [string, string, string];
  const digest = createHash('sha256').update(`${seed}/${index}`).digest('hex');
  return {
    index,
    vendor,
    model,
    mac,
    userAgent: f.userAgent(mac, uaModel, version, index),
    user: `u${pad5(index)}`,
    sipUsername: `sip${pad5(index)}`,
    sipPassword: `pw-${digest.slice(0, 16)}`,
    number: String(200_000 + index),
    // 127.10.0.0/16 and up: one address per phone, never 127.0.0.1 (the servers' own)
    source: `127.${10 + (index >> 16)}.${(index >> 8) & 255}.${index & 255}`,
  };
}

/** generateLab is phones 0..n-1 (n bounded by MAX_PHONES). */
export function generateLab(n: number, seed = 'bench'): Phone[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PHONES) throw new RangeError(`the lab holds 1..${MAX_PHONES} phones, not ${n}`);
  return Array.from({ length: n }, (_, i) => phoneAt(i, seed));
}

/** entryFiles are the files a phone asks first. */
export function entryFiles(p: Phone): readonly string[] {
  return FACTS[p.vendor].entry(p.mac, p.model);
}

/** deviceFileOf is the phone's per-device file with line 1's credentials. */
export function deviceFileOf(p: Phone): string {
  return FACTS[p.vendor].deviceFile(p.mac, p.model);
}

/** lastSegment is what follows the last `/` of a URL or path (a query dropped). */
function lastSegment(url: string): string {
  const noQuery = url.split('?')[0] ?? '';
  return noQuery.slice(noQuery.lastIndexOf('/') + 1);
}

/**
 * follow is what the phone asks next after `file` answered `status` with `body`, as the vendor
 * does: Yealink loads each `include:config "…"` (`$mac` → its lowercase MAC) of a boot file, or
 * `y000000000000.boot` when `<mac>.boot` is absent; Polycom loads each CONFIG_FILES entry of the
 * master file (`[PHONE_MAC_ADDRESS]` → its MAC), then its directory files; Snom loads each
 * `<file url=…>` of a setting-files list (`{mac}` → its MAC in upper case). Bounded: at most 8.
 */
export function follow(p: Phone, file: string, status: number, body: string): string[] {
  const mac = hex(p.mac);
  const out: string[] = [];
  if (p.vendor === 'yealink' && file.endsWith('.boot')) {
    if (status === 404 && file === `${mac}.boot`) return ['y000000000000.boot'];
    if (status !== 200) return [];
    for (const m of body.matchAll(/^include:config\s+"([^"\r\n]{1,200})"/gm)) out.push(lastSegment((m[1] ?? '').replace(/\$mac/g, mac)));
  } else if (p.vendor === 'polycom' && file === '000000000000.cfg' && status === 200) {
    const list = /CONFIG_FILES="([^"]{0,400})"/.exec(body)?.[1] ?? '';
    for (const f of list.split(',')) {
      const name = f.trim().replace(/\[PHONE_MAC_ADDRESS\]/g, mac);
      if (name !== '') out.push(lastSegment(name));
    }
    out.push(`${mac}-directory.xml`, '000000000000-directory.xml');
  } else if (p.vendor === 'snom' && file.endsWith('.htm') && status === 200) {
    for (const m of body.matchAll(/<file url="([^"]{1,300})"/g)) out.push(lastSegment((m[1] ?? '').replace(/\{mac\}/g, upper(p.mac))));
  }
  return out.filter((f) => f !== '').slice(0, 8);
}

/** userOfBody reads the SIP username of line 1 from the vendor's per-device file; undefined when absent. */
export function userOfBody(vendor: Vendor, body: string): string | undefined {
  const m = FACTS[vendor].line1User.exec(body);
  return m?.[1]?.trim();
}

/** ManifestPhone is one phone of manifest.json; `reqs` are [file, status, sha256 hex or '' for an empty body]. */
export interface ManifestPhone {
  readonly i: number;
  readonly vendor: Vendor;
  readonly mac: string;
  readonly ua: string;
  readonly src: string;
  readonly sipUsername: string;
  readonly sipPassword: string;
  readonly deviceFile: string;
  readonly reqs: readonly (readonly [string, number, string])[];
}

/** Manifest is manifest.json. */
export interface Manifest {
  readonly key: string;
  readonly n: number;
  readonly files: number;
  readonly phones: readonly ManifestPhone[];
}

/** LabYamlOptions are the daemon settings of the bench. */
export interface LabYamlOptions {
  readonly stateDir: string;
  readonly port: number;
  readonly workers: number;
  readonly tenant: string;
  readonly urlKey: string;
  readonly baseUrl: string;
  /** passwordHash is one stored hash given to every user (phones never send it; the schema wants one). */
  readonly passwordHash: string;
  /** defaultLimits keeps the shipped rate limit, per-source connection cap and bans (each phone has its own address). */
  readonly defaultLimits: boolean;
}

/** q quotes a YAML scalar as JSON (a subset of YAML). */
const q = (s: string): string => JSON.stringify(s);

/** labYaml is the provisiond configuration of the lab (see the file comment). */
export function labYaml(phones: readonly Phone[], o: LabYamlOptions): string {
  const limits = o.defaultLimits
    ? ''
    : // one source may well be the whole storm: the flood limits would refuse it
      ', rateLimit: {rate: 0}, maxConnectionsPerSource: 0, bans: {maxRetry: 0}';
  const users = phones.map(
    (p) =>
      `        ${p.user}: {password: ${q(o.passwordHash)}, attributes: {sip_username: ${p.sipUsername}, sip_password: ${q(p.sipPassword)}, number: ${q(p.number)}, display_name: ${q(`Phone ${p.index}`)}}}`,
  );
  const devices = phones.map((p) => `    - {mac: ${q(p.mac)}, profile: ${p.vendor}, model: ${q(p.model)}, users: [${p.user}]}`);
  return `# generated by bench/phones/setup.ts: ${phones.length} phones
dhcp: {enabled: false}
mdns: {enabled: false}
log: {level: info}
stateDir: ${q(o.stateDir)}
http: {host: 127.0.0.1, port: ${o.port}, workers: ${o.workers}${limits}}
devices: {maxNewPerSourcePerHour: 100000}
provisioning:
  defaultDomain: ${o.tenant}
  tenants:
    ${o.tenant}:
      auth: url_key
      urlKey: ${q(o.urlKey)}
      attributes: {sipDomain: sip.bench.test}
      users:
${users.join('\n')}
phones:
  enabled: true
  autoprovision: 'off'
  baseUrl: ${q(o.baseUrl)}
  configs:
    - id: site
      role: default
      raw: {sip_proxy_ip: 192.0.2.10, sip_proxy_port: 5060, sip_registrar_ip: 192.0.2.10, ntp_enabled: true, ntp_ip: 192.0.2.123, timezone: Europe/Paris, locale: fr_FR, admin_password: Bench-admin-1}
  devices:
${devices.join('\n')}
`;
}
