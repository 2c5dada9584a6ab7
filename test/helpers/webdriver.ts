/**
 * webdriver.ts (test helper): a headless Chromium driven over the W3C WebDriver HTTP protocol
 * (https://www.w3.org/TR/webdriver2/) with `fetch` against Debian's chromedriver: no npm
 * dependency. As root Chromium needs --no-sandbox. Every call is bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMEDRIVER = '/usr/bin/chromedriver';
/** ELEMENT is the W3C web element identifier's key. */
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
/** CALL_TIMEOUT_MS bounds one WebDriver command. */
const CALL_TIMEOUT_MS = 60_000;
/** STALE_RETRIES bounds the finds of one element action when the page keeps replacing the element. */
const STALE_RETRIES = 5;

/** browserMissing says why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is absent (Debian package chromium; scripts/install-test-deps.sh)`;
  if (!existsSync(CHROMEDRIVER)) return `${CHROMEDRIVER} is absent (Debian package chromium-driver; scripts/install-test-deps.sh)`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Cookie is a cookie as WebDriver reports it. */
export interface WdCookie {
  readonly name: string;
  readonly value: string;
  readonly httpOnly?: boolean;
  readonly sameSite?: string;
}

/** Browser is one WebDriver session on a chromedriver of its own. */
export class Browser {
  private constructor(
    private readonly driver: ChildProcess,
    private readonly base: string,
    private readonly session: string,
    private readonly profile: string,
    readonly driverLog: () => string,
  ) {}

  /** start runs chromedriver on a free loopback port and opens a headless Chromium session. */
  static async start(): Promise<Browser> {
    const port = await freePort();
    let out = '';
    const driver = spawn(CHROMEDRIVER, [`--port=${port}`, '--allowed-ips=127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (b: Buffer): void => {
      out = (out + b.toString()).slice(-20_000);
    };
    driver.stdout?.on('data', keep);
    driver.stderr?.on('data', keep);
    const base = `http://127.0.0.1:${port}`;
    const profile = mkdtempSync(join(tmpdir(), 'provisiond-chromium-'));
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ready = await fetch(`${base}/status`, { signal: AbortSignal.timeout(2000) })
          .then(async (r) => ((await r.json()) as { value?: { ready?: boolean } }).value?.ready === true)
          .catch(() => false);
        if (ready) break;
        if (driver.exitCode !== null || Date.now() > deadline) throw new Error(`chromedriver did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const caps = {
        capabilities: {
          alwaysMatch: {
            browserName: 'chrome',
            'goog:chromeOptions': {
              binary: CHROMIUM,
              args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions', `--user-data-dir=${profile}`, '--window-size=1280,1600'],
            },
          },
        },
      };
      const r = await call(base, 'POST', '/session', caps);
      const id = (r as { sessionId?: string }).sessionId;
      if (typeof id !== 'string') throw new Error(`no WebDriver session: ${JSON.stringify(r)}`);
      return new Browser(driver, base, id, profile, () => out);
    } catch (err) {
      killGroup(driver);
      rmSync(profile, { recursive: true, force: true });
      throw err;
    }
  }

  private cmd(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    return call(this.base, method, `/session/${this.session}${path}`, body);
  }

  async navigate(url: string): Promise<void> {
    await this.cmd('POST', '/url', { url });
  }

  /** find is the first element a CSS selector matches (it throws when none does). */
  async find(css: string): Promise<string> {
    const v = (await this.cmd('POST', '/element', { using: 'css selector', value: css })) as Record<string, string>;
    const id = v[ELEMENT];
    if (id === undefined) throw new Error(`no element id for ${css}`);
    return id;
  }

  /**
   * onElement finds an element and acts on it; when the page replaced the element between the two
   * (a "stale element reference": the dashboard's auto-refresh), it finds it again, a few times.
   */
  private async onElement(css: string, act: (id: string) => Promise<unknown>): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await act(await this.find(css));
      } catch (err) {
        if (attempt >= STALE_RETRIES || !(err instanceof Error) || !err.message.includes('stale element reference')) throw err;
      }
    }
  }

  async type(css: string, text: string): Promise<void> {
    await this.onElement(css, (id) => this.cmd('POST', `/element/${id}/value`, { text }));
  }

  async click(css: string): Promise<void> {
    await this.onElement(css, (id) => this.cmd('POST', `/element/${id}/click`, {}));
  }

  async text(css: string): Promise<string> {
    return String(await this.onElement(css, (id) => this.cmd('GET', `/element/${id}/text`)));
  }

  /** run executes a script in the page (its body; `arguments` are the args) and returns its result. */
  async run<T>(script: string, ...args: unknown[]): Promise<T> {
    return (await this.cmd('POST', '/execute/sync', { script, args })) as T;
  }

  async cookies(): Promise<WdCookie[]> {
    return (await this.cmd('GET', '/cookie')) as WdCookie[];
  }

  async url(): Promise<string> {
    return String(await this.cmd('GET', '/url'));
  }

  /** waitFor polls a page script until it returns a truthy value (bounded); it returns that value. */
  async waitFor<T>(what: string, script: string, timeoutMs = 60_000, ...args: unknown[]): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      last = await this.run<T>(script, ...args);
      if (last) return last as T;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async close(): Promise<void> {
    await this.cmd('DELETE', '').catch(() => undefined);
    if (this.driver.exitCode === null) {
      const exited = new Promise<void>((r) => this.driver.once('exit', () => r()));
      this.driver.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    killGroup(this.driver); // a Chromium left behind by a failed DELETE (same process group)
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** killGroup ends the process group of a chromedriver this helper started (chromedriver and its Chromium). */
function killGroup(p: ChildProcess): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const j = (await r.json()) as { value?: unknown };
  if (!r.ok) {
    const v = j.value as { error?: string; message?: string } | undefined;
    throw new Error(`WebDriver ${method} ${path}: ${r.status} ${v?.error ?? ''} ${(v?.message ?? '').split('\n')[0] ?? ''}`);
  }
  return j.value;
}
