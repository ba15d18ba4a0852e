import { establishLink } from './dial.ts';
import { Handshake, NONCE_BYTES, runHandshake } from './handshake.ts';
import { resolvePeerOptions } from './options.ts';
import type { LinkRegistry, PeerConfig, PeerOptions } from './options.ts';
import type { PeerLink } from './peer-link.ts';
import type { Address, Connection, Listener } from './transport/transport.ts';

/**
 * Unauthenticated connections allowed at once. A cluster has a handful of nodes, each opening one link; a flood of
 * half-finished handshakes (each holding a socket and a timer for up to HANDSHAKE_TIMEOUT_MS) is turned away here.
 */
export const MAX_PENDING_HANDSHAKES = 64;

/**
 * Accepts peer links: listens on the distribution port, runs the acceptor side of the handshake on every
 * connection, and hands authenticated links to the handler. Used on its own, it keeps every link a peer opens;
 * PeerManager gives it a registry so that there is one link per node.
 */
export class PeerServer {
  readonly config: PeerConfig;
  private readonly registry: LinkRegistry | undefined;
  private listener: Listener | null = null;
  private readonly handshaking = new Set<Connection>();
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
    for (const connection of this.handshaking) connection.destroy();
    this.handshaking.clear();
    for (const link of [...this.links]) link.close('node shutting down');
    this.links.clear();
    if (listener !== null) await listener.close();
  }

  private accept(connection: Connection): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    if (this.handshaking.size >= MAX_PENDING_HANDSHAKES) {
      this.config.logger.warn(
        `connection from ${connection.remoteAddress} refused: ${MAX_PENDING_HANDSHAKES} handshakes already in progress`,
      );
      connection.destroy();
      return;
    }
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
    this.handshaking.add(connection);
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
      () => this.handshaking.delete(connection),
      () => this.handshaking.delete(connection), // Logged by runHandshake.
    );
  }
}
