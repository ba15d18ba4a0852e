import { establishLink } from './dial.ts';
import { Handshake, NONCE_BYTES, runHandshake } from './handshake.ts';
import { resolvePeerOptions } from './options.ts';
import type { LinkRegistry, PeerConfig, PeerOptions } from './options.ts';
import type { PeerLink } from './peer-link.ts';
import type { Address, Connection, Listener } from './transport/transport.ts';

/**
 * Unauthenticated connections held at once. A cluster has a handful of nodes, each opening one link; a flood of
 * half-finished handshakes (each holding a socket and a timer for up to HANDSHAKE_TIMEOUT_MS, a few KB) is bounded
 * here. Generous, because a newcomer over the cap pushes out the oldest idle one: the more are held, the longer a
 * real client that has just connected has to say HELLO before a stranger's new connections push it out.
 */
export const MAX_PENDING_HANDSHAKES = 512;
/** Unauthenticated connections held at once from one source address, so one source cannot take every place. */
export const MAX_PENDING_PER_SOURCE = 128;

/** A connection whose handshake is in progress. */
interface Pending {
  readonly connection: Connection;
  readonly handshake: Handshake;
  readonly source: string;
}

/**
 * Accepts peer links: listens on the distribution port, runs the acceptor side of the handshake on every
 * connection, and hands authenticated links to the handler. Used on its own, it keeps every link a peer opens;
 * PeerManager gives it a registry so that there is one link per node.
 */
export class PeerServer {
  readonly config: PeerConfig;
  private readonly registry: LinkRegistry | undefined;
  private listener: Listener | null = null;
  /** handshakes in progress, oldest first */
  private readonly handshaking = new Map<Connection, Pending>();
  private readonly perSource = new Map<string, number>();
  private readonly links = new Set<PeerLink>();
  private closed = false;

  constructor(options: PeerOptions | PeerConfig, registry?: LinkRegistry) {
    this.config = 'limits' in options ? options : resolvePeerOptions(options);
    this.registry = registry;
  }

  /** The bound address, once listening. */
  get address(): Address | null {
    return this.listener?.address ?? null;
  }

  async listen(address: Address): Promise<Address> {
    this.listener = await this.config.transport.listen(address, (connection) => this.accept(connection));
    return this.listener.address;
  }

  /** Stops listening and closes every link it accepted and every handshake in progress. */
  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = null;
    for (const connection of this.handshaking.keys()) connection.destroy();
    this.handshaking.clear();
    this.perSource.clear();
    for (const link of [...this.links]) link.close('node shutting down');
    this.links.clear();
    if (listener !== null) await listener.close();
  }

  private accept(connection: Connection): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    const source = sourceOf(connection.remoteAddress);
    // Over a cap, the new connection is let in and the oldest pending one goes: the oldest that has not even said
    // HELLO if there is one (an idle socket), else the oldest. A real peer or brokerctl says HELLO as soon as it
    // connects and finishes in a few round trips, so idle sockets held open by a stranger, however many, cannot keep
    // it out (refusing the newcomer instead would let 64 idle sockets lock brokerctl and every peer out).
    if ((this.perSource.get(source) ?? 0) >= MAX_PENDING_PER_SOURCE) this.evict(source);
    else if (this.handshaking.size >= MAX_PENDING_HANDSHAKES) this.evict(null);
    const config = this.config;
    const registry = this.registry;
    const handshake = new Handshake({
      role: 'acceptor',
      localNode: config.nodeName,
      localIncarnation: config.incarnation,
      cookie: config.cookie,
      nonce: config.random.bytes(NONCE_BYTES),
      ...(registry === undefined ? {} : { admit: (node: string, inc: number) => registry.admit(node, inc) }),
    });
    this.handshaking.set(connection, { connection, handshake, source });
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    const tracking: LinkRegistry = {
      admit: (node, inc) => registry?.admit(node, inc) ?? 'accept',
      register: (link) => {
        if (this.closed || (registry !== undefined && !registry.register(link))) return false;
        this.links.add(link);
        return true;
      },
      unregister: (link, error) => {
        this.links.delete(link);
        registry?.unregister(link, error);
      },
    };
    runHandshake(
      connection,
      handshake,
      'acceptor',
      { clock: config.clock, logger: config.logger, timeoutMs: config.handshakeTimeoutMs },
      (result, decoder) => establishLink(config, connection, result, decoder, false, tracking),
    ).then(
      () => this.settled(connection),
      () => this.settled(connection), // Logged by runHandshake.
    );
  }

  private settled(connection: Connection): void {
    const p = this.handshaking.get(connection);
    if (p === undefined) return;
    this.handshaking.delete(connection);
    const n = (this.perSource.get(p.source) ?? 1) - 1;
    if (n === 0) this.perSource.delete(p.source);
    else this.perSource.set(p.source, n);
  }

  /** Closes the oldest pending handshake (of one source, or of all), preferring one that has not sent HELLO. */
  private evict(source: string | null): void {
    let victim: Pending | undefined;
    for (const p of this.handshaking.values()) {
      if (source !== null && p.source !== source) continue;
      if (p.handshake.remoteNode === undefined) {
        victim = p;
        break;
      }
      victim ??= p;
    }
    if (victim === undefined) return;
    this.config.logger.warn(
      `connection from ${victim.connection.remoteAddress} dropped: ${source === null ? `${MAX_PENDING_HANDSHAKES} handshakes` : `${MAX_PENDING_PER_SOURCE} handshakes from ${source}`} already in progress, and a newer connection came`,
    );
    // its runHandshake sees the close and settles
    victim.connection.destroy();
    this.settled(victim.connection);
  }
}

/** The host part of "host:port" or "[v6]:port". */
function sourceOf(address: string): string {
  const i = address.lastIndexOf(':');
  const host = i < 0 ? address : address.slice(0, i);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
