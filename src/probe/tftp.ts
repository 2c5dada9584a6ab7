/**
 * tftp.ts: the probe's TFTP client (RFC 1350, octet mode, with RFC 2348 blksize and RFC 2349
 * tsize asked for), as a TFTP-first phone fetches its files: a RRQ to port 69, then lock-step
 * DATA/ACK with the server's transfer port (its TID). Packets are written and read with the TFTP
 * codec (src/tftp/codec.ts).
 *
 * Bounded and never blocking: every wait is a timer (1 s, 5 tries, then a failure), the file is
 * capped at MAX_FILE bytes, datagrams from another TID are answered with ERROR 5 and ignored
 * (RFC 1350 §4), a duplicate DATA is re-ACKed and never counted twice, and an OACK that holds an
 * option we did not ask for, or a blksize we did not offer, fails the transfer (RFC 2347).
 */
import { createSocket } from 'node:dgram';
import { decode, encodeAck, encodeError, encodeRequest, readOptions } from '../tftp/codec';

/** MAX_FILE bounds what the probe keeps of one file. */
export const MAX_FILE = 64 << 20;
/** BLKSIZE is what the probe asks for (the largest that avoids IP fragmentation on Ethernet, RFC 2348). */
export const BLKSIZE = 1468;
const TRY_MS = 1000;
const TRIES = 5;

/** TftpOutcome is one file's result. */
export type TftpOutcome =
  | { readonly ok: true; readonly data: Buffer; readonly blksize: number; readonly tsize: number | undefined; readonly retransmits: number }
  | { readonly ok: false; readonly notFound: boolean; readonly error: string };

/** tftpGet reads one file from a TFTP server; it never rejects. */
export function tftpGet(server: { address: string; port: number }, filename: string, opts: { readonly blksize?: number } = {}): Promise<TftpOutcome> {
  return new Promise((resolve) => {
    const sock = createSocket({ type: server.address.includes(':') ? 'udp6' : 'udp4' });
    const asked = opts.blksize ?? BLKSIZE;
    const rrq = encodeRequest('rrq', filename, 'octet', [
      { name: 'blksize', value: String(asked) },
      { name: 'tsize', value: '0' },
    ]);
    let tid: number | undefined;
    let blksize = 512;
    let tsize: number | undefined;
    let expected = 1; // the next DATA block number (mod 2^16)
    const chunks: Buffer[] = [];
    let size = 0;
    let last: Buffer = rrq;
    let tries = 0;
    let retransmits = 0;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (o: TftpOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(o);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries >= TRIES) return finish({ ok: false, notFound: false, error: `no answer from ${server.address}:${tid ?? server.port} after ${TRIES} tries of ${TRY_MS / 1000} s` });
        retransmits++;
        sock.send(last, tid ?? server.port, server.address);
        arm();
      }, TRY_MS);
    };
    const send = (b: Buffer): void => {
      last = b;
      tries = 0;
      sock.send(b, tid ?? server.port, server.address);
      arm();
    };
    sock.on('error', (err) => finish({ ok: false, notFound: false, error: `socket error: ${err.message}` }));
    sock.on('message', (msg, rinfo) => {
      if (done || rinfo.address !== server.address) return;
      if (tid === undefined) tid = rinfo.port;
      else if (rinfo.port !== tid) {
        sock.send(encodeError(5, 'Unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      const d = decode(msg);
      if (!d.ok) return finish({ ok: false, notFound: false, error: `a malformed packet from the server: ${d.error.detail}` });
      const p = d.packet;
      switch (p.op) {
        case 'error':
          return finish({ ok: false, notFound: p.code === 1, error: `TFTP error ${p.code}: ${p.message}` });
        case 'oack': {
          if (expected !== 1 || size > 0) return; // a late duplicate OACK
          const o = readOptions(p.options);
          if (o.unknown.length > 0 || o.timeout.kind !== 'absent' || o.windowsize.kind !== 'absent') return finish({ ok: false, notFound: false, error: `the OACK holds options we did not ask for (${p.options.map((x) => x.name).join(', ')}), which RFC 2347 forbids` });
          if (o.blksize.kind === 'bad' || (o.blksize.kind === 'ok' && o.blksize.value > asked)) return finish({ ok: false, notFound: false, error: `the OACK's blksize is not one we offered (${p.options.find((x) => x.name === 'blksize')?.value ?? ''})` });
          if (o.blksize.kind === 'ok') blksize = o.blksize.value;
          if (o.tsize.kind === 'ok') tsize = o.tsize.value;
          return send(encodeAck(0));
        }
        case 'data': {
          if (p.block !== expected) {
            // A duplicate of the block before: ACK it again (the server missed our ACK); never the Sorcerer's Apprentice.
            if (p.block === ((expected + 0xffff) & 0xffff)) sock.send(encodeAck(p.block), tid, server.address);
            return;
          }
          if (p.data.length > blksize) return finish({ ok: false, notFound: false, error: `a DATA block of ${p.data.length} bytes, over the blksize ${blksize}` });
          size += p.data.length;
          if (size > MAX_FILE) return finish({ ok: false, notFound: false, error: `the file is larger than ${MAX_FILE >> 20} MiB` });
          chunks.push(p.data);
          const ack = encodeAck(p.block);
          expected = (expected + 1) & 0xffff;
          if (p.data.length < blksize) {
            sock.send(ack, tid, server.address);
            const data = Buffer.concat(chunks);
            if (tsize !== undefined && tsize !== data.length) return finish({ ok: false, notFound: false, error: `the OACK's tsize was ${tsize}, ${data.length} bytes came` });
            return finish({ ok: true, data, blksize, tsize, retransmits });
          }
          return send(ack);
        }
        default:
          return finish({ ok: false, notFound: false, error: `an unexpected ${p.op.toUpperCase()} from the server` });
      }
    });
    sock.bind(0, () => send(rrq));
  });
}
