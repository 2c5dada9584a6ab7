/**
 * face.ts: the contract every protocol face (DHCP, mDNS, HTTP) implements for the daemon.
 */
import type { FaceBans } from './limits/banstore';

/** FaceHealth says whether a face serves now (the admin listener's /readyz), and if not, why. */
export interface FaceHealth {
  readonly ready: boolean;
  /** reason: why it does not serve (absent when ready). */
  readonly reason?: string | undefined;
}

/**
 * Face is one protocol face of the daemon. The daemon only ever talks to faces through this.
 * C is the configuration the face reads: a face types only the sections it needs, never the
 * composed configuration, and the daemon hands it the whole (structurally a superset).
 */
export interface Face<C = unknown> {
  readonly name: string;
  /** start binds sockets and begins serving; it rejects with a ProvError on failure. */
  start(): Promise<void>;
  /** reload applies a new, validated configuration atomically, or rejects and keeps the old one. */
  reload(config: C): Promise<void>;
  /** close stops serving and releases sockets; calling it twice is harmless. */
  close(): Promise<void>;
  /** stats returns the face's counters for logs and tests. */
  stats(): Record<string, number>;
  /**
   * fetchStats, for a face whose counters live in another thread, asks for them now (stats()
   * returns the last copy, which may lag). SIGUSR1 uses it.
   */
  fetchStats?(): Promise<Record<string, number>>;
  /**
   * health says whether the face serves now (listening sockets, a live thread, its interfaces'
   * addresses); a face without it counts as ready once started.
   */
  health?(): FaceHealth;
  /** banControl, for a face that bans (HTTP, TFTP), lists and lifts its live bans (`provisiond bans`). */
  banControl?(): FaceBans | undefined;
}
