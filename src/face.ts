/**
 * face.ts: the contract every protocol face (DHCP, mDNS, HTTP) implements for the daemon.
 */
import type { Config } from './config/schema';

/** Face is one protocol face of the daemon. The daemon only ever talks to faces through this. */
export interface Face {
  readonly name: string;
  /** start binds sockets and begins serving; it rejects with a ProvError on failure. */
  start(): Promise<void>;
  /** reload applies a new, validated configuration atomically, or rejects and keeps the old one. */
  reload(config: Config): Promise<void>;
  /** close stops serving and releases sockets; calling it twice is harmless. */
  close(): Promise<void>;
  /** stats returns the face's counters for logs and tests. */
  stats(): Record<string, number>;
}
