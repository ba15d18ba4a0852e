// The pieces of the simulated network: hosts, packets and the connection endpoints. MemoryNetwork (memory.ts)
// moves packets between endpoints; an endpoint buffers events until it has a handler and never calls its handler
// from inside write/end/destroy.
import type { Clock } from '../clock.ts';
import type { Connection, ConnectionHandler } from './transport.ts';

/** What an endpoint needs from the network that carries it. */
export interface PacketCarrier {
  readonly clock: Clock;
  readonly bufferBytes: number;
  transmit(from: MemoryConnection, packet: Packet): void;
}

export const FIRST_EPHEMERAL_PORT = 40_000;

export class HostState {
  down = false;
  /** Bumped by crash(): connections of an older incarnation are dead. */
  incarnation = 0;
  nextPort = FIRST_EPHEMERAL_PORT;
  readonly listeners = new Map<number, (connection: Connection) => void>();
  readonly connections = new Set<MemoryConnection>();
  constructor(readonly name: string) {}
}

export type PacketKind = 'data' | 'fin' | 'rst';

export class Packet {
  /** Position in its direction's stream, assigned when first sent; keeps held packets in order. */
  seq = -1;
  constructor(
    readonly kind: PacketKind,
    readonly bytes: Buffer | null,
  ) {}
}

export type InboxEvent = Buffer | { close: Error | undefined };

export class MemoryConnection implements Connection {
  peer!: MemoryConnection;
  handler: ConnectionHandler | null = null;
  closed = false;
  closeNotified = false;
  /** Bytes written and not yet delivered (including those held by a partition). */
  inFlight = 0;
  needDrain = false;
  /** When the last packet in this direction is due: later packets are never due before it (FIFO). */
  lastDeliveryAt = 0;
  /** Packets held back by a partition, in stream order. */
  held: Packet[] = [];
  nextSeq = 0;
  readonly inbox: InboxEvent[] = [];
  inboxScheduled = false;
  readonly hostIncarnation: number;

  constructor(
    readonly network: PacketCarrier,
    readonly host: HostState,
    readonly id: string,
    readonly localAddress: string,
    readonly remoteAddress: string,
  ) {
    this.hostIncarnation = host.incarnation;
    host.connections.add(this);
  }

  get writableLength(): number {
    return this.inFlight;
  }

  get alive(): boolean {
    return !this.host.down && this.host.incarnation === this.hostIncarnation;
  }

  setHandler(handler: ConnectionHandler): void {
    this.handler = handler;
    if (this.inbox.length > 0) this.scheduleInbox();
  }

  write(chunk: Buffer): boolean {
    if (this.closed || !this.alive) return false;
    const bytes = Buffer.from(chunk);
    this.inFlight += bytes.length;
    this.network.transmit(this, new Packet('data', bytes));
    if (this.inFlight > this.network.bufferBytes) this.needDrain = true;
    return !this.needDrain;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.alive) this.network.transmit(this, new Packet('fin', null));
  }

  destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    if (this.alive) this.network.transmit(this, new Packet('rst', null));
    this.emit({ close: error });
  }

  /**
   * From the network's own timers: straight to the handler when nothing is queued before it (saves a timer per
   * chunk); otherwise like emit.
   */
  deliver(event: InboxEvent): void {
    if (this.handler === null || this.inbox.length > 0 || this.closeNotified) {
      this.emit(event);
      return;
    }
    if (Buffer.isBuffer(event)) this.handler.onData(event);
    else {
      this.closeNotified = true;
      this.host.connections.delete(this);
      this.handler.onClose(event.close);
    }
  }

  /** Hands an event to the handler, or keeps it until there is one (delivered in order, from a timer). */
  emit(event: InboxEvent): void {
    if (this.closeNotified) return;
    if (!Buffer.isBuffer(event)) this.closeNotified = true;
    this.inbox.push(event);
    if (this.handler !== null) this.scheduleInbox();
  }

  private scheduleInbox(): void {
    if (this.inboxScheduled) return;
    this.inboxScheduled = true;
    this.network.clock.setTimeout(() => this.drainInbox(), 0);
  }

  private drainInbox(): void {
    this.inboxScheduled = false;
    while (this.inbox.length > 0) {
      // Re-read each time: a handler may hand the connection over (handshake -> link) in the middle.
      const handler = this.handler!;
      const event = this.inbox.shift()!;
      if (Buffer.isBuffer(event)) handler.onData(event);
      else {
        this.host.connections.delete(this);
        handler.onClose(event.close);
      }
    }
  }
}

export function netError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

