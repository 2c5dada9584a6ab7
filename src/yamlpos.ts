/**
 * yamlpos.ts: where a problem sits in a YAML document, for the loaders that report problems with
 * a key path and `line:column` (the configuration file, vendor profiles). A missing value points
 * at its nearest present parent; an unknown key points at the key itself.
 */
import { isMap, isPair, isScalar, type Document, type LineCounter, type Node } from 'yaml';

/** PathKey is one step of a zod issue path. */
export type PathKey = PropertyKey;

/** Position is a 1-based line and column, when the document has one for the path. */
export interface Position {
  line?: number;
  col?: number;
}

/** dotted writes a path as `a.b[2].c`. */
export function dotted(path: readonly PathKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** valueAt reads the parsed value at `path` (undefined when the path does not exist). */
export function valueAt(data: unknown, path: readonly PathKey[]): unknown {
  let cur: unknown = data;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function linePos(lc: LineCounter, offset: number | undefined): Position {
  if (offset === undefined) return {};
  const p = lc.linePos(offset);
  return { line: p.line, col: p.col };
}

/** valuePosition is where the value at `path` starts; a missing key points at its parent. */
export function valuePosition(doc: Document, lc: LineCounter, path: readonly PathKey[]): Position {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true)) as Node | null | undefined;
    if (node && typeof node === 'object' && 'range' in node && node.range) return linePos(lc, node.range[0]);
  }
  return {};
}

/** keyPosition is where the key `key` of the map at `path` is written (else the map's position). */
export function keyPosition(doc: Document, lc: LineCounter, path: readonly PathKey[], key: string): Position {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);
  if (isMap(parent)) {
    for (const item of parent.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) return linePos(lc, item.key.range[0]);
    }
  }
  return valuePosition(doc, lc, path);
}
