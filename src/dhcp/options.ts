/**
 * options.ts: the DHCP options provisiond knows, declared as table rows (code, name, type).
 *
 * RFC 2132 defines the option format; only the options the responder reads or writes are
 * listed. Anything else is carried as raw bytes and skipped by its length (RFC 2131 §4.3.6
 * lets a server ignore options it does not understand).
 */

/** OptionType says how an option's bytes are interpreted. */
export type OptionType = 'u8' | 'u16' | 'u32' | 'ipv4' | 'ipv4-list' | 'u8-list' | 'text' | 'bytes';

/** OptionDef is one row of the option table. */
export interface OptionDef {
  readonly code: number;
  readonly name: string;
  readonly type: OptionType;
}

/** Opt names the option codes used in code, with their RFC. */
export const enum Opt {
  Pad = 0, // RFC 2132 §3.1
  SubnetMask = 1, // RFC 2132 §3.3
  Router = 3, // RFC 2132 §3.5
  HostName = 12, // RFC 2132 §3.14
  RequestedIp = 50, // RFC 2132 §9.1
  Overload = 52, // RFC 2132 §9.3
  MessageType = 53, // RFC 2132 §9.6
  ServerId = 54, // RFC 2132 §9.7
  ParameterRequestList = 55, // RFC 2132 §9.8
  Message = 56, // RFC 2132 §9.9
  MaxMessageSize = 57, // RFC 2132 §9.10
  VendorClassId = 60, // RFC 2132 §9.13
  ClientId = 61, // RFC 2132 §9.14
  RelayAgentInfo = 82, // RFC 3046
  ProvisioningUrl = 224, // site-specific (RFC 3942); the Jitsi client's provisioning URL
  End = 255, // RFC 2132 §3.2
}

/** OPTIONS is the option table. */
export const OPTIONS: readonly OptionDef[] = [
  { code: Opt.SubnetMask, name: 'subnet-mask', type: 'ipv4' },
  { code: Opt.Router, name: 'router', type: 'ipv4-list' },
  { code: Opt.HostName, name: 'host-name', type: 'text' },
  { code: Opt.RequestedIp, name: 'requested-ip', type: 'ipv4' },
  { code: Opt.Overload, name: 'option-overload', type: 'u8' },
  { code: Opt.MessageType, name: 'message-type', type: 'u8' },
  { code: Opt.ServerId, name: 'server-identifier', type: 'ipv4' },
  { code: Opt.ParameterRequestList, name: 'parameter-request-list', type: 'u8-list' },
  { code: Opt.Message, name: 'message', type: 'text' },
  { code: Opt.MaxMessageSize, name: 'max-message-size', type: 'u16' },
  { code: Opt.VendorClassId, name: 'vendor-class-identifier', type: 'bytes' },
  { code: Opt.ClientId, name: 'client-identifier', type: 'bytes' },
  { code: Opt.RelayAgentInfo, name: 'relay-agent-information', type: 'bytes' },
  { code: Opt.ProvisioningUrl, name: 'provisioning-url', type: 'text' },
];

const byCode = new Map<number, OptionDef>(OPTIONS.map((d) => [d.code, d]));

/** optionDef returns the table row of a code, if the code is known. */
export function optionDef(code: number): OptionDef | undefined {
  return byCode.get(code);
}

/** MessageType is the value of option 53 (RFC 2132 §9.6). */
export const enum MessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

/** messageTypeName names an option-53 value for logs and counters. */
export function messageTypeName(t: number): string {
  return ['none', 'discover', 'offer', 'request', 'decline', 'ack', 'nak', 'release', 'inform'][t] ?? `type-${t}`;
}

/** checkOptionLength validates a known option's length against its type; it returns a reason or undefined. */
export function checkOptionLength(def: OptionDef, len: number): string | undefined {
  switch (def.type) {
    case 'u8':
      return len === 1 ? undefined : 'must be 1 byte';
    case 'u16':
      return len === 2 ? undefined : 'must be 2 bytes';
    case 'u32':
    case 'ipv4':
      return len === 4 ? undefined : 'must be 4 bytes';
    case 'ipv4-list':
      return len > 0 && len % 4 === 0 ? undefined : 'must be a non-empty multiple of 4 bytes';
    case 'u8-list':
      return len > 0 ? undefined : 'must not be empty';
    case 'text':
    case 'bytes':
      return undefined;
  }
}
