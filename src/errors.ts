/**
 * errors.ts: the one registry of provisiond's error codes.
 *
 * Every error the daemon reports to an operator carries a stable `code` from this table. Codes are
 * never reused or renamed once released; the README's "Error codes" table is kept in sync with
 * this registry by a test (test/errors.test.ts).
 */

/** ErrorCodes maps each stable code to a one-line description (the README table is built from it). */
export const ErrorCodes = {
  PROVD_ERR_CONFIG_READ: 'the configuration file cannot be read',
  PROVD_ERR_CONFIG_YAML: 'the configuration file is not valid YAML',
  PROVD_ERR_CONFIG_INVALID: 'the configuration does not match the schema (every problem is listed with its key path)',
  PROVD_ERR_USAGE: 'the command line is invalid (unknown command, option or stray argument)',
  PROVD_ERR_DHCP_BIND: 'the DHCP face cannot bind its UDP port (in use, or not permitted)',
  PROVD_ERR_DHCP_INTERFACE: 'a configured DHCP interface does not exist or has no IPv4 address',
  PROVD_ERR_DHCP_WORKER: 'the DHCP face\'s worker thread keeps dying: 5 deaths without 60 s of service in between (the daemon exits 3 so the service manager restarts it), or a reload came while it was down (refused)',
  PROVD_ERR_SIP_BIND: 'the SIP face cannot bind 224.0.1.75 on its UDP port (held by a process that did not allow address reuse: the holder is named), its reply sockets, or join the group on an interface',
  PROVD_ERR_SIP_INTERFACE: 'a configured SIP interface (sip.interfaces) does not exist or has no IPv4 address',
  PROVD_ERR_SIP_WORKER: 'the SIP face\'s worker thread is down: a reload came while it was being restarted (refused), or it did not start or confirm a reload in time',
  PROVD_ERR_MDNS_BIND: 'the mDNS face cannot bind UDP port 5353 (not permitted, or no multicast on the interface)',
  PROVD_ERR_MDNS_INTERFACE: 'an mDNS interface (mdns.interfaces, or dhcp.interfaces by default) does not exist or has no IPv4 address',
  PROVD_ERR_MDNS_URL: 'the provisioning URL cannot be advertised as an exact TXT record (a TXT string breaks RFC 6763, or `export avahi` would need different TXT records per link)',
  PROVD_ERR_MDNS_CONFLICT: 'another mDNS responder holds "Provisioning URL" or the SRV host name; logged with its address, never renamed, retried',
  PROVD_ERR_MDNS_LIBRARY: 'the mDNS library (@homebridge/ciao) lacks an internal the immediate-answer path needs; a warning, answers keep its 20-120 ms delay',
  PROVD_ERR_STORE: 'the store (SQLite in stateDir) cannot be opened, migrated or written, or fails its integrity check at start (corrupt)',
  PROVD_ERR_STORE_UNREACHABLE: 'the PostgreSQL store (store.url) cannot be reached at start or by store migrate: refused connection, unknown host, wrong password or database, TLS failure, or no answer within store.pool.connectTimeout (the daemon does not start); while running, a login that needs the store it cannot reach is answered 503 with Retry-After, logged once per episode under this code',
  PROVD_ERR_NO_STORE: 'an administration command would create a new store with no configuration named (no --config, no $PROVISIOND_CONFIG, no /etc/provisiond/provisiond.yaml): it names where and asks for --init first',
  PROVD_ERR_HTTP_BIND: 'the HTTP face cannot listen on its TCP port (in use, or not permitted)',
  PROVD_ERR_HTTP_TLS: 'the HTTP face cannot read or use http.tls.cert / http.tls.key',
  PROVD_ERR_ADMIN_BIND: 'the admin listener (metrics, health checks, API) cannot listen on admin.host:admin.port (in use, or not permitted) or cannot read or use admin.tls.cert / admin.tls.key',
  PROVD_ERR_EVENT_LOG: 'the security event log (http.eventLog) cannot be opened for appending, or a write to it failed (logged once per episode; failures are still counted and banned)',
  PROVD_ERR_HTTP_WORKER: 'HTTP workers (http.workers > 1) keep dying: none served for 15 s (the daemon exits 3 so the service manager restarts it), or a reload came while one was down (refused)',
  PROVD_ERR_TFTP_BIND: 'the TFTP face cannot bind its UDP port (tftp.port, 69 by default: in use, or not permitted without CAP_NET_BIND_SERVICE)',
  PROVD_ERR_TFTP_INTERFACE: 'a configured TFTP interface (tftp.interfaces) does not exist or has no IPv4 address',
  PROVD_ERR_TFTP_WORKER: 'the TFTP face\'s worker thread keeps dying: 5 deaths without 60 s of service in between (the daemon exits 3 so the service manager restarts it), or a reload came while it was down (refused)',
  PROVD_ERR_USER: 'a user command failed (no such user, user exists, unreadable password or import file)',
  PROVD_ERR_RENDER: 'provisiond render could not produce a document (unknown tenant or user, template error)',
  PROVD_ERR_TEMPLATE: 'a phone file template cannot be used: no file in its lookup chain, a name escaping the template directories, or a syntax or render error (the file and line are named)',
  PROVD_ERR_PHONE_STORE: 'a phone config or device write is refused (a config still a parent or assigned, a MAC already recorded or malformed, an unknown config or parent, a parent cycle, a second default or autoprov config)',
  PROVD_ERR_DEVICE: 'a phone device command was refused (not a MAC, a profile not loaded, a tenant not configured, a config or user the tenant lacks, a MAC already recorded or not recorded)',
  PROVD_ERR_KEY: 'a provisioning key command failed (unknown tenant, or the store cannot be written)',
  PROVD_ERR_IMPORT: 'provisiond import could not import anything (not a wazo-provd directory, nothing mappable, or over a read cap); the reasons are listed',
  PROVD_ERR_RESYNC: 'provisiond devices sync: a phone did not accept the resync NOTIFY (refused, unreachable, no known address, or a profile not loaded; one line per phone says which; exit 6)',
  PROVD_ERR_PROBE: 'provisiond probe failed at a step (named in the message: dhcp, bonjour, url, http or properties, exit codes 10-14; with --as: subscribe, notify or files, exit codes 15-17)',
  PROVD_ERR_CONTROL_BIND: 'the control socket cannot be created at start: another provisiond answers on it, the path is not a socket, too long, or not writable (exit 3)',
  PROVD_ERR_CONTROL: 'a command cannot talk to the running daemon over its control socket: no daemon runs (nothing answers), permission denied (root or the daemon\'s user only), or no valid answer in time (exit 7)',
  PROVD_ERR_BAN: 'provisiond bans lift: no live ban matches the address or user given (exit 5)',
  PROVD_ERR_REMEMBER_KEY: 'the remembered-login key (stateDir/remember.key or $CREDENTIALS_DIRECTORY/remember-key) cannot be read or created, is shorter than 32 bytes, or others may read it; logged at error, and logins are checked by the KDF alone (nothing is remembered) until it is fixed',
  PROVD_ERR_TOKEN: 'an API token command failed (unknown tenant, a scope that is not read, write or secrets, no token with that id, or too many tokens)',
  PROVD_ERR_API_AUTH: 'an admin API request carried no token, a malformed one, or one that is not (or no longer) stored: 401, counted into the HTTP face\'s bans and written to the security event log',
  PROVD_ERR_API_BANNED: 'an admin API request came from a source banned after repeated token failures: 429 with Retry-After',
  PROVD_ERR_API_FORBIDDEN: 'the API token lacks the scope the request needs (write to change, secrets to see or set a secret): 403',
  PROVD_ERR_API_NOT_FOUND: 'no such admin API resource for this token (another tenant\'s resource is 404 too: its existence is not told)',
  PROVD_ERR_API_INVALID: 'an admin API request is malformed: not JSON, a field of the wrong type or out of range, an unknown field, a body over the limit, or a paging limit over the maximum (the problem names the field)',
  PROVD_ERR_INTERNAL: 'an unexpected internal error (a bug: please report it with the log line)',
} as const;

/** ErrorCode is one of the stable codes in ErrorCodes. */
export type ErrorCode = keyof typeof ErrorCodes;

/** ProvError is the base class of every error provisiond raises on purpose; `code` is stable. */
export class ProvError extends Error {
  readonly code: ErrorCode;
  /** details holds extra structured data (e.g. the list of config problems). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProvError';
    this.code = code;
    this.details = options?.details ?? [];
  }
}

/** isProvError narrows an unknown thrown value to a ProvError. */
export function isProvError(err: unknown): err is ProvError {
  return err instanceof ProvError;
}

/** errorMessage renders any thrown value as one line for logs and the CLI. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
