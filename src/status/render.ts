/**
 * render.ts: the status page's HTML (issue 17, item 6): pure functions from a snapshot to text.
 *
 * Everything that comes from outside (device hostnames, user names, reasons, ban subjects, the
 * search box) goes through `esc` (text and double-quoted attribute values alike), so a hostname
 * `<script>` shows as text. The inline style and script carry the response's CSP nonce; the page
 * loads nothing from anywhere (no CDN, no font, no image). The plot is an inline SVG drawn here,
 * with a <table> of the same numbers for screen readers.
 */
import type { Failure, MinuteCounts } from './activity-log';
import type { Grant } from './sessions';

/** esc makes text safe in HTML text and in double- or single-quoted attribute values. */
export function esc(s: string | number | null | undefined): string {
  if (s === null || s === undefined) return '';
  return String(s).replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** when formats a time (ms or ISO) as `YYYY-MM-DD HH:MM:SS` UTC; '' when absent or invalid. */
export function when(t: number | string | null | undefined): string {
  if (t === null || t === undefined) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().slice(0, 19).replace('T', ' ');
}

/** hhmm formats a minute as `HH:MM` UTC. */
function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/** DeviceRow is one inventory row as the page shows it. */
export interface DeviceRow {
  readonly key: string;
  readonly tenant: string;
  readonly username: string | null;
  readonly hostname: string | null;
  readonly osname: string | null;
  readonly ip: string;
  readonly lastSeen: string;
  readonly lastOutcome: string;
  readonly requests: number;
  readonly failures: number;
}

/** BanRow is one live ban with the face that holds it. */
export interface BanRow {
  readonly face: string;
  readonly scope: 'ip' | 'user';
  readonly subject: string;
  readonly since: number;
  readonly until: number;
  readonly reason: string;
}

/** Part is a section's data, or why it is unavailable (a busy store, a face's error). */
export type Part<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Snapshot is everything the live part of the page shows. */
export interface Snapshot {
  readonly grant: Grant;
  readonly csrf: string;
  readonly minutes: readonly MinuteCounts[];
  readonly failures: readonly Failure[];
  readonly faces: Part<readonly { readonly name: string; readonly state: string }[]>;
  readonly bans: Part<readonly BanRow[]>;
  readonly devices: Part<{ readonly rows: readonly DeviceRow[]; readonly total: number; readonly page: number; readonly pages: number }>;
  readonly q: string;
}

/** MAX_SERIES: the plot draws this many (face, outcome) series; the rest are summed as `other`. */
export const MAX_SERIES = 8;

const PALETTE = ['#1b6ac9', '#2e8540', '#d83933', '#e5a000', '#8e44ad', '#00838f', '#6d4c41', '#c2185b', '#555555'];

interface Series {
  readonly label: string;
  readonly ok: boolean;
  readonly values: number[];
}

/** seriesOf turns the window into at most MAX_SERIES + 1 series (largest first, then `other`). */
export function seriesOf(minutes: readonly MinuteCounts[]): Series[] {
  const byLabel = new Map<string, { ok: boolean; values: number[]; total: number }>();
  minutes.forEach((m, i) => {
    for (const c of m.counts) {
      const label = `${c.face} ${c.outcome}`;
      let s = byLabel.get(label);
      if (s === undefined) {
        s = { ok: c.ok, values: new Array<number>(minutes.length).fill(0), total: 0 };
        byLabel.set(label, s);
      }
      s.values[i] = (s.values[i] ?? 0) + c.count;
      s.total += c.count;
    }
  });
  const sorted = [...byLabel.entries()].sort((a, b) => b[1].total - a[1].total || a[0].localeCompare(b[0]));
  const out: Series[] = sorted.slice(0, MAX_SERIES).map(([label, s]) => ({ label, ok: s.ok, values: s.values }));
  const rest = sorted.slice(MAX_SERIES);
  if (rest.length > 0) {
    const values = new Array<number>(minutes.length).fill(0);
    for (const [, s] of rest) s.values.forEach((v, i) => (values[i] = (values[i] ?? 0) + v));
    out.push({ label: 'other', ok: false, values });
  }
  return out;
}

const W = 720;
const H = 200;
const PAD_L = 40;
const PAD_R = 10;
const PAD_T = 10;
const PAD_B = 24;

/** plot draws the series as polylines in an inline SVG (no script, no external resource). */
function plot(minutes: readonly MinuteCounts[], series: readonly Series[]): string {
  const n = Math.max(2, minutes.length);
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i: number): number => PAD_L + (i * (W - PAD_L - PAD_R)) / (n - 1);
  const y = (v: number): number => H - PAD_B - (v * (H - PAD_T - PAD_B)) / max;
  const f = (v: number): string => v.toFixed(1);
  const lines = series
    .map((s, k) => {
      const pts = s.values.map((v, i) => `${f(x(i))},${f(y(v))}`).join(' ');
      return `<polyline fill="none" stroke="${PALETTE[k % PALETTE.length] ?? '#000'}" stroke-width="2" points="${pts}"><title>${esc(s.label)}</title></polyline>`;
    })
    .join('');
  const first = minutes[0];
  const last = minutes[minutes.length - 1];
  return (
    `<svg id="plot" role="img" aria-labelledby="plot-title" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">` +
    `<title id="plot-title">Requests per minute by face and outcome, last ${minutes.length} minutes (peak ${max})</title>` +
    `<line x1="${PAD_L}" y1="${H - PAD_B}" x2="${W - PAD_R}" y2="${H - PAD_B}" stroke="#888"/>` +
    `<line x1="${PAD_L}" y1="${PAD_T}" x2="${PAD_L}" y2="${H - PAD_B}" stroke="#888"/>` +
    `<text x="${PAD_L - 4}" y="${PAD_T + 8}" text-anchor="end" font-size="11">${max}</text>` +
    `<text x="${PAD_L - 4}" y="${H - PAD_B}" text-anchor="end" font-size="11">0</text>` +
    (first ? `<text x="${PAD_L}" y="${H - 6}" font-size="11">${hhmm(first.minute)}</text>` : '') +
    (last ? `<text x="${W - PAD_R}" y="${H - 6}" text-anchor="end" font-size="11">${hhmm(last.minute)} UTC</text>` : '') +
    lines +
    `</svg>`
  );
}

function legend(series: readonly Series[]): string {
  if (series.length === 0) return '<p class="muted">No requests answered in the last hour.</p>';
  return `<ul class="legend">${series
    .map((s, k) => `<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${PALETTE[k % PALETTE.length] ?? '#000'}"/></svg> ${esc(s.label)}${s.ok ? '' : ' <span class="bad">(failed)</span>'}</li>`)
    .join('')}</ul>`;
}

/** minuteTable is the plot's numbers: one row per minute with any request (newest first), one column per series. */
function minuteTable(minutes: readonly MinuteCounts[], series: readonly Series[]): string {
  const head = `<tr><th scope="col">Minute (UTC)</th>${series.map((s) => `<th scope="col">${esc(s.label)}</th>`).join('')}<th scope="col">Total</th></tr>`;
  const rows: string[] = [];
  for (let i = minutes.length - 1; i >= 0; i--) {
    const m = minutes[i];
    if (m === undefined) continue;
    const total = series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0);
    if (total === 0) continue;
    rows.push(
      `<tr data-minute="${m.minute}"><th scope="row"><time datetime="${new Date(m.minute).toISOString()}">${hhmm(m.minute)}</time></th>` +
        series.map((s) => `<td data-series="${esc(s.label)}">${s.values[i] ?? 0}</td>`).join('') +
        `<td data-series="total">${total}</td></tr>`,
    );
  }
  if (rows.length === 0) rows.push(`<tr><td colspan="${series.length + 2}">No requests answered in the last hour.</td></tr>`);
  return `<details id="minutes-details"><summary>The plot's numbers, per minute</summary><table id="minutes"><caption>Requests per minute by face and outcome (the plot's numbers)</caption><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></details>`;
}

function unavailable(what: string, error: string): string {
  return `<p class="bad">${esc(what)} unavailable: ${esc(error)}</p>`;
}

function facesSection(s: Snapshot): string {
  const body = !s.faces.ok
    ? unavailable('Face states', s.faces.error)
    : `<table id="faces-table"><thead><tr><th scope="col">Face</th><th scope="col">State</th></tr></thead><tbody>${s.faces.value
        .map((f) => `<tr data-face="${esc(f.name)}"><td>${esc(f.name)}</td><td class="state-${esc(f.state.replace(/[^a-z-]/gi, ''))}">${esc(f.state)}</td></tr>`)
        .join('')}</tbody></table>`;
  return `<section id="faces"><h2>Faces</h2>${body}</section>`;
}

function failuresSection(s: Snapshot): string {
  const rows = s.failures
    .map(
      (f) =>
        `<tr><td>${esc(when(f.at))}</td><td>${esc(f.face)}</td><td>${esc(f.outcome)}${f.status === undefined ? '' : ` (${f.status})`}</td><td>${esc(f.reason)}</td><td>${esc(f.tenant)}</td><td>${esc(f.user)}</td><td>${esc(f.device)}</td><td>${esc(f.ip)}</td></tr>`,
    )
    .join('');
  return (
    `<section id="failures"><h2>Latest failures</h2>` +
    (rows === ''
      ? '<p class="muted">No failure recorded.</p>'
      : `<table id="failures-table"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Face</th><th scope="col">Outcome</th><th scope="col">Reason</th><th scope="col">Tenant</th><th scope="col">User</th><th scope="col">Device</th><th scope="col">Address</th></tr></thead><tbody>${rows}</tbody></table>`) +
    `</section>`
  );
}

function bansSection(s: Snapshot): string {
  const canLift = s.grant.scopes.includes('write');
  let body: string;
  if (!s.bans.ok) body = unavailable('Bans', s.bans.error);
  else if (s.bans.value.length === 0) body = '<p class="muted">No active ban.</p>';
  else {
    const rows = s.bans.value
      .map((b) => {
        const lift = canLift
          ? `<form method="post" action="/ui/bans/lift"><input type="hidden" name="csrf" value="${esc(s.csrf)}"><input type="hidden" name="face" value="${esc(b.face)}"><input type="hidden" name="scope" value="${esc(b.scope)}"><input type="hidden" name="subject" value="${esc(b.subject)}"><button type="submit" class="lift">Lift</button></form>`
          : '<span class="muted">read-only token</span>';
        return `<tr data-ban="${esc(`${b.face} ${b.scope} ${b.subject}`)}"><td>${esc(b.face)}</td><td>${esc(b.scope)}</td><td>${esc(b.subject)}</td><td>${esc(b.reason)}</td><td>${esc(when(b.since))}</td><td>${esc(when(b.until))}</td><td>${lift}</td></tr>`;
      })
      .join('');
    body = `<table id="bans-table"><thead><tr><th scope="col">Face</th><th scope="col">Scope</th><th scope="col">Subject</th><th scope="col">Reason</th><th scope="col">Since (UTC)</th><th scope="col">Until (UTC)</th><th scope="col"></th></tr></thead><tbody>${rows}</tbody></table>`;
  }
  return `<section id="bans"><h2>Active bans</h2>${body}</section>`;
}

function pageLink(q: string, page: number, label: string): string {
  const params = new URLSearchParams();
  if (q !== '') params.set('q', q);
  params.set('page', String(page));
  return `<a href="/?${esc(params.toString())}">${esc(label)}</a>`;
}

function devicesSection(s: Snapshot): string {
  let body: string;
  if (!s.devices.ok) body = unavailable('The inventory', s.devices.error);
  else {
    const d = s.devices.value;
    const rows = d.rows
      .map(
        (r) =>
          `<tr data-key="${esc(r.key)}"><td>${esc(r.key)}</td><td>${esc(r.tenant)}</td><td>${esc(r.username)}</td><td class="hostname">${esc(r.hostname)}</td><td>${esc(r.osname)}</td><td>${esc(r.ip)}</td><td>${esc(when(r.lastSeen))}</td><td>${esc(r.lastOutcome)}</td><td>${r.requests}</td><td>${r.failures}</td></tr>`,
      )
      .join('');
    const nav = [d.page > 1 ? pageLink(s.q, d.page - 1, '« previous') : '', d.page < d.pages ? pageLink(s.q, d.page + 1, 'next »') : ''].filter((x) => x !== '').join(' ');
    body =
      `<p id="devices-count">${d.total} device${d.total === 1 ? '' : 's'}${s.q === '' ? '' : ` matching “${esc(s.q)}”`}; page ${d.page} of ${d.pages}. ${nav}</p>` +
      (rows === ''
        ? ''
        : `<table id="devices-table"><thead><tr><th scope="col">Device</th><th scope="col">Tenant</th><th scope="col">User</th><th scope="col">Hostname</th><th scope="col">OS</th><th scope="col">Address</th><th scope="col">Last seen (UTC)</th><th scope="col">Last outcome</th><th scope="col">Requests</th><th scope="col">Failures</th></tr></thead><tbody>${rows}</tbody></table>`);
  }
  return `<section id="devices"><h2>Device inventory</h2>${body}</section>`;
}

/** live is the part of the page the auto-refresh replaces. */
export function live(s: Snapshot): string {
  const series = seriesOf(s.minutes);
  return (
    facesSection(s) +
    `<section id="activity"><h2>Requests per minute, last hour</h2>${plot(s.minutes, series)}${legend(series)}${minuteTable(s.minutes, series)}</section>` +
    failuresSection(s) +
    bansSection(s) +
    devicesSection(s)
  );
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{display:flex;gap:1em;align-items:center;justify-content:space-between;padding:.5em 1em;background:#223;color:#fff}
header h1{font-size:1.2em;margin:0}header form{margin:0}
main{padding:0 1em 2em;max-width:1200px}
section{margin-top:1.5em}h2{font-size:1.05em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
caption{text-align:left;font-style:italic;color:#555}
.muted{color:#666}.bad{color:#b00}.msg{background:#eef6ee;border:1px solid #9c9;padding:.4em}.err{background:#fdeeee;border:1px solid #d99;padding:.4em}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}
.state-listening{color:#2e8540}.state-stopped,.state-failed{color:#b00}
#login{max-width:28em;margin:3em auto;background:#fff;border:1px solid #ccc;padding:1em 2em}
#login input[type=password]{width:100%}`;

/** Frame is what every page has: the CSP nonce and the refresh period (ms; 0: none). */
export interface Frame {
  readonly nonce: string;
}

function doc(frame: Frame, title: string, body: string, script = ''): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="referrer" content="same-origin"><title>${esc(title)}</title><style nonce="${esc(frame.nonce)}">${CSS}</style></head>` +
    `<body>${body}${script === '' ? '' : `<script nonce="${esc(frame.nonce)}">${script}</script>`}</body></html>`
  );
}

/** loginPage is the login form; `error` is shown above it (a refused token), never any data. */
export function loginPage(frame: Frame, csrf: string, error?: string): string {
  return doc(
    frame,
    'provisiond: sign in',
    `<main><form id="login" method="post" action="/ui/login"><h1>provisiond status</h1>` +
      (error === undefined ? '' : `<p id="login-error" class="err" role="alert">${esc(error)}</p>`) +
      `<input type="hidden" name="csrf" value="${esc(csrf)}">` +
      `<p><label for="token">API token</label><br><input type="password" id="token" name="token" autocomplete="off" required maxlength="512" autofocus></p>` +
      `<p><button type="submit" id="sign-in">Sign in</button></p>` +
      `<p class="muted">A token made with <code>provisiond token create</code> (read scope; write scope to lift bans).</p></form></main>`,
  );
}

/** MESSAGES are the notices a redirect may ask for (`?m=`): fixed texts, nothing echoed. */
export const MESSAGES: Readonly<Record<string, { readonly text: string; readonly bad: boolean }>> = {
  lifted: { text: 'Ban lifted.', bad: false },
  'not-found': { text: 'No such ban (it may have ended already).', bad: true },
};

/**
 * refreshScript replaces #live with /ui/live every `ms`, unless one of its buttons (Lift) has the
 * focus (a keyboard user about to press it) or the pointer (a mouse user about to click it), and
 * only when the answer differs from the last one applied (an idle dashboard's DOM is left alone);
 * the minute table's <details> stays as it was; on 401 it goes to / (the login form).
 */
function refreshScript(ms: number): string {
  return `(function(){var live=document.getElementById('live');if(!live)return;var busy=false,last=null;
setInterval(function(){var a=document.activeElement;if(busy||(a&&a.tagName==='BUTTON'&&live.contains(a))||live.querySelector('button:hover'))return;busy=true;
fetch('/ui/live'+location.search,{credentials:'same-origin',cache:'no-store'}).then(function(r){if(r.status===401){location.assign('/');return null;}return r.ok?r.text():null;})
.then(function(t){if(typeof t!=='string'||t===last)return;last=t;var d=document.getElementById('minutes-details'),open=!!(d&&d.open);live.innerHTML=t;d=document.getElementById('minutes-details');if(d)d.open=open;}).catch(function(){}).then(function(){busy=false;});},${Math.max(500, Math.floor(ms))});})();`;
}

/** dashboard is the signed-in page. */
export function dashboard(frame: Frame, s: Snapshot, opts: { readonly refreshMs: number; readonly message?: string | undefined }): string {
  const who = `${s.grant.tenant === null ? 'all tenants' : `tenant ${s.grant.tenant}`} (${s.grant.scopes.join(', ')})`;
  const msg = opts.message === undefined ? undefined : MESSAGES[opts.message];
  return doc(
    frame,
    'provisiond status',
    `<header><h1>provisiond status</h1><span id="who">Signed in: ${esc(who)}</span>` +
      `<form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="${esc(s.csrf)}"><button type="submit" id="logout">Log out</button></form></header>` +
      `<main>${msg === undefined ? '' : `<p id="message" class="${msg.bad ? 'err' : 'msg'}" role="status">${esc(msg.text)}</p>`}` +
      `<form id="search" method="get" action="/"><label for="q">Search devices</label> <input type="search" id="q" name="q" value="${esc(s.q)}" maxlength="200"> <button type="submit">Search</button></form>` +
      `<p class="muted">Updated every ${Math.round(opts.refreshMs / 1000)} s.</p>` +
      `<div id="live">${live(s)}</div></main>`,
    opts.refreshMs > 0 ? refreshScript(opts.refreshMs) : '',
  );
}
