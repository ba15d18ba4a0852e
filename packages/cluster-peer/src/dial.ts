import type { FrameDecoder } from './codec.ts';
import { PeerError } from './errors.ts';
import { Handshake, NONCE_BYTES, runHandshake } from './handshake.ts';
import type { HandshakeResult } from './handshake.ts';
import { resolvePeerOptions } from './options.ts';
import type { LinkRegistry, PeerConfig, PeerOptions } from './options.ts';
import { PeerLink } from './peer-link.ts';
import { formatAddress } from './transport/transport.ts';
import type { Address, Connection } from './transport/transport.ts';

/**
 * Turns a finished handshake into a running link: registers it (the registry may decline), tells the handler,
 * then starts it. Runs synchronously inside the handshake's last frame, so no byte is delivered before this.
 */
export function establishLink(
  config: PeerConfig,
  connection: Connection,
  result: HandshakeResult,
  decoder: FrameDecoder,
  initiator: boolean,
  registry: LinkRegistry | undefined,
): PeerLink {
  const missed = config.heartbeatMissedTicksFor?.(result.remoteNode);
  const link = new PeerLink({
    connection,
    decoder,
    localNode: config.nodeName,
    remoteNode: result.remoteNode,
    remoteIncarnation: result.remoteIncarnation,
    initiator,
    clock: config.clock,
    logger: config.logger,
    limits: missed === undefined ? config.limits : { ...config.limits, heartbeatMissedTicks: positiveTicks(missed) },
    handler: config.handler,
    ...(registry === undefined ? {} : { onClosed: (l: PeerLink, e: PeerError | undefined) => registry.unregister(l, e) }),
  });
  if (registry !== undefined && !registry.register(link)) {
    // Not started, so the handler never hears of it.
    link.destroy(new PeerError('DUPLICATE_LINK', `peer ${result.remoteNode}: another link to this node won`));
    throw new PeerError('DUPLICATE_LINK', `peer ${result.remoteNode}: another link to this node won`);
  }
  config.logger.info(
    `peer ${result.remoteNode}: link up (${initiator ? 'connection to' : 'connection from'} ${connection.remoteAddress})`,
  );
  try {
    config.handler.onLinkUp?.(link);
  } catch (error) {
    config.logger.error(`peer ${result.remoteNode}: link-up handler threw: ${(error as Error).message}`);
  }
  link.start();
  return link;
}

/**
 * One attempt to link to `remoteNode` at `address`: connect, handshake, start the link. Rejects with a PeerError
 * (CONNECT_FAILED, COOKIE_MISMATCH, WRONG_NODE, DUPLICATE_LINK, HANDSHAKE_TIMEOUT, ...). No retries; PeerManager
 * retries with backoff. Given PeerOptions without an incarnation, each call is a new incarnation of this node.
 */
export async function dialPeer(
  options: PeerOptions | PeerConfig,
  remoteNode: string,
  address: Address,
  registry?: LinkRegistry,
): Promise<PeerLink> {
  const config = 'limits' in options ? options : resolvePeerOptions(options);
  let connection: Connection;
  try {
    connection = await config.transport.connect(address, config.connectTimeoutMs);
  } catch (error) {
    throw new PeerError('CONNECT_FAILED', `peer ${remoteNode}: cannot connect to ${formatAddress(address)}: ${(error as Error).message}`);
  }
  const handshake = new Handshake({
    role: 'initiator',
    localNode: config.nodeName,
    localIncarnation: config.incarnation,
    cookie: config.cookie,
    nonce: config.random.bytes(NONCE_BYTES),
    expectedRemote: remoteNode,
  });
  return runHandshake(
    connection,
    handshake,
    'initiator',
    { clock: config.clock, logger: config.logger, timeoutMs: config.handshakeTimeoutMs },
    (result, decoder) => establishLink(config, connection, result, decoder, true, registry),
  );
}

function positiveTicks(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new PeerError('INVALID_ARGUMENT', `heartbeatMissedTicksFor must give an integer >= 1, got ${n}`);
  return n;
}
