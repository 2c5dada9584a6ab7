/**
 * config.ts: the `tftp` section of the configuration (zod), with its defaults. src/config/schema.ts
 * mounts it; every key is documented in config/provisiond.example.yaml.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { listenPort, interfaceName, uniqueNames } from '../net/schema';
import { rateLimitSchema } from '../limits/config';
import { MIN_BLKSIZE, MAX_BLKSIZE } from './codec';
import { MAX_WINDOW } from './transfer';

/** tftpSchema is the `tftp` section. */
export const tftpSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** port: 69, the TFTP port (a privileged port: the systemd unit grants CAP_NET_BIND_SERVICE); 0 = a free port (tests). */
    port: listenPort.default(69),
    /** interfaces: [] = every non-loopback IPv4 interface (loopback when there is none), as dhcp.interfaces. */
    interfaces: z.array(interfaceName).superRefine(uniqueNames).default([]),
    /** maxTransfers: transfers running at once, all sources together; beyond, ERROR 0 "busy". */
    maxTransfers: z.number().int().min(1).max(10_000).default(256),
    /** maxTransfersPerSource: transfers running at once from one IP address; beyond, ERROR 0 "busy". */
    maxTransfersPerSource: z.number().int().min(1).max(10_000).default(8),
    /** maxBlockSize: the largest blksize agreed to (RFC 2348: 8-65464; 1468 avoids IP fragmentation on Ethernet). */
    maxBlockSize: z.number().int().min(MIN_BLKSIZE).max(MAX_BLKSIZE).default(MAX_BLKSIZE),
    /** maxWindowSize: the largest windowsize agreed to (RFC 7440). */
    maxWindowSize: z.number().int().min(1).max(MAX_WINDOW).default(64),
    /** retries: retransmissions without an ACK before a transfer is abandoned. */
    retries: z.number().int().min(1).max(20).default(5),
    /** rateLimit: read requests per source (refused with ERROR 0 beyond). */
    rateLimit: rateLimitSchema('TFTP read requests', 20, 60),
  })
  .prefault({});

/** TftpConfig is the validated `tftp` section. */
export type TftpConfig = DeepReadonly<z.output<typeof tftpSchema>>;
