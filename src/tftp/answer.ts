/**
 * answer.ts: the main thread's answer to a TFTP request the engine asked about: the same
 * pipeline as the HTTP face's phone routes (src/phones/request.ts: rate limit, bans, tenant by
 * key, identification by file name and source address, device caps, templates, event lines,
 * sighting), mapped to what TFTP can say:
 *
 * | phone pipeline | TFTP |
 * |---|---|
 * | 200, a rendered file | DATA from memory (`data`) |
 * | 404 that is no rendered file, a static file of the vendor's `files/` | streamed by the thread (`static`) |
 * | any other 404 (unknown device or tenant, bad key, …) | ERROR 1 File not found |
 * | 429 (rate limit, ban, attempts in flight), 503 (store busy) | ERROR 0 with the reason |
 * | 500 (render error) | ERROR 0 "internal error" |
 *
 * There is no User-Agent over TFTP: identification goes by the file name and the source
 * address, as for an HTTP request without one.
 */
import { servePhoneRequest, STATIC_FALLBACK, type PhoneRoom } from '../phones/request';
import { baseUrlFor } from '../phones/service';
import { lookupStatic } from '../phones/static';
import { ErrorCode } from './codec';
import type { FileAsk, FileAnswer } from './engine';
import type { PhonesConfig } from '../phones/config';

/** AnswerPlace is what the base URL of a rendered file is made of when phones.baseUrl is unset: the HTTP face's port and scheme. */
export interface AnswerPlace {
  readonly phones: Pick<PhonesConfig, 'baseUrl'>;
  readonly httpPort: number;
  readonly httpTls: boolean;
}

/** AnswerNote is what the face logs and counts about an answer (outcome as the HTTP face names it). */
export interface AnswerNote {
  readonly outcome: string;
  readonly tenant?: string | undefined;
  readonly device?: string | undefined;
  readonly notRecorded?: string | undefined;
  readonly problem?: string | undefined;
}

const notFound = (reason: string): FileAnswer => ({ kind: 'error', code: ErrorCode.FileNotFound, message: 'File not found', reason });

/**
 * answerAsk answers one request. The base URL a rendered file carries is the one the HTTP face
 * puts in the same file fetched at the same address (phones.baseUrl, else http(s)://<the
 * address the TFTP request reached>:<http.port>/), so both faces serve the same bytes.
 */
export async function answerAsk(room: PhoneRoom, place: AnswerPlace, ask: FileAsk): Promise<{ readonly answer: FileAnswer; readonly note: AnswerNote }> {
  const baseUrl = baseUrlFor(place.phones, { tls: place.httpTls, address: ask.local, port: place.httpPort });
  const r = await servePhoneRequest(room, { key: ask.key, file: ask.file, ip: ask.ip, baseUrl });
  switch (r.kind) {
    case 'limited':
      return { answer: { kind: 'error', code: ErrorCode.NotDefined, message: r.outcome === 'banned' ? 'too many failed attempts; retry later' : 'too many requests; retry later', reason: r.outcome }, note: { outcome: r.outcome } };
    case 'busy':
      return { answer: { kind: 'error', code: ErrorCode.NotDefined, message: 'busy; retry shortly', reason: 'store-busy' }, note: { outcome: 'store-busy' } };
    case 'refused':
      return { answer: notFound(r.outcome), note: { outcome: r.outcome } };
    case 'own':
      return { answer: notFound('unknown'), note: { outcome: 'unknown' } };
    case 'answer': {
      const a = r.answer;
      const note = { outcome: a.outcome, tenant: r.tenant, device: a.observe?.mac, notRecorded: r.notRecorded, problem: a.problem };
      if (a.status === 200) return { answer: { kind: 'data', body: a.body }, note };
      if (a.status === 404 && STATIC_FALLBACK.has(a.outcome)) {
        const st = lookupStatic(ask.file, room.service.staticDirs(a.vendor));
        if (st !== undefined && 'path' in st) return { answer: { kind: 'static', path: st.path }, note: { ...note, outcome: 'static' } };
      }
      if (a.status === 404) return { answer: notFound(a.outcome), note };
      return { answer: { kind: 'error', code: ErrorCode.NotDefined, message: 'internal error', reason: a.outcome }, note };
    }
  }
}
