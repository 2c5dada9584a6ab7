/**
 * udp-client.ts (test helper): a UDP socket on loopback that collects the datagrams it
 * receives, for the DHCP face's tests; `next` waits for the next one (undefined after `ms`),
 * `drain` takes what arrived within `ms`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

/** UdpClient is a bound loopback socket with its reply queue. */
export interface UdpClient {
  readonly sock: Socket;
  readonly port: number;
  next(ms?: number): Promise<Buffer | undefined>;
  drain(ms: number): Promise<Buffer[]>;
}

/** udpClient binds a socket on 127.0.0.1 (a free port) that collects replies; `defaultMs` is next()'s wait. */
export async function udpClient(defaultMs = 1000): Promise<UdpClient> {
  const sock = createSocket('udp4');
  const queue: Buffer[] = [];
  let waiter: ((b: Buffer) => void) | undefined;
  sock.on('message', (m) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else queue.push(m);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const next = (ms = defaultMs): Promise<Buffer | undefined> =>
    queue.length > 0
      ? Promise.resolve(queue.shift())
      : new Promise((resolve) => {
          const t = setTimeout(() => {
            waiter = undefined;
            resolve(undefined);
          }, ms);
          waiter = (b) => {
            clearTimeout(t);
            resolve(b);
          };
        });
  const drain = async (ms: number): Promise<Buffer[]> => {
    await new Promise((r) => setTimeout(r, ms));
    return queue.splice(0);
  };
  return { sock, port: sock.address().port, next, drain };
}
