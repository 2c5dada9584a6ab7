/**
 * activity.ts: what the faces answered, for the watchers in this process (the Prometheus metrics
 * and the status page, issue 17). A face calls `activity.emit()` once per answered request; a
 * watcher subscribes with `activity.on()`. Nothing here keeps history: each watcher keeps its own
 * bounded view. An emit with no watcher costs one size check; a watcher that throws is counted
 * and never reaches the face.
 *
 * Records carry no secret (never a password, key or URL query) and no per-device label goes to
 * metrics: a watcher that exports labels picks the bounded fields (face, outcome, status, vendor).
 */

/** ActivityFace names the face that answered. */
export type ActivityFace = 'http' | 'phones' | 'dhcp' | 'mdns' | 'sip' | 'tftp';

/** Activity is one answered request. */
export interface Activity {
  readonly face: ActivityFace;
  /** outcome: the face's outcome word (`provisioned`, `bad-credentials`, `banned`, `inform`, …). */
  readonly outcome: string;
  /** ok: the client got what it came for (a document, a file, an answer). */
  readonly ok: boolean;
  /** status: the HTTP status, where there is one. */
  readonly status?: number | undefined;
  /** at: when it was answered (Date.now() time). */
  readonly at: number;
  /** ms: how long the answer took, where measured. */
  readonly ms?: number | undefined;
  /** renderMs: how long rendering the document took, where one was rendered (not taken from a cache). */
  readonly renderMs?: number | undefined;
  readonly ip?: string | undefined;
  readonly tenant?: string | undefined;
  /** user: name@domain, never a password. */
  readonly user?: string | undefined;
  /** device: the device key (`uuid:…`, `mac:…`). */
  readonly device?: string | undefined;
  /** vendor / profile: a phone's, where identified. */
  readonly vendor?: string | undefined;
  /** reason: why a refusal or a failure happened, in words. */
  readonly reason?: string | undefined;
}

/** ActivityWatcher receives every emitted record. */
export type ActivityWatcher = (a: Activity) => void;

/** ActivityBus fans answered requests out to this process's watchers. */
export class ActivityBus {
  private readonly watchers = new Set<ActivityWatcher>();
  private failed = 0;

  /** on adds a watcher; the returned function removes it. */
  on(w: ActivityWatcher): () => void {
    this.watchers.add(w);
    return () => {
      this.watchers.delete(w);
    };
  }

  /** watched: whether anyone listens (a face may skip building a record when not). */
  get watched(): boolean {
    return this.watchers.size > 0;
  }

  /** emit hands one record to every watcher; a throwing watcher is counted, never propagated. */
  emit(a: Activity): void {
    if (this.watchers.size === 0) return;
    for (const w of this.watchers) {
      try {
        w(a);
      } catch {
        this.failed++;
      }
    }
  }

  /** watcherErrors counts watcher exceptions swallowed by emit. */
  get watcherErrors(): number {
    return this.failed;
  }
}

/** activity is the process's bus. */
export const activity = new ActivityBus();
