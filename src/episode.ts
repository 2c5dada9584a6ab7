/**
 * episode.ts: report a burst of one kind of event once. Under overload the same refusal can
 * happen thousands of times a second; one log line when it starts and one summary when it ends
 * keep the log readable, and keep a synchronous logger from becoming the bottleneck (the storm
 * bench once stalled the daemon on a full stdout pipe filled with per-request 429 lines).
 */

/** EpisodeSummary describes an episode that ended. */
export interface EpisodeSummary {
  /** events: how many happened, the first included. */
  readonly events: number;
  /** ms: from the first to the last. */
  readonly ms: number;
}

/** Episode tracks one kind of event; an episode ends after `quietMs` without one. */
export class Episode {
  private first = 0;
  private last = 0;
  private events = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly quietMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** active tells whether an episode is under way. */
  get active(): boolean {
    return this.events > 0;
  }

  /** hit records one event; true when it starts a new episode (log it). */
  hit(): boolean {
    const t = this.now();
    this.last = t;
    this.events++;
    if (this.events > 1) return false;
    this.first = t;
    return true;
  }

  /** flush ends the episode now (shutdown), returning its summary if one was under way. */
  flush(): EpisodeSummary | undefined {
    if (this.events === 0) return undefined;
    const s = { events: this.events, ms: Math.round(this.last - this.first) };
    this.events = 0;
    return s;
  }

  /** check ends the episode if it has been quiet for quietMs, returning its summary. */
  check(): EpisodeSummary | undefined {
    if (this.events === 0 || this.now() - this.last < this.quietMs) return undefined;
    return this.flush();
  }

  /**
   * watch checks every quietMs until the episode ends, then calls `onEnd` with its summary (for
   * a one-of-a-kind episode, right after the hit() that started it). The timer is unref'd: it
   * never keeps the process alive.
   */
  watch(onEnd: (ended: EpisodeSummary) => void): void {
    this.stop();
    const tick = (): void => {
      const ended = this.check();
      if (ended === undefined) {
        this.timer = setTimeout(tick, this.quietMs);
        this.timer.unref();
        return;
      }
      this.timer = undefined;
      onEnd(ended);
    };
    this.timer = setTimeout(tick, this.quietMs);
    this.timer.unref();
  }

  /** stop cancels watch() (closing): the summary of an episode under way is not reported. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
