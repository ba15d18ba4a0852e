import type { Clock } from '../clock.ts';
import { SeededRandom } from '../random.ts';
import { HostState, MemoryConnection, netError, Packet } from './memory-connection.ts';
import type { PacketCarrier } from './memory-connection.ts';
import type { Address, Connection, Listener, Transport } from './transport.ts';

/*
 * A simulated network of named hosts for deterministic tests and the cluster simulator. Connections behave like
 * TCP: reliable, ordered byte streams with latency. Every event is a timer on the injected Clock and every random
 * choice comes from one seeded PRNG, so with a FakeClock the same seed and the same calls give the same trace.
 *
 * Faults, all between hosts (a host is a node's machine):
 *   - latency and jitter per host pair (jitter never reorders a stream: each direction stays FIFO);
 *   - bandwidth (bytes per ms per direction), which with bufferBytes makes write() return false (backpressure);
 *   - loss per host pair: a lost chunk is retransmitted after retransmitMs, holding back what follows it, as TCP
 *     does ('retransmit'), or the connection is reset ('reset');
 *   - partitions between sets of hosts, and one-way cuts: bytes across the cut wait (TCP keeps retransmitting)
 *     and flow again on heal(), unless the connection was closed meanwhile; connects across a cut time out;
 *   - crash(host): its listeners vanish and its connections die; peers get a reset (process killed, the kernel
 *     answers) or nothing at all (silent: machine lost, they must notice by heartbeat). After restart(host), bytes
 *     reaching a connection of the old incarnation are answered with a reset.
 */

export type LossMode = 'retransmit' | 'reset';

export interface LinkConditions {
  readonly latencyMs: number;
  readonly jitterMs: number;
  /** Probability in [0, 1] that a chunk is lost. */
  readonly loss: number;
  readonly lossMode: LossMode;
}

export interface MemoryNetworkOptions {
  readonly clock: Clock;
  /** Default 1. */
  readonly seed?: number;
  /** Defaults for every host pair; see setLink. Default latency 1 ms, no jitter, no loss. */
  readonly latencyMs?: number;
  readonly jitterMs?: number;
  readonly loss?: number;
  readonly lossMode?: LossMode;
  /** Bytes per ms per direction. Default unlimited. */
  readonly bytesPerMs?: number;
  /** In-flight bytes per direction above which write() returns false (like a socket send buffer). Default 64 KiB. */
  readonly bufferBytes?: number;
  /** Extra delay of a lost chunk in 'retransmit' mode. Default 200 ms (Linux's minimum RTO). */
  readonly retransmitMs?: number;
  /** Keep a textual trace of every event in `trace`. Default true. */
  readonly trace?: boolean;
  /**
   * Called with a host's name just before bytes, a close or a new connection are handed to that host's code (a
   * simulator that attributes timers to the process running there sets its current process).
   */
  readonly onEnter?: (host: string) => void;
}


function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

function directedKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

export class MemoryNetwork implements PacketCarrier {
  readonly clock: Clock;
  /** The network's PRNG; nodes in the same simulation may share it for nonces and jitter. */
  readonly random: SeededRandom;
  readonly bufferBytes: number;
  readonly trace: string[] = [];
  /** Called with every chunk written, as sent: lets tests inspect wire bytes. */
  tap: ((from: string, to: string, bytes: Buffer) => void) | null = null;
  private readonly hosts = new Map<string, HostState>();
  private readonly defaults: LinkConditions;
  private readonly links = new Map<string, LinkConditions>();
  private readonly cuts = new Set<string>();
  /** Hosts whose process is stopped (SIGSTOP): nothing it sends leaves, nothing sent to it is read, until thaw. */
  private readonly frozen = new Set<string>();
  private readonly onEnter: ((host: string) => void) | undefined;
  private readonly bytesPerMs: number;
  private readonly retransmitMs: number;
  private readonly tracing: boolean;
  private nextConnectionId = 1;

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock;
    this.random = new SeededRandom(options.seed ?? 1);
    this.defaults = {
      latencyMs: options.latencyMs ?? 1,
      jitterMs: options.jitterMs ?? 0,
      loss: options.loss ?? 0,
      lossMode: options.lossMode ?? 'retransmit',
    };
    this.bytesPerMs = options.bytesPerMs ?? Infinity;
    this.bufferBytes = options.bufferBytes ?? 64 * 1024;
    this.retransmitMs = options.retransmitMs ?? 200;
    this.tracing = options.trace ?? true;
    this.onEnter = options.onEnter;
  }

  /** The Transport of one host (created on first use). */
  transport(host: string): Transport {
    const state = this.host(host);
    return {
      connect: (address, timeoutMs) => this.connect(state, address, timeoutMs),
      listen: (address, onConnection) => this.listen(state, address, onConnection),
    };
  }

  /** Conditions between two hosts, both directions. Unset fields keep their current value. */
  setLink(a: string, b: string, conditions: Partial<LinkConditions>): void {
    this.links.set(pairKey(a, b), { ...this.conditions(a, b), ...conditions });
    this.log(`link ${a}<>${b} ${JSON.stringify(this.links.get(pairKey(a, b)))}`);
  }

  /** No traffic between any host of `side` and any host of `other` (default: every other known host). */
  partition(side: readonly string[], other?: readonly string[]): void {
    const others = other ?? [...this.hosts.keys()].filter((h) => !side.includes(h));
    for (const a of side) {
      for (const b of others) {
        if (a === b) continue;
        this.cuts.add(directedKey(a, b));
        this.cuts.add(directedKey(b, a));
      }
    }
    this.log(`partition [${side.join(',')}] | [${others.join(',')}]`);
  }

  /**
   * One-way cut: bytes from `from` to `to` wait, the other direction flows (an asymmetric failure, e.g. a
   * one-sided firewall rule). Connects need both directions, so they time out.
   */
  cut(from: string, to: string): void {
    this.cuts.add(directedKey(from, to));
    this.log(`cut ${from} -> ${to}`);
  }

  /** Removes partitions and cuts (between `a` and `b` only, if given); held bytes flow again. */
  heal(a?: readonly string[], b?: readonly string[]): void {
    if (a === undefined) this.cuts.clear();
    else {
      for (const x of a) {
        for (const y of b ?? [...this.hosts.keys()]) {
          this.cuts.delete(directedKey(x, y));
          this.cuts.delete(directedKey(y, x));
        }
      }
    }
    this.log(a === undefined ? 'heal all' : `heal [${a.join(',')}] | [${(b ?? ['*']).join(',')}]`);
    for (const host of this.hosts.values()) {
      for (const connection of host.connections) this.release(connection);
    }
  }

  /**
   * The host's process is stopped (SIGSTOP): bytes to and from it wait, as if it were cut off from everyone, until
   * thaw(); heal() leaves it stopped. Connects to it time out (a simplification: a real kernel would complete the
   * handshake into the listen backlog).
   */
  freeze(host: string): void {
    this.frozen.add(host);
    this.log(`freeze ${host}`);
  }

  /** The host's process runs again (SIGCONT): what waited flows, in order. */
  thaw(host: string): void {
    if (!this.frozen.delete(host)) return;
    this.log(`thaw ${host}`);
    for (const state of this.hosts.values()) {
      for (const connection of state.connections) this.release(connection);
    }
  }

  /** Whether bytes from `from` currently reach `to`. */
  reachable(from: string, to: string): boolean {
    return from === to || (!this.cuts.has(directedKey(from, to)) && !this.frozen.has(from) && !this.frozen.has(to));
  }

  private connectable(a: string, b: string): boolean {
    return this.reachable(a, b) && this.reachable(b, a);
  }

  /**
   * The host dies: listeners gone, every connection closed on its side (its handlers see an error). Peers see a
   * reset after one latency, or with silent: true nothing (they must detect it by heartbeat).
   */
  crash(host: string, options?: { readonly silent?: boolean }): void {
    const state = this.host(host);
    const silent = options?.silent ?? false;
    this.log(`crash ${host}${silent ? ' silent' : ''}`);
    const connections = [...state.connections];
    if (!silent) for (const c of connections) if (!c.closed) this.transmit(c, new Packet('rst', null));
    state.down = true;
    state.incarnation++;
    state.listeners.clear();
    for (const c of connections) {
      c.closed = true;
      c.held = [];
      c.emit({ close: netError('ECRASHED', `host ${host} crashed`) });
    }
  }

  /** The host is back (with no listeners: the node restarting there listens again). */
  restart(host: string): void {
    this.host(host).down = false;
    this.log(`restart ${host}`);
  }

  // Internals used by MemoryConnection.

  transmit(from: MemoryConnection, packet: Packet): void {
    const to = from.peer;
    const size = packet.bytes?.length ?? 0;
    if (packet.seq < 0) {
      packet.seq = from.nextSeq++;
      if (packet.bytes !== null) this.tap?.(from.host.name, to.host.name, packet.bytes);
    }
    if (!this.reachable(from.host.name, to.host.name)) {
      this.hold(from, packet);
      return;
    }
    const c = this.conditions(from.host.name, to.host.name);
    let delay = c.latencyMs + (c.jitterMs > 0 ? this.random.float() * c.jitterMs : 0);
    if (packet.kind === 'data' && c.loss > 0 && this.random.float() < c.loss) {
      if (c.lossMode === 'reset') {
        this.log(`lose ${from.id} data ${size}: reset`);
        from.inFlight -= size;
        this.reset(from);
        return;
      }
      this.log(`lose ${from.id} data ${size}: retransmit`);
      delay += this.retransmitMs;
    }
    const now = this.clock.now();
    const sendTime = Number.isFinite(this.bytesPerMs) ? size / this.bytesPerMs : 0;
    const due = Math.max(now + delay, from.lastDeliveryAt) + sendTime;
    from.lastDeliveryAt = due;
    this.log(`send ${from.id} ${packet.kind} ${size} due ${due.toFixed(3)}`);
    this.clock.setTimeout(() => this.arrive(from, packet), due - now);
  }

  private arrive(from: MemoryConnection, packet: Packet): void {
    const to = from.peer;
    const size = packet.bytes?.length ?? 0;
    if (!this.reachable(from.host.name, to.host.name)) {
      // The cut happened while the bytes were on their way: they wait with the rest, in stream order.
      this.hold(from, packet);
      return;
    }
    if (packet.kind === 'data') {
      from.inFlight -= size;
      if (from.needDrain && from.inFlight <= this.bufferBytes / 2 && !from.closed) {
        from.needDrain = false;
        from.handler?.onDrain();
      }
    }
    if (!to.alive) {
      if (!to.host.down && packet.kind === 'data' && from.alive && !from.closed) {
        // A restarted host's kernel knows nothing of this connection and answers with a reset.
        this.log(`stale ${to.id}: reset`);
        from.closed = true;
        from.emit({ close: netError('ECONNRESET', `connection reset by ${to.host.name}`) });
      } else {
        this.log(`drop ${from.id} ${packet.kind} ${size} (host ${to.host.name} down)`);
      }
      return;
    }
    if (to.closeNotified) {
      this.log(`drop ${from.id} ${packet.kind} ${size} (closed)`);
      return;
    }
    this.log(`deliver ${from.id} ${packet.kind} ${size}`);
    this.onEnter?.(to.host.name);
    if (packet.kind === 'data') to.deliver(packet.bytes!);
    else if (packet.kind === 'fin') {
      // Orderly close completes for both ends when the FIN arrives (no half-open streams in this model).
      to.closed = true;
      to.deliver({ close: undefined });
      from.deliver({ close: undefined });
    } else {
      to.closed = true;
      to.deliver({ close: netError('ECONNRESET', `connection reset by ${from.host.name}`) });
    }
  }

  private hold(from: MemoryConnection, packet: Packet): void {
    const held = from.held;
    let i = held.length;
    while (i > 0 && held[i - 1]!.seq > packet.seq) i--;
    held.splice(i, 0, packet);
    this.log(`hold ${from.id} ${packet.kind} ${packet.bytes?.length ?? 0}`);
  }

  private reset(from: MemoryConnection): void {
    this.transmit(from, new Packet('rst', null));
    from.closed = true;
    from.emit({ close: netError('ECONNRESET', 'connection reset (simulated loss)') });
  }

  private release(connection: MemoryConnection): void {
    if (connection.held.length === 0 || !this.reachable(connection.host.name, connection.peer.host.name)) return;
    const held = connection.held;
    connection.held = [];
    for (const packet of held) this.transmit(connection, packet);
  }

  private connect(from: HostState, address: Address, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      if (from.down) {
        reject(netError('ENETDOWN', `host ${from.name} is down`));
        return;
      }
      const port = from.nextPort++;
      const target = this.hosts.get(address.host);
      const where = `${address.host}:${address.port}`;
      this.log(`connect ${from.name}:${port} -> ${where}`);
      const timeOut = (): void => {
        this.log(`connect ${from.name}:${port} -> ${where} timed out`);
        reject(netError('ETIMEDOUT', `connect to ${where} timed out after ${timeoutMs} ms`));
      };
      if (target === undefined || !this.connectable(from.name, target.name) || target.down) {
        this.clock.setTimeout(timeOut, timeoutMs);
        return;
      }
      const c = this.conditions(from.name, target.name);
      this.clock.setTimeout(() => {
        if (from.down) return reject(netError('ENETDOWN', `host ${from.name} is down`));
        if (!this.connectable(from.name, target.name) || target.down) {
          this.clock.setTimeout(timeOut, Math.max(0, timeoutMs - c.latencyMs));
          return;
        }
        const accept = target.listeners.get(address.port);
        if (accept === undefined) {
          this.clock.setTimeout(() => {
            this.log(`connect ${from.name}:${port} -> ${where} refused`);
            reject(netError('ECONNREFUSED', `connection to ${where} refused`));
          }, c.latencyMs);
          return;
        }
        const id = `#${this.nextConnectionId++}`;
        const client = new MemoryConnection(this, from, `${id}>`, `${from.name}:${port}`, where);
        const server = new MemoryConnection(this, target, `${id}<`, where, `${from.name}:${port}`);
        client.peer = server;
        server.peer = client;
        this.log(`accept ${id} ${from.name}:${port} -> ${where}`);
        this.clock.setTimeout(() => {
          if (!client.alive) return reject(netError('ENETDOWN', `host ${from.name} is down`));
          resolve(client);
        }, c.latencyMs);
        this.onEnter?.(target.name);
        accept(server);
      }, c.latencyMs);
    });
  }

  private listen(host: HostState, address: Address, onConnection: (connection: Connection) => void): Promise<Listener> {
    if (host.down) return Promise.reject(netError('ENETDOWN', `host ${host.name} is down`));
    const port = address.port === 0 ? host.nextPort++ : address.port;
    if (host.listeners.has(port)) return Promise.reject(netError('EADDRINUSE', `${host.name}:${port} is in use`));
    host.listeners.set(port, onConnection);
    this.log(`listen ${host.name}:${port}`);
    const incarnation = host.incarnation;
    return Promise.resolve({
      address: { host: host.name, port },
      close: async () => {
        if (host.incarnation === incarnation && host.listeners.get(port) === onConnection) host.listeners.delete(port);
      },
    });
  }

  private host(name: string): HostState {
    let state = this.hosts.get(name);
    if (state === undefined) {
      state = new HostState(name);
      this.hosts.set(name, state);
    }
    return state;
  }

  private conditions(a: string, b: string): LinkConditions {
    return this.links.get(pairKey(a, b)) ?? this.defaults;
  }

  private log(event: string): void {
    if (this.tracing) this.trace.push(`${this.clock.now().toFixed(3)} ${event}`);
  }
}
