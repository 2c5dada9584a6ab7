/**
 * readonly.ts: DeepReadonly, the type every validated configuration section has (sections are
 * frozen at run time too). It lives here, beside errors.ts and log.ts, so that a face or a
 * domain can type its own section without importing the composed configuration.
 */

/** DeepReadonly makes a type immutable all the way down. */
export type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
