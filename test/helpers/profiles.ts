/**
 * profiles.ts (test helper): vendor profiles written for tests.
 */

/** CISCO_SIP: a Cisco enterprise SIP profile with wazo's service-control body (sip-phones.md §4.1). */
export const CISCO_SIP = [
  'vendor: cisco-sip',
  'family: Cisco enterprise SIP',
  'deviceFiles:',
  "  - 'SEP{MAC}.cnf.xml'",
  "resyncEvent: 'service-control'",
  'resyncBody:',
  '  contentType: text/plain',
  "  resync: ['action=restart', 'RegisterCallId={}', 'ConfigVersionStamp={0000000000000000}', 'DialplanVersionStamp={0000000000000000}', 'SoftkeyVersionStamp={0000000000000000}']",
  "  reboot: ['action=reset', 'RegisterCallId={}', 'ConfigVersionStamp={0000000000000000}', 'DialplanVersionStamp={0000000000000000}', 'SoftkeyVersionStamp={0000000000000000}']",
  '',
].join('\n');
