/**
 * batch.ts: point lookups of a store gathered into batches, one query at a time (issue 16: a
 * burst of logins after a restart, more at once than a PostgreSQL pool lets wait, used to have
 * the lookups beyond `store.pool.maxWaiting` refused). The first lookup goes at once; those
 * arriving while its query runs wait and go together in the next one (at most `maxBatch` keys
 * each). At most `maxWaiting` lookups wait; beyond, one is refused at once with StoreBusyError
 * (counted by the caller like any store refusal). A failed query fails every lookup of its batch.
 */
import { StoreBusyError } from '../store/repository';

/** Waiter is one lookup waiting for its batch. */
interface Waiter<T> {
  readonly resolve: (v: T | undefined) => void;
  readonly reject: (err: unknown) => void;
}

/** LookupBatcher looks keys up with `fetch` (keys → found values; a key absent from the map was not found). */
export class LookupBatcher<T> {
  private readonly waiting = new Map<string, Waiter<T>[]>();
  private running = false;
  /** queries counts the batched queries sent (tests, counters). */
  queries = 0;

  constructor(
    private readonly fetch: (keys: readonly string[]) => Promise<ReadonlyMap<string, T>>,
    private readonly maxBatch: number,
    private readonly maxWaiting: number,
  ) {}

  /** lookup resolves with the value found for `key` (undefined: none) or rejects with the query's error. */
  lookup(key: string): Promise<T | undefined> {
    if (!this.waiting.has(key) && this.waiting.size >= this.maxWaiting) {
      return Promise.reject(new StoreBusyError(`${this.waiting.size} store lookups already wait for the next batch`));
    }
    return new Promise<T | undefined>((resolve, reject) => {
      const list = this.waiting.get(key);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(key, [{ resolve, reject }]);
      this.next();
    });
  }

  private next(): void {
    if (this.running || this.waiting.size === 0) return;
    const batch = new Map<string, Waiter<T>[]>();
    for (const [k, w] of this.waiting) {
      if (batch.size >= this.maxBatch) break;
      batch.set(k, w);
      this.waiting.delete(k);
    }
    this.running = true;
    this.queries++;
    void (async () => {
      let found: ReadonlyMap<string, T> | undefined;
      let failure: unknown;
      try {
        found = await this.fetch([...batch.keys()]);
      } catch (err) {
        failure = err;
      }
      this.running = false;
      for (const [k, ws] of batch) for (const w of ws) (found === undefined ? w.reject(failure) : w.resolve(found.get(k)));
      this.next();
    })();
  }
}
