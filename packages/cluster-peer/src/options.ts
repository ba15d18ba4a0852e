import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { DEFAULT_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES } from './codec.ts';
import { PeerError } from './errors.ts';
import { HANDSHAKE_TIMEOUT_MS } from './handshake.ts';
import type { AdmitDecision } from './handshake.ts';
import { stderrLogger } from './logger.ts';
import type { Logger } from './logger.ts';
import { parseNodeName } from './node-name.ts';
import {
  DEFAULT_HEARTBEAT_MISSED_TICKS,
  DEFAULT_HEARTBEAT_TICK_MS,
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './peer-link.ts';
import type { LinkLimits, PeerHandler, PeerLink } from './peer-link.ts';
import { cryptoRandom } from './random.ts';
import type { Random } from './random.ts';
import type { Transport } from './transport/transport.ts';

/**
 * The kernel retries a SYN to a silent host for about two minutes; a peer that has not accepted within 5 s is
 * treated as down for this attempt, and the dialer retries with backoff.
 */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Everything a node needs to take part in peer links. Only the first four are required. */
export interface PeerOptions {
  /** This node, "rabbit@host". */
  readonly nodeName: string;
  /** The shared secret (see readCookieFile). */
  readonly cookie: string | Uint8Array;
  readonly transport: Transport;
  /** Receives every link's traffic and up/down events. */
  readonly handler: PeerHandler;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Default: info and above to stderr. */
  readonly logger?: Logger;
  /** Default: random. A restarted node must pick a different one. */
  readonly incarnation?: number;
  readonly heartbeatTickMs?: number;
  readonly heartbeatMissedTicks?: number;
  /** Per remote node, a heartbeatMissedTicks of its own (undefined: the common one): a CLI tool's link may get more
   *  slack than a peer whose silence fails queues over. */
  readonly heartbeatMissedTicksFor?: (remoteNode: string) => number | undefined;
  readonly maxFrameBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly highWaterMarkBytes?: number;
  readonly maxQueuedBytes?: number;
  readonly handshakeTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

/** PeerOptions with defaults applied. */
export interface PeerConfig {
  readonly nodeName: string;
  readonly cookie: Buffer;
  readonly transport: Transport;
  readonly handler: PeerHandler;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly incarnation: number;
  readonly limits: LinkLimits;
  readonly heartbeatMissedTicksFor?: (remoteNode: string) => number | undefined;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** How the owner of links (PeerManager) takes part in creating them. */
export interface LinkRegistry {
  /** Acceptor side, after the dialer proved the cookie. */
  admit(remoteNode: string, remoteIncarnation: number): AdmitDecision;
  /** Called synchronously when a link is up, before onLinkUp. false: do not keep it (it is closed, silently). */
  register(link: PeerLink): boolean;
  /** Called when a registered link closes, before onLinkDown. */
  unregister(link: PeerLink, error: PeerError | undefined): void;
}

function positive(name: string, value: number | undefined, fallback: number, minimum = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < minimum) throw new PeerError('INVALID_ARGUMENT', `${name} must be a number >= ${minimum}, got ${v}`);
  return v;
}

export function resolvePeerOptions(options: PeerOptions): PeerConfig {
  parseNodeName(options.nodeName);
  const cookie = typeof options.cookie === 'string' ? Buffer.from(options.cookie, 'utf8') : Buffer.from(options.cookie);
  if (cookie.length === 0) throw new PeerError('INVALID_ARGUMENT', 'the cookie must not be empty');
  const random = options.random ?? cryptoRandom;
  const limits: LinkLimits = {
    heartbeatTickMs: positive('heartbeatTickMs', options.heartbeatTickMs, DEFAULT_HEARTBEAT_TICK_MS),
    heartbeatMissedTicks: positive('heartbeatMissedTicks', options.heartbeatMissedTicks, DEFAULT_HEARTBEAT_MISSED_TICKS),
    maxFrameBytes: positive('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
    highWaterMarkBytes: positive('highWaterMarkBytes', options.highWaterMarkBytes, DEFAULT_HIGH_WATER_MARK_BYTES),
    maxQueuedBytes: positive('maxQueuedBytes', options.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES),
  };
  return {
    nodeName: options.nodeName,
    cookie,
    transport: options.transport,
    handler: options.handler,
    clock: options.clock ?? systemClock,
    random,
    logger: options.logger ?? stderrLogger(options.nodeName),
    incarnation: options.incarnation ?? random.uint32(),
    limits,
    ...(options.heartbeatMissedTicksFor !== undefined ? { heartbeatMissedTicksFor: options.heartbeatMissedTicksFor } : {}),
    handshakeTimeoutMs: positive('handshakeTimeoutMs', options.handshakeTimeoutMs, HANDSHAKE_TIMEOUT_MS),
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, CONNECT_TIMEOUT_MS),
  };
}
