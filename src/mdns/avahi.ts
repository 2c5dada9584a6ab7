/**
 * avahi.ts: the Avahi static service file (avahi.service(5)) equivalent to the advertisement,
 * for hosts where avahi-daemon advertises instead (`provisiond export avahi`, then
 * mdns.enabled: false). Pure.
 */
import { clientUrlOn, type Advertisement } from './plan';

/** xmlEscape escapes text and attribute values for XML 1.0 (`&`, `<`, `>`, quotes). */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** xmlCommentSafe keeps a string legal inside <!-- … --> (no "--", no trailing "-"). */
function xmlCommentSafe(s: string): string {
  return s.replace(/-{2,}/g, (m) => m.split('').join(' ')).replace(/-$/, '- ');
}

/** avahiServiceXml renders the service file; TXT strings keep their order (path first). */
export function avahiServiceXml(ad: Advertisement, generator: string): string {
  const lines = [
    `<?xml version="1.0" standalone='no'?>`,
    `<!DOCTYPE service-group SYSTEM "avahi-service.dtd">`,
    `<!-- ${xmlCommentSafe(`${generator}: "${ad.instance}" as provisiond would advertise it.`)}`,
    `     ${xmlCommentSafe(`Install as /etc/avahi/services/provisioning.service and set mdns.enabled: false.`)}`,
    `     ${xmlCommentSafe(`avahi-daemon uses its own host name as the SRV target (provisiond: ${ad.hostname}.local).`)}`,
    ...ad.interfaces.map((i) => `     ${xmlCommentSafe(`A client on ${i.name} (${i.ipv4}) gets: ${clientUrlOn(ad, i)}`)}`),
    `-->`,
    `<service-group>`,
    `  <name>${xmlEscape(ad.instance)}</name>`,
    `  <service protocol="ipv4">`,
    `    <type>${xmlEscape(ad.type)}</type>`,
    `    <port>${ad.port}</port>`,
    ...ad.txt.map((t) => `    <txt-record>${xmlEscape(t)}</txt-record>`),
    `  </service>`,
    `</service-group>`,
    '',
  ];
  return lines.join('\n');
}
