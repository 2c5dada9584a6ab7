/**
 * mdns-lab.ts (test and bench helper): a two-namespace lab joined by veth links, and the
 * independent mDNS clients that run in it: avahi-daemon + avahi-browse (with a private D-Bus
 * and a private /run), the JmDNS resolver (test/fixtures/Resolve.java) and a DHCPINFORM probe.
 *
 * Every process is started here, tracked by PID and stopped by PID; the namespaces carry the
 * test process's PID in their names and are deleted by down(). Nothing leaves the namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** ROOT is the repository (two levels above dist/test/helpers). */
export const ROOT = join(__dirname, '..', '..', '..');
/** JARS are Debian's libjmdns-java and libslf4j-java jars the resolver runs on. */
export const JARS = ['/usr/share/java/jmdns.jar', '/usr/share/java/slf4j-api.jar', '/usr/share/java/slf4j-nop.jar'];
export const RESOLVER = join(ROOT, 'test', 'fixtures', 'Resolve.java');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** labSkipReason says why the namespace lab cannot run here, or returns false. */
export function labSkipReason(opts: { java?: boolean; avahi?: boolean } = {}): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const tools = ['ip', 'unshare', 'mount'];
  if (opts.avahi !== false) tools.push('avahi-daemon', 'avahi-browse', 'avahi-publish', 'dbus-daemon');
  if (opts.java) tools.push('java');
  const missing = tools.filter((t) => !has(t));
  if (opts.java) for (const j of JARS.slice(0, 2)) if (!existsSync(j)) missing.push(j);
  if (missing.length > 0) return `missing ${missing.join(', ')} (bash scripts/install-test-deps.sh installs them)`;
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.status !== 0) return `ip netns does not work here: ${probe.stderr.trim()}`;
  return false;
}

/** Proc is a started process with its output split into lines. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly started = performance.now();
  private partial = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | string>;

  constructor(argv: readonly string[], env?: NodeJS.ProcessEnv) {
    this.child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const feed = (d: Buffer): void => {
      const text = this.partial + d.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const w of this.waiters) w();
    };
    this.child.stdout?.on('data', feed);
    this.child.stderr?.on('data', feed);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
    void this.exited.then(() => {
      if (this.partial) this.lines.push(this.partial);
      this.partial = '';
      for (const w of this.waiters) w();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** waitFor resolves with the first line (from `from` on) matching, and the time it arrived; undefined on timeout or exit. */
  waitFor(match: RegExp | ((l: string) => boolean), ms: number, from = 0): Promise<{ line: string; at: number; index: number } | undefined> {
    const test = typeof match === 'function' ? match : (l: string): boolean => match.test(l);
    return new Promise((resolve) => {
      const check = (): boolean => {
        for (let i = from; i < this.lines.length; i++) {
          const l = this.lines[i] ?? '';
          if (test(l)) {
            done({ line: l, at: performance.now(), index: i });
            return true;
          }
        }
        if (!this.running) {
          done(undefined);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => done(undefined), ms);
      const listener = (): void => void check();
      const done = (v: { line: string; at: number; index: number } | undefined): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
        resolve(v);
      };
      if (check()) return;
      this.waiters.add(listener);
    });
  }

  /** stop sends SIGTERM to this PID, then SIGKILL after `ms`. */
  async stop(ms = 5000): Promise<number | string> {
    if (this.running && this.child.pid) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (this.running) this.child.kill('SIGKILL');
      }, ms);
      const code = await this.exited;
      clearTimeout(timer);
      return code;
    }
    return this.exited;
  }
}

/** LinkSpec is one veth pair between the two namespaces. */
export interface LinkSpec {
  readonly srvIf: string;
  readonly cliIf: string;
  readonly srvIp: string;
  readonly cliIp: string;
}

function run(argv: readonly string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim()}`);
}

/** Lab is a server namespace and a client namespace joined by veth links (names include the PID). */
export class Lab {
  readonly srv: string;
  readonly cli: string;
  readonly links: LinkSpec[];
  readonly dir: string;
  private readonly procs: Proc[] = [];
  private busAddress: string | undefined;

  constructor(tag: string, linkCount = 2, subnetBase = 231) {
    const id = `${process.pid}`;
    this.srv = `pmd${id}${tag}s`;
    this.cli = `pmd${id}${tag}c`;
    this.links = [];
    for (let i = 1; i <= linkCount; i++) {
      this.links.push({ srvIf: `m${id}s${i}`, cliIf: `m${id}c${i}`, srvIp: `10.${subnetBase}.${i}.1`, cliIp: `10.${subnetBase}.${i}.2` });
    }
    this.dir = mkdtempSync(join(tmpdir(), `provisiond-mdns-${tag}-`));
  }

  /** up creates the namespaces and links; loopback gets the MULTICAST flag. */
  up(): void {
    run(['ip', 'netns', 'add', this.srv]);
    run(['ip', 'netns', 'add', this.cli]);
    for (const ns of [this.srv, this.cli]) {
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'multicast', 'on']);
    }
    for (const l of this.links) {
      run(['ip', 'link', 'add', l.srvIf, 'netns', this.srv, 'type', 'veth', 'peer', 'name', l.cliIf, 'netns', this.cli]);
      run(['ip', '-n', this.srv, 'addr', 'add', `${l.srvIp}/24`, 'dev', l.srvIf]);
      run(['ip', '-n', this.cli, 'addr', 'add', `${l.cliIp}/24`, 'dev', l.cliIf]);
      run(['ip', '-n', this.srv, 'link', 'set', l.srvIf, 'up']);
      run(['ip', '-n', this.cli, 'link', 'set', l.cliIf, 'up']);
    }
  }

  /** down stops every process started here (by PID) and deletes the namespaces. */
  async down(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(3000)));
    for (const ns of [this.srv, this.cli]) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** spawn runs argv inside a namespace (ip netns exec execs it: the PID is the command's). */
  spawn(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv): Proc {
    const p = new Proc(['ip', 'netns', 'exec', ns, ...argv], env);
    this.procs.push(p);
    return p;
  }

  /** track makes down() stop a process started elsewhere. */
  track(p: Proc): Proc {
    this.procs.push(p);
    return p;
  }

  /** bus starts (once) a private D-Bus system bus for the client's avahi-daemon and avahi-browse. */
  async bus(): Promise<string> {
    if (this.busAddress) return this.busAddress;
    const sock = join(this.dir, 'bus.sock');
    const conf = join(this.dir, 'bus.conf');
    writeFileSync(
      conf,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="signal"/>
<allow send_requested_reply="true" send_type="method_return"/><allow send_requested_reply="true" send_type="error"/>
<allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="*"/></policy></busconfig>
`,
    );
    const p = this.track(new Proc(['dbus-daemon', `--config-file=${conf}`, '--nofork', '--nopidfile']));
    for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(sock)) throw new Error(`dbus-daemon did not start: ${p.lines.join('\n')}`);
    this.busAddress = `unix:path=${sock}`;
    return this.busAddress;
  }

  /**
   * avahi starts an avahi-daemon in a namespace, in a private mount namespace with its own /run
   * (and, with `services`, its own /etc/avahi/services holding those files). With `dbus` it joins
   * the lab's private bus (needed by avahi-browse/avahi-publish); without, D-Bus is off.
   */
  async avahi(ns: string, opts: { name: string; hostName: string; interfaces: readonly string[]; dbus: boolean; services?: Record<string, string>; ipv6?: boolean }): Promise<Proc> {
    const conf = join(this.dir, `avahi-${opts.name}.conf`);
    writeFileSync(
      conf,
      `[server]\nhost-name=${opts.hostName}\nuse-ipv4=yes\nuse-ipv6=${opts.ipv6 === false ? 'no' : 'yes'}\nallow-interfaces=${opts.interfaces.join(',')}\nenable-dbus=${opts.dbus ? 'yes' : 'no'}\n` +
        'ratelimit-interval-usec=1000000\nratelimit-burst=1000\n[wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\npublish-workstation=no\n' +
        (opts.ipv6 === false ? 'publish-aaaa-on-ipv4=no\n' : ''),
    );
    let mounts = 'mount -t tmpfs provisiond-test /run && mkdir -p /run/avahi-daemon';
    if (opts.services) {
      const dir = join(this.dir, `services-${opts.name}`);
      mkdirSync(dir, { recursive: true });
      for (const [file, text] of Object.entries(opts.services)) writeFileSync(join(dir, file), text);
      mounts += ` && mount --bind ${dir} /etc/avahi/services`;
    }
    const env = opts.dbus ? { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: await this.bus() } : process.env;
    const p = this.spawn(ns, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec avahi-daemon -f ${conf} --no-drop-root --no-chroot --no-rlimits`], env);
    const up = await p.waitFor(/Server startup complete/, 15_000);
    if (!up) throw new Error(`avahi-daemon did not start in ${ns}:\n${p.lines.join('\n')}`);
    return p;
  }

  /** browseEnv is the environment avahi-browse/avahi-publish need to reach the client's daemon. */
  async browseEnv(): Promise<NodeJS.ProcessEnv> {
    return { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: await this.bus() };
  }
}

/** BrowseEntry is one resolved ("=") line of `avahi-browse -p`. */
export interface BrowseEntry {
  readonly iface: string;
  readonly proto: string;
  readonly name: string;
  readonly type: string;
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** txt is in wire order (avahi-browse prints the strings last first). */
  readonly txt: string[];
}

function unescapeAvahi(s: string): string {
  return s.replace(/\\(\d{3})/g, (_m, d: string) => String.fromCharCode(Number(d))).replace(/\\(.)/g, '$1');
}

/** parseBrowseLine parses an "=" line of `avahi-browse -p -r`, or returns undefined. */
export function parseBrowseLine(line: string): BrowseEntry | undefined {
  if (!line.startsWith('=;')) return undefined;
  const f = line.split(';');
  if (f.length < 10) return undefined;
  const txtField = f.slice(9).join(';');
  const txt = [...txtField.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unescapeAvahi(m[1] ?? ''));
  return {
    iface: f[1] ?? '',
    proto: f[2] ?? '',
    name: unescapeAvahi(f[3] ?? ''),
    type: f[4] ?? '',
    host: f[6] ?? '',
    address: f[7] ?? '',
    port: Number(f[8]),
    // avahi keeps TXT strings in a prepend-built list, so -p prints them in reverse wire order.
    txt: txt.reverse(),
  };
}

/** clientUrlFromBrowse assembles the client's URL (contract §3.2) from an avahi-browse entry. */
export function clientUrlFromBrowse(e: BrowseEntry, scheme: 'http' | 'https'): string {
  let url = `${scheme}://${e.address}:${e.port}`;
  const props = e.txt.map((s) => {
    const eq = s.indexOf('=');
    return eq < 0 ? [s, 'true'] : [s.slice(0, eq), s.slice(eq + 1)];
  });
  const path = props.find(([k]) => k === 'path')?.[1];
  if (path !== undefined) url = path.includes('://') ? path : url + (path.startsWith('/') ? path : `/${path}`);
  if (props.length > 0) url += '?';
  props.forEach(([k, v], i) => {
    if (k === 'path') return;
    url += `${k}=${v}`;
    if (i < props.length - 1) url += '&';
  });
  return url;
}

/** Resolved is what the JmDNS resolver printed. */
export interface Resolved {
  readonly type: string;
  readonly clientUrl: string;
  readonly orderedUrl: string;
  readonly createMs: number;
  readonly resolveMs: number;
  /** wallMs is from spawning the JVM to its result line. */
  readonly wallMs: number;
  readonly output: string;
}

/** jmdnsResolve runs test/fixtures/Resolve.java in `ns`, bound to `bind` (one interface, as the client). */
export async function jmdnsResolve(lab: Lab, ns: string, bind: string): Promise<Resolved> {
  const cp = JARS.filter((j) => existsSync(j)).join(':');
  const p = lab.spawn(ns, ['java', '-Xshare:auto', '-cp', cp, RESOLVER, bind]);
  const done = await p.waitFor(/^TIMING /, 30_000);
  await p.stop();
  const get = (k: string): string => (p.lines.find((l) => l.startsWith(`${k} `)) ?? `${k} `).slice(k.length + 1);
  const timing = /create_ms=([\d.]+) resolve_ms=([\d.]+)/.exec(done?.line ?? '');
  return {
    type: get('TYPE'),
    clientUrl: get('CLIENT_URL'),
    orderedUrl: get('ORDERED_URL'),
    createMs: Number(timing?.[1] ?? NaN),
    resolveMs: Number(timing?.[2] ?? NaN),
    wallMs: done ? done.at - p.started : NaN,
    output: p.lines.join('\n'),
  };
}

/** dhcpAsk sends a Jitsi DHCPINFORM from `client` to `server` inside `ns` and returns option 224. */
export async function dhcpAsk(lab: Lab, ns: string, server: string, client: string): Promise<string> {
  const p = lab.spawn(ns, [process.execPath, join(__dirname, 'dhcp-ask.js'), server, client]);
  const r = await p.waitFor(/^(URL|NOREPLY) /, 10_000);
  await p.stop();
  if (!r || !r.line.startsWith('URL ')) throw new Error(`no DHCPACK from ${server}: ${p.lines.join('\n')}`);
  return r.line.slice(4);
}

/** median of a list of numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
