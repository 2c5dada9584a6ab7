/**
 * immediate.ts: answer at once a multicast query whose every question this responder answers
 * with records it has verified unique. RFC 6762 §6: a responder that can answer every question
 * in the query, with answers whose name, type and class it has verified unique on the link,
 * should not impose the random 20–120 ms delay and should normally answer within 10 ms.
 * avahi-daemon does so.
 *
 * Why this exists: @homebridge/ciao 1.3.12 (`Responder.handleQuery`) delays every response to a
 * query with more than one question by a random 20–120 ms, and folds an otherwise immediate
 * unique answer into any shared answer it has pending on that link. The Jitsi client's JmDNS
 * asks "PTR _type" and then, 1 ms later, "SRV + TXT Provisioning URL._type" in one query, so
 * with ciao alone every resolve waited for the random PTR delay (BENCHMARKS.md, mDNS).
 *
 * What it does: it wraps the responder's `handleQuery` (ciao's MDNSServer calls it on the
 * responder object). A query takes the immediate path only when all of these hold, otherwise
 * ciao handles it unchanged:
 *  - it came from port 5353 (not a legacy unicast querier), is not a probe (no authority
 *    records), is not truncated and continues no truncated query, and asks no QU question;
 *  - no probe is running;
 *  - every question is answered, and no answer is a shared record (PTR stays delayed, so
 *    several responders of one service type still spread their answers).
 * The answers are computed by ciao itself (`answerQuestion`, which also applies known-answer
 * suppression), combined the way ciao combines them, and sent on the receiving interface.
 * A shared answer pending for another question is not pulled forward: it leaves on its own
 * timer, as it would have.
 *
 * ciao's internals are private API, so they are checked at run time: if a future ciao lacks one
 * of them, `installImmediateAnswers` returns false and ciao's own behaviour is kept (correct,
 * only slower). The package is pinned to an exact version for the same reason.
 */
import type { Responder } from '@homebridge/ciao';
import type { DNSPacket } from '@homebridge/ciao/lib/coder/DNSPacket';
import type { Question } from '@homebridge/ciao/lib/coder/Question';
import type { ResourceRecord } from '@homebridge/ciao/lib/coder/ResourceRecord';
import type { EndpointInfo } from '@homebridge/ciao/lib/MDNSServer';
import { QueryResponse } from '@homebridge/ciao/lib/responder/QueryResponse';

const MDNS_PORT = 5353;
const CLASS_IN = 1;
const CLASS_ANY = 255;
const TYPE_OPT = 41;

/** CiaoInternals is the part of ciao's Responder this module relies on (all private in its typings). */
interface CiaoInternals {
  handleQuery(packet: DNSPacket, endpoint: EndpointInfo): void;
  answerQuestion(question: Question, endpoint: EndpointInfo, knownAnswers: Map<string, ResourceRecord>): QueryResponse[];
  readonly server: { sendResponse(packet: DNSPacket, interfaceName: string): void };
  readonly truncatedQueries: Record<string, unknown>;
  readonly currentProber?: unknown;
  readonly ignoreUnicastResponseFlag?: boolean;
}

/** ImmediateStats counts what the wrapper did, for the face's counters. */
export interface ImmediateStats {
  /** immediate: queries answered at once by this module. */
  immediate: number;
  /** deferred: queries left to ciao (shared answers, unanswered questions, probes, QU, …). */
  deferred: number;
}

/** QueryView is what the decision needs to know about one received query. */
export interface QueryView {
  readonly fromPort: number;
  readonly truncated: boolean;
  readonly continuesTruncated: boolean;
  readonly authorities: number;
  readonly probing: boolean;
  /** questions: for each, whether it asks for a unicast response (QU) and its class. */
  readonly questions: readonly { readonly qu: boolean; readonly qclass: number }[];
}

/** eligible decides, before any answer is computed, whether a query may take the immediate path. */
export function eligible(q: QueryView): boolean {
  return (
    q.fromPort === MDNS_PORT &&
    !q.truncated &&
    !q.continuesTruncated &&
    q.authorities === 0 &&
    !q.probing &&
    q.questions.length > 0 &&
    q.questions.every((x) => !x.qu && (x.qclass === CLASS_IN || x.qclass === CLASS_ANY))
  );
}

/** AnswerView is what the decision needs to know about the answers to one question. */
export interface AnswerView {
  readonly answered: boolean;
  readonly shared: boolean;
}

/** allUnique decides, from the answers per question, whether they may all go out now. */
export function allUnique(perQuestion: readonly (readonly AnswerView[])[]): boolean {
  return perQuestion.length > 0 && perQuestion.every((rs) => rs.some((r) => r.answered) && rs.every((r) => !r.shared));
}

function internalsOf(responder: Responder): CiaoInternals | undefined {
  const r = responder as unknown as Partial<CiaoInternals>;
  const ok =
    typeof r.handleQuery === 'function' &&
    typeof r.answerQuestion === 'function' &&
    typeof r.server?.sendResponse === 'function' &&
    typeof r.truncatedQueries === 'object' &&
    r.truncatedQueries !== null &&
    typeof QueryResponse.combineResponses === 'function';
  return ok ? (r as CiaoInternals) : undefined;
}

function payloadSize(packet: DNSPacket): number | undefined {
  for (const rec of packet.additionals.values()) {
    if (rec.type === TYPE_OPT) return (rec as ResourceRecord & { udpPayloadSize?: number }).udpPayloadSize;
  }
  return undefined;
}

/**
 * installImmediateAnswers wraps the responder's query handling (once); false when ciao's
 * internals are not what this module expects (then nothing is changed).
 */
export function installImmediateAnswers(responder: Responder, stats: ImmediateStats): boolean {
  const r = internalsOf(responder);
  if (r === undefined) return false;
  const ciaoHandleQuery = r.handleQuery.bind(responder);
  const handleQuery = (packet: DNSPacket, endpoint: EndpointInfo): void => {
    const questions = [...packet.questions.values()];
    const view: QueryView = {
      fromPort: endpoint.port,
      truncated: packet.flags.truncation === true,
      continuesTruncated: `${endpoint.address}:${endpoint.port}:${endpoint.interface}` in r.truncatedQueries,
      authorities: packet.authorities.size,
      probing: r.currentProber !== undefined && r.currentProber !== null,
      questions: questions.map((q) => ({ qu: q.unicastResponseFlag && r.ignoreUnicastResponseFlag !== true, qclass: q.class })),
    };
    if (eligible(view)) {
      const answers = questions.map((q) => r.answerQuestion.call(responder, q, endpoint, packet.answers));
      if (allUnique(answers.map((rs) => rs.map((x) => ({ answered: x.hasAnswers(), shared: x.containsSharedAnswer() }))))) {
        const out = answers.flat().filter((x) => x.hasAnswers());
        QueryResponse.combineResponses(out, payloadSize(packet));
        for (const resp of out) r.server.sendResponse(resp.asPacket(), endpoint.interface);
        stats.immediate++;
        return;
      }
    }
    stats.deferred++;
    ciaoHandleQuery(packet, endpoint);
  };
  Object.defineProperty(responder, 'handleQuery', { value: handleQuery, configurable: true, writable: true });
  return true;
}
