/**
 * readonly.ts: DeepReadonly, the type every validated configuration section has, and deepFreeze,
 * which makes it true at run time. It lives here, beside errors.ts and log.ts, so that a face or a
 * domain can type its own section without importing the composed configuration.
 */

/** DeepReadonly makes a type immutable all the way down. */
export type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** deepFreeze freezes an object graph so no face can mutate the shared config. */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
