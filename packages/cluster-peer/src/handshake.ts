/*
 * Peer handshake: mutual proof of a shared cookie, in the spirit of Erlang distribution's challenge/response
 * (erts: "Distribution Handshake"), with HMAC-SHA256 instead of MD5 and both nonces and both names in every proof.
 *
 * A is the node that dials (initiator), B the node that accepts (acceptor). Every message is one frame
 * (codec.ts) whose body is a msgpack map; before the handshake ends, frames are capped at
 * HANDSHAKE_MAX_FRAME_BYTES and any other frame kind is a protocol error.
 *
 *   1. A -> B  HELLO     {p: "warren-peer", v: 1, from: A, to: B, inc: incA, nonce: nA}
 *              B checks the protocol name and version, that `from` is a node name other than its own, and that
 *              `to` is its own name (A dialed the node it meant to). Otherwise REFUSE {reason: "version" |
 *              "protocol" | "wrong-node"} and close.
 *   2. B -> A  CHALLENGE {from: B, inc: incB, nonce: nB}
 *              A checks that `from` is the node it dialed, otherwise it closes (WRONG_NODE).
 *   3. A -> B  PROOF     {mac: HMAC(cookie, "warren-peer/1 initiator" | A | B | incA | incB | nA | nB)}
 *              B recomputes the MAC and compares with crypto.timingSafeEqual. On mismatch: REFUSE {reason:
 *              "cookie"}, log "peer A: cookie mismatch (connection from <addr> refused)", close. Then B asks its
 *              registry whether to admit A (one link per node pair, see peer-manager.ts); if not:
 *              REFUSE {reason: "duplicate"} and close.
 *   4. B -> A  ACCEPT    {mac: HMAC(cookie, "warren-peer/1 acceptor" | A | B | incA | incB | nA | nB)}
 *              A verifies it the same way (a node that does not know the cookie cannot get here, since B only
 *              proves after A did, so B's proof is never an oracle for an unauthenticated dialer).
 *              On REFUSE {reason: "cookie"} A logs "peer B: cookie mismatch (connection to <addr> refused by
 *              the peer)".
 *
 * After ACCEPT both sides switch to link frames (peer-link.ts); A may receive link frames in the same chunk as
 * ACCEPT, so the decoder is handed over with whatever bytes it holds.
 *
 * Properties: the cookie never goes on the wire, only MACs; each side proves it knows the cookie; both fresh
 * nonces are in both MACs, so no proof can be replayed on another connection; the role label differs between the
 * two MACs, so a proof reflected back to its sender (B answering A's PROOF with it) fails; names and incarnations
 * are bound, so a proof for one node pair is worthless for another. Not provided: confidentiality, and protection
 * from an active man-in-the-middle relaying a whole handshake (as in Erlang distribution without TLS): run peer
 * links on a trusted network.
 *
 * The incarnation (`inc`) is a random 32-bit number a node picks when it starts, like Erlang's "creation": a new
 * link from the same name but another incarnation means the peer restarted and any old link to it is stale.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock, TimerHandle } from './clock.ts';
import { encodeFrame, FrameDecoder, FrameKind, HANDSHAKE_MAX_FRAME_BYTES, packr, unpackBody } from './codec.ts';
import type { FrameSink } from './codec.ts';
import { PeerError } from './errors.ts';
import type { PeerErrorCode } from './errors.ts';
import type { Logger } from './logger.ts';
import { isValidNodeName } from './node-name.ts';
import { CLOSE_LINGER_MS } from './peer-link.ts';
import type { Connection, ConnectionHandler } from './transport/transport.ts';

export const PROTOCOL_NAME = 'warren-peer';
export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;
/**
 * Two round trips of frames under 200 bytes. Five seconds covers a node stalled by a long GC or a congested
 * link, and bounds how long an unauthenticated connection can hold a socket and a timer.
 */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

export type HandshakeRole = 'initiator' | 'acceptor';
export type RefuseReason = 'cookie' | 'wrong-node' | 'duplicate' | 'version' | 'protocol';
/** The acceptor's registry decides, once the dialer is authenticated, whether this link may exist. */
export type AdmitDecision = 'accept' | 'duplicate';

export interface HandshakeParams {
  readonly role: HandshakeRole;
  readonly localNode: string;
  readonly localIncarnation: number;
  readonly cookie: Uint8Array;
  /** NONCE_BYTES fresh random bytes. */
  readonly nonce: Uint8Array;
  /** Initiator: the node it dialed. */
  readonly expectedRemote?: string;
  /** Acceptor: asked after the dialer proved the cookie. Default: accept. */
  readonly admit?: (remoteNode: string, remoteIncarnation: number) => AdmitDecision;
}

export interface HandshakeResult {
  readonly remoteNode: string;
  readonly remoteIncarnation: number;
}

export interface HandshakeFailure {
  readonly code: PeerErrorCode;
  /** What went wrong, without the peer name or address (the driver adds them). */
  readonly detail: string;
}

/** What to do after a frame: send `reply` (an encoded frame) if any, then stop if done or failed. */
export interface HandshakeStep {
  readonly reply: Buffer | null;
  readonly done: HandshakeResult | null;
  readonly failure: HandshakeFailure | null;
}

const REFUSE_CODES: Record<RefuseReason, PeerErrorCode> = {
  cookie: 'COOKIE_MISMATCH',
  'wrong-node': 'WRONG_NODE',
  duplicate: 'DUPLICATE_LINK',
  version: 'PROTOCOL_ERROR',
  protocol: 'PROTOCOL_ERROR',
};

function frame(kind: number, body: object): Buffer {
  return encodeFrame(kind, packr.pack(body));
}

function step(reply: Buffer | null, done: HandshakeResult | null, failure: HandshakeFailure | null): HandshakeStep {
  return { reply, done, failure };
}

function fail(code: PeerErrorCode, detail: string, reply: Buffer | null = null): HandshakeStep {
  return step(reply, null, { code, detail });
}

function refuse(reason: RefuseReason, code: PeerErrorCode, detail: string): HandshakeStep {
  return fail(code, detail, frame(FrameKind.REFUSE, { reason, message: detail }));
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function isNonce(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === NONCE_BYTES;
}

function asMap(body: unknown): Record<string, unknown> | null {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
}

/**
 * The handshake as a pure state machine: frames in, frames out. No sockets, no timers; HandshakeDriver does I/O.
 */
export class Handshake {
  private state: 'start' | 'await-hello' | 'await-challenge' | 'await-proof' | 'await-accept' | 'finished';
  /** Filled in as the handshake learns them. */
  remoteNode: string | undefined;
  private remoteIncarnation = 0;
  private remoteNonce: Uint8Array | null = null;

  constructor(private readonly params: HandshakeParams) {
    this.state = params.role === 'initiator' ? 'start' : 'await-hello';
    this.remoteNode = params.expectedRemote;
  }

  /** The initiator's HELLO; null for the acceptor, which speaks second. */
  start(): Buffer | null {
    if (this.state !== 'start') return null;
    this.state = 'await-challenge';
    const p = this.params;
    return frame(FrameKind.HELLO, {
      p: PROTOCOL_NAME,
      v: PROTOCOL_VERSION,
      from: p.localNode,
      to: p.expectedRemote,
      inc: p.localIncarnation,
      nonce: p.nonce,
    });
  }

  receive(kind: number, body: Buffer): HandshakeStep {
    let map: Record<string, unknown> | null;
    try {
      map = asMap(unpackBody(body, kind));
    } catch (error) {
      return this.protocolError((error as PeerError).message);
    }
    if (map === null) return this.protocolError(`handshake frame kind 0x${kind.toString(16)} is not a map`);
    if (kind === FrameKind.REFUSE && this.params.role === 'initiator') return this.onRefuse(map);
    switch (this.state) {
      case 'await-hello':
        return kind === FrameKind.HELLO ? this.onHello(map) : this.unexpected(kind);
      case 'await-challenge':
        return kind === FrameKind.CHALLENGE ? this.onChallenge(map) : this.unexpected(kind);
      case 'await-proof':
        return kind === FrameKind.PROOF ? this.onProof(map) : this.unexpected(kind);
      case 'await-accept':
        return kind === FrameKind.ACCEPT ? this.onAccept(map) : this.unexpected(kind);
      default:
        return this.unexpected(kind);
    }
  }

  private onHello(hello: Record<string, unknown>): HandshakeStep {
    const p = this.params;
    this.state = 'finished';
    if (hello['p'] !== PROTOCOL_NAME) return refuse('protocol', 'PROTOCOL_ERROR', 'not a warren-peer client');
    if (hello['v'] !== PROTOCOL_VERSION) {
      return refuse('version', 'PROTOCOL_ERROR', `protocol version ${String(hello['v'])} not supported (we speak ${PROTOCOL_VERSION})`);
    }
    const from = hello['from'];
    if (!isValidNodeName(from) || !isUint32(hello['inc']) || !isNonce(hello['nonce'])) {
      return refuse('protocol', 'PROTOCOL_ERROR', 'malformed HELLO');
    }
    this.remoteNode = from;
    if (from === p.localNode) return refuse('wrong-node', 'WRONG_NODE', `a node named ${from} is dialing itself`);
    if (hello['to'] !== p.localNode) {
      return refuse('wrong-node', 'WRONG_NODE', `it dialed ${String(hello['to'])} but reached ${p.localNode}`);
    }
    this.remoteIncarnation = hello['inc'];
    this.remoteNonce = hello['nonce'];
    this.state = 'await-proof';
    return step(frame(FrameKind.CHALLENGE, { from: p.localNode, inc: p.localIncarnation, nonce: p.nonce }), null, null);
  }

  private onChallenge(challenge: Record<string, unknown>): HandshakeStep {
    this.state = 'finished';
    const from = challenge['from'];
    if (typeof from !== 'string' || !isUint32(challenge['inc']) || !isNonce(challenge['nonce'])) {
      return this.protocolError('malformed CHALLENGE');
    }
    if (from !== this.params.expectedRemote) {
      return fail('WRONG_NODE', `the node at that address is ${from}, not ${String(this.params.expectedRemote)}`);
    }
    this.remoteIncarnation = challenge['inc'];
    this.remoteNonce = challenge['nonce'];
    this.state = 'await-accept';
    return step(frame(FrameKind.PROOF, { mac: this.mac('initiator') }), null, null);
  }

  private onProof(proof: Record<string, unknown>): HandshakeStep {
    this.state = 'finished';
    if (!this.verify(proof['mac'], 'initiator')) {
      return refuse('cookie', 'COOKIE_MISMATCH', 'cookie mismatch');
    }
    const remoteNode = this.remoteNode!;
    if (this.params.admit !== undefined && this.params.admit(remoteNode, this.remoteIncarnation) === 'duplicate') {
      return refuse('duplicate', 'DUPLICATE_LINK', 'a link with this node already exists and wins the tie-break');
    }
    return step(frame(FrameKind.ACCEPT, { mac: this.mac('acceptor') }), this.result(), null);
  }

  private onAccept(accept: Record<string, unknown>): HandshakeStep {
    this.state = 'finished';
    if (!this.verify(accept['mac'], 'acceptor')) {
      return fail('COOKIE_MISMATCH', 'cookie mismatch (its proof does not match our cookie)');
    }
    return step(null, this.result(), null);
  }

  private onRefuse(refusal: Record<string, unknown>): HandshakeStep {
    this.state = 'finished';
    const reason = refusal['reason'];
    const code = typeof reason === 'string' && Object.hasOwn(REFUSE_CODES, reason) ? REFUSE_CODES[reason as RefuseReason] : 'PROTOCOL_ERROR';
    const message = typeof refusal['message'] === 'string' ? refusal['message'] : String(reason);
    return fail(code, code === 'COOKIE_MISMATCH' ? 'cookie mismatch' : `refused: ${message}`);
  }

  private result(): HandshakeResult {
    return { remoteNode: this.remoteNode!, remoteIncarnation: this.remoteIncarnation };
  }

  private unexpected(kind: number): HandshakeStep {
    return this.protocolError(`unexpected frame kind 0x${kind.toString(16)} during handshake`);
  }

  private protocolError(detail: string): HandshakeStep {
    this.state = 'finished';
    return fail('PROTOCOL_ERROR', detail);
  }

  private verify(mac: unknown, role: HandshakeRole): boolean {
    if (!(mac instanceof Uint8Array)) return false;
    const expected = this.mac(role);
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  }

  /** The proof `role` sends: over both names, both incarnations and both nonces, labelled with the role. */
  private mac(role: HandshakeRole): Buffer {
    const p = this.params;
    const initiator = p.role === 'initiator';
    const hmac = createHmac('sha256', p.cookie);
    hmac.update(`${PROTOCOL_NAME}/${PROTOCOL_VERSION} ${role}\n`);
    for (const name of initiator ? [p.localNode, this.remoteNode!] : [this.remoteNode!, p.localNode]) {
      const bytes = Buffer.from(name, 'utf8');
      const length = Buffer.allocUnsafe(2);
      length.writeUInt16BE(bytes.length, 0);
      hmac.update(length).update(bytes);
    }
    const incarnations = Buffer.allocUnsafe(8);
    incarnations.writeUInt32BE(initiator ? p.localIncarnation : this.remoteIncarnation, 0);
    incarnations.writeUInt32BE(initiator ? this.remoteIncarnation : p.localIncarnation, 4);
    hmac.update(incarnations);
    hmac.update(initiator ? p.nonce : this.remoteNonce!);
    hmac.update(initiator ? this.remoteNonce! : p.nonce);
    return hmac.digest();
  }
}

export interface HandshakeDriverOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

/**
 * Runs a Handshake over a Connection: frames, timeout, log lines. On success calls `onDone` synchronously with the
 * connection and a paused decoder holding any bytes that followed the handshake, so the link that takes over
 * misses nothing, and resolves with what onDone returned. On failure closes the connection and rejects with a
 * PeerError whose message names the peer and the address.
 */
export function runHandshake<T>(
  connection: Connection,
  handshake: Handshake,
  role: HandshakeRole,
  options: HandshakeDriverOptions,
  onDone: (result: HandshakeResult, decoder: FrameDecoder) => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let finished = false;
    let timer: TimerHandle | null = null;
    const where = role === 'initiator' ? `connection to ${connection.remoteAddress}` : `connection from ${connection.remoteAddress}`;
    const peerName = (): string => (handshake.remoteNode === undefined ? 'unknown node' : `peer ${handshake.remoteNode}`);

    const failWith = (code: PeerErrorCode, detail: string, graceful: boolean): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) options.clock.clearTimeout(timer);
      const refused = code === 'COOKIE_MISMATCH' && role === 'initiator' && detail === 'cookie mismatch' ? 'refused by the peer' : 'refused';
      const error = new PeerError(code, `${peerName()}: ${detail} (${where} ${refused})`);
      if (code === 'COOKIE_MISMATCH') options.logger.error(error.message);
      else if (code === 'DUPLICATE_LINK') options.logger.debug(error.message);
      else options.logger.warn(error.message);
      if (graceful) {
        // REFUSE goes out first; a client that never closes its side is cut off after the linger time.
        connection.end();
        options.clock.setTimeout(() => connection.destroy(), CLOSE_LINGER_MS);
      } else {
        connection.destroy();
      }
      reject(error);
    };

    const sink: FrameSink = {
      onFrame(kind: number, body: Buffer): void {
        if (finished) return;
        const next = handshake.receive(kind, body);
        if (next.reply !== null) connection.write(next.reply);
        if (next.failure !== null) {
          failWith(next.failure.code, next.failure.detail, next.reply !== null);
        } else if (next.done !== null) {
          finished = true;
          if (timer !== null) options.clock.clearTimeout(timer);
          decoder.pause();
          try {
            resolve(onDone(next.done, decoder));
          } catch (error) {
            connection.destroy();
            reject(error);
          }
        }
      },
    };
    const decoder = new FrameDecoder(sink, HANDSHAKE_MAX_FRAME_BYTES);

    const handler: ConnectionHandler = {
      onData(chunk: Buffer): void {
        try {
          decoder.push(chunk);
        } catch (error) {
          const e = error as PeerError;
          failWith(e.code ?? 'PROTOCOL_ERROR', `during handshake: ${e.message}`, false);
        }
      },
      onDrain(): void {},
      onClose(error: Error | undefined): void {
        failWith('LINK_CLOSED', `connection closed during handshake${error === undefined ? '' : `: ${error.message}`}`, false);
      },
    };

    timer = options.clock.setTimeout(() => {
      timer = null;
      failWith('HANDSHAKE_TIMEOUT', `handshake did not finish within ${options.timeoutMs} ms`, false);
    }, options.timeoutMs);
    connection.setHandler(handler);
    const hello = handshake.start();
    if (hello !== null) connection.write(hello);
  });
}
