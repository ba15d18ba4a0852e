// IP protocol 112 on one interface, through the raw-socket addon.
//
// One raw socket per interface (shared by the instances on it, demultiplexed by VRID in daemon.ts):
//  - SO_BINDTODEVICE: receive only what arrives on this interface and send out of it;
//  - IP_ADD_MEMBERSHIP 224.0.0.18 on the interface: without the membership the kernel drops the multicast
//    adverts before any raw socket sees them;
//  - IP_MULTICAST_LOOP 0: our own adverts do not come back (they are also filtered by source address);
//  - IP_HDRINCL: we write the IPv4 header (TTL 255, TOS 0xc0, source = unicast_src_ip or the interface's
//    primary address), as keepalived does; raw-socket has no bind(), so this is how the source is chosen.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as RawSocketModule from 'raw-socket';

const require = createRequire(import.meta.url);

// Linux <netinet/in.h> values raw-socket does not export.
const IPPROTO_IP = 0;
const SOL_SOCKET = 1;
const IP_HDRINCL = 3;
const SO_BINDTODEVICE = 25;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IP_DROP_MEMBERSHIP = 36;
const SO_RCVBUF = 8;
const RCVBUF_BYTES = 256 * 1024;

export interface Transport {
  send(packet: Buffer, dst: string): void;
}

export function ifIndex(ifname: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
}

/** struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; } */
function mreqn(group: string, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  group.split('.').forEach((p, i) => (b[i] = Number(p)));
  b.writeInt32LE(ifindex, 8); // host byte order: x86/arm little-endian Linux
  return b;
}

const NOOP = (): void => undefined;

export class VrrpSocket implements Transport {
  private readonly sock: RawSocketModule.Socket;
  private readonly groups = new Set<string>();
  private closed = false;
  private pending = 0;
  private drained: (() => void)[] = [];
  sendErrors = 0;

  constructor(
    readonly ifname: string,
    onPacket: (pkt: Buffer) => void,
    private readonly onError: (err: Error) => void,
  ) {
    const raw = require('raw-socket') as typeof RawSocketModule;
    this.sock = raw.createSocket({ protocol: 112, bufferSize: 4096 });
    this.sock.on('message', (buf) => onPacket(buf));
    this.sock.on('error', (e) => this.onError(e));
    const dev = Buffer.from(`${ifname}\0`);
    this.sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length);
    this.sock.setOption(IPPROTO_IP, IP_HDRINCL, 1);
    this.sock.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    this.sock.setOption(SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES);
    const m = mreqn('0.0.0.0', ifIndex(ifname));
    this.sock.setOption(IPPROTO_IP, IP_MULTICAST_IF, m, m.length);
  }

  /** Join a multicast group on this interface (idempotent; re-join after the interface comes back). */
  join(group: string, force = false): void {
    if (this.groups.has(group) && !force) return;
    const m = mreqn(group, ifIndex(this.ifname));
    if (force) {
      try {
        this.sock.setOption(IPPROTO_IP, IP_DROP_MEMBERSHIP, m, m.length);
      } catch {
        // not a member any more (interface went away): join below
      }
    }
    this.sock.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, m, m.length);
    this.groups.add(group);
  }

  /**
   * Send now: a synchronous sendto(2) on the non-blocking socket, so an advert leaves in the same turn as the
   * decision to send it (raw-socket's own send() queues until libuv's next poll phase, which on a busy machine
   * let a priority 0 advert trail the VIP removal issued right after it). Only when the kernel's send buffer is
   * full does it go through raw-socket's queue, which retries once the socket is writable.
   */
  send(packet: Buffer, dst: string): void {
    if (this.closed) return;
    if (this.pending === 0) {
      try {
        this.sock.wrap.send(packet, 0, packet.length, dst, NOOP);
        return;
      } catch (e) {
        // strerror text of EAGAIN / ENOBUFS (raw-socket throws strerror(errno)).
        if (!/temporarily unavailable|No buffer space/i.test((e as Error).message)) {
          this.sendErrors++;
          this.onError(e as Error);
          return;
        }
      }
    }
    this.queue(packet, dst);
  }

  private queue(packet: Buffer, dst: string): void {
    this.pending++;
    this.sock.send(packet, 0, packet.length, dst, (err) => {
      this.pending--;
      if (err !== null) {
        this.sendErrors++;
        this.onError(err);
      }
      if (this.pending === 0) for (const f of this.drained.splice(0)) f();
    });
  }

  /** Resolves once every queued advert has been handed to the kernel (the priority 0 advert on stop). */
  flush(timeoutMs = 1000): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.drained.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
