/**
 * json.ts: canonical JSON, the one sorted-keys form of a JSON-like value. Byte-stable renders
 * (src/templates/lookup.ts stableContext), cache keys (src/phones/cachekey.ts) and the store's
 * JSON columns (src/store/phones.ts) all depend on it, with one policy each for `undefined`:
 * `keep` (a template may test `is defined`), `skip` (JSON.stringify's own rule) or `refuse`.
 * Only plain objects (or null-prototype ones), arrays, strings, booleans, null and finite numbers
 * have a canonical form; anything else (NaN, a Date, a Map, a function) is refused with the
 * path that holds it: its text would depend on the clock, the locale or insertion order.
 */

/** UndefinedPolicy says what an `undefined` value becomes. */
export type UndefinedPolicy = 'keep' | 'skip' | 'refuse';

/** JsonShapeError names the path of a value with no canonical JSON form and why. */
export class JsonShapeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'JsonShapeError';
  }
}

/** canonicalValue copies a JSON-like value with every object's keys sorted; it throws JsonShapeError. */
export function canonicalValue(value: unknown, path: string, undef: UndefinedPolicy): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value === undefined) {
    if (undef === 'refuse') throw new JsonShapeError(path, 'undefined is not a JSON value');
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new JsonShapeError(path, `${String(value)} is not a finite number`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v: unknown, i) => canonicalValue(v, `${path}[${i}]`, undef));
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new JsonShapeError(path, 'a non-plain object is not a JSON value (its text would not be byte-stable)');
    const src = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(src).sort()) {
      const v = src[k];
      if (v === undefined && undef === 'skip') continue;
      out[k] = canonicalValue(v, `${path}.${k}`, undef);
    }
    return out;
  }
  throw new JsonShapeError(path, `a ${typeof value} is not a JSON value`);
}

/** canonicalJson is the canonical value's JSON text (an `undefined` key is left out unless refused). */
export function canonicalJson(value: unknown, path: string, undef: Exclude<UndefinedPolicy, 'keep'>): string {
  return JSON.stringify(canonicalValue(value, path, undef)) ?? 'null';
}
