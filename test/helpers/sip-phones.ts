/**
 * sip-phones.ts (test helper): each PnP vendor's factory-fresh SUBSCRIBE shape, composed from
 * sip-phones.md §2.1/§2.3 (documentation addresses), for the codec and PnP handler tables.
 */

/** PhoneShape is what varies between vendors' ua-profile SUBSCRIBEs. */
export interface PhoneShape {
  readonly vendor: string;
  /** ruri is the Request-URI. */
  readonly ruri: string;
  /** from is the From URI (To is the same, without a tag). */
  readonly from: string;
  readonly event: string;
  readonly userAgent: string;
  /** port is the UDP source port (Grandstream: 5080). */
  readonly port: number;
  /** mac is the MAC the user part carries (lower-case hex), undefined when none (AudioCodes). */
  readonly mac: string | undefined;
  /** compact writes the compact header names (v f t i m l o). */
  readonly compact?: boolean;
  /** lf ends lines with a bare LF. */
  readonly lf?: boolean;
}

/** VENDOR_SHAPES are the §2.1 SUBSCRIBE shapes, one per vendor and MAC encoding. */
export const VENDOR_SHAPES: readonly PhoneShape[] = [
  {
    vendor: 'grandstream',
    ruri: 'sip:MAC%3AC074AD0B63EE@224.0.1.75',
    from: 'sip:MAC%3AC074AD0B63EE@224.0.1.75',
    event: 'ua-profile;profile-type="device";vendor="Grandstream";model="GRP2614";version="1.0.5.15"',
    userAgent: 'Grandstream GRP2614 1.0.5.15',
    port: 5080,
    mac: 'c074ad0b63ee',
  },
  {
    vendor: 'snom',
    ruri: 'sip:MAC%3a00135E874B49@intern.snom.de',
    from: 'sip:MAC%3a00135E874B49@intern.snom.de',
    event: 'ua-profile;profile-type="device";vendor="OEM";model="OEM";version="7.1.19"',
    userAgent: 'snomD785/10.1.33.33',
    port: 5060,
    mac: '00135e874b49',
  },
  {
    vendor: 'gigaset',
    ruri: 'sip:MAC%3a7C2F80E0D605@gigaset.com',
    from: 'sip:MAC%3a7C2F80E0D605@gigaset.com',
    event: 'ua-profile;profile-type="device";vendor="OEM";model="OEM";version="2.11.0"',
    userAgent: 'Gigaset N870 IP PRO/83.V2.11.0',
    port: 5060,
    mac: '7c2f80e0d605',
  },
  {
    vendor: 'yealink',
    ruri: 'sip:MAC:805ec0112233@224.0.1.75',
    from: 'sip:MAC:805ec0112233@224.0.1.75',
    event: 'ua-profile;profile-type="device";vendor="Yealink";model="SIP-T46S";version="66.86.0.15"',
    userAgent: 'Yealink SIP-T46S 66.86.0.15',
    port: 5060,
    mac: '805ec0112233',
    compact: true,
  },
  {
    vendor: 'fanvil',
    ruri: 'sip:MAC0c383e07e16c@224.0.1.75',
    from: 'sip:MAC0c383e07e16c@224.0.1.75',
    event: 'ua-profile;profile-type="device";vendor="Fanvil";model="VOIP PHONE";version="2.10.2.6887"',
    userAgent: 'Fanvil X4 2.10.2.6887',
    port: 5060,
    mac: '0c383e07e16c',
    lf: true,
  },
  {
    vendor: 'planet',
    ruri: 'sip:MAC=00304fa99948@224.0.1.75',
    from: 'sip:MAC=00304fa99948@224.0.1.75',
    event: 'ua-profile;profile-type="device";vendor="PLANET";model="VIP-2140PT";version="1.0"',
    userAgent: 'PLANET VIP-2140PT',
    port: 5060,
    mac: '00304fa99948',
  },
  {
    vendor: 'audiocodes',
    ruri: 'sip:224.0.1.75:5060',
    from: 'sip:00000001@192.0.2.50',
    event: 'ua-profile;profile-type="application";model="440HD";version="2.2.2"',
    userAgent: 'AUDC-IPPhone/2.2.2',
    port: 5060,
    mac: undefined,
  },
];

/** SubscribeOptions vary one SUBSCRIBE. */
export interface SubscribeOptions {
  readonly ip?: string;
  readonly branch?: string;
  readonly callId?: string;
  readonly cseq?: number;
  readonly rport?: boolean;
}

/** subscribeText writes a vendor's SUBSCRIBE as the phone sends it. */
export function subscribeText(p: PhoneShape, o: SubscribeOptions = {}): string {
  const ip = o.ip ?? '192.0.2.50';
  const n = (long: string, short: string): string => (p.compact ? short : long);
  const lines = [
    `SUBSCRIBE ${p.ruri} SIP/2.0`,
    `${n('Via', 'v')}: SIP/2.0/UDP ${ip}:${p.port};branch=${o.branch ?? 'z9hG4bK7001'}${o.rport === false ? '' : ';rport'}`,
    `${n('From', 'f')}: <${p.from}>;tag=4411`,
    `${n('To', 't')}: <${p.from}>`,
    `${n('Call-ID', 'i')}: ${o.callId ?? `7001-${p.port}-1@${ip}`}`,
    `CSeq: ${o.cseq ?? 20000} SUBSCRIBE`,
    `${n('Contact', 'm')}: <sip:${ip}:${p.port}>`,
    'Max-Forwards: 70',
    `User-Agent: ${p.userAgent}`,
    'Expires: 0',
    `${n('Event', 'o')}: ${p.event}`,
    'Accept: application/url',
    `${n('Content-Length', 'l')}: 0`,
  ];
  const eol = p.lf ? '\n' : '\r\n';
  return lines.join(eol) + eol + eol;
}

/** subscribe is subscribeText as a datagram. */
export function subscribe(p: PhoneShape, o: SubscribeOptions = {}): Buffer {
  return Buffer.from(subscribeText(p, o), 'utf8');
}
