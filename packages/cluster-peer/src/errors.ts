/**
 * One error table for the package: every failure a caller can see is a PeerError carrying one of these codes.
 * The text says what happened to whom; the code is what callers branch on.
 */
export const PEER_ERROR_CODES = {
  /** The other side does not know our cookie (or we do not know theirs). Never retried silently. */
  COOKIE_MISMATCH: 'cookie mismatch',
  /** The cookie file is missing, empty, or readable by group/others. */
  COOKIE_FILE: 'cookie file unusable',
  /** The handshake did not finish within HANDSHAKE_TIMEOUT_MS. */
  HANDSHAKE_TIMEOUT: 'handshake timeout',
  /** The peer answered to a different node name than the one we dialed, or is ourselves. */
  WRONG_NODE: 'wrong node',
  /** The peer already has a link with us that wins the simultaneous-dial tie-break. */
  DUPLICATE_LINK: 'duplicate link',
  /** Bytes on the wire do not follow the protocol (bad kind, bad msgpack, bad handshake field). */
  PROTOCOL_ERROR: 'protocol error',
  /** A frame announced a length above the configured maximum; the link is closed before buffering it. */
  FRAME_TOO_LARGE: 'frame too large',
  /** The transport could not open a connection (refused, unreachable, timed out). */
  CONNECT_FAILED: 'connect failed',
  /** No bytes arrived from the peer for heartbeatMissedTicks ticks. */
  HEARTBEAT_TIMEOUT: 'heartbeat timeout',
  /** The link is closed (locally, by the peer, or because the connection dropped). */
  LINK_CLOSED: 'link closed',
  /** No reply to a request within its timeout. */
  REQUEST_TIMEOUT: 'request timeout',
  /** The peer's request handler threw; message and code are the peer's. */
  REMOTE_ERROR: 'remote error',
  /** The outgoing queue would exceed maxQueuedBytes; the message was not queued. */
  QUEUE_FULL: 'outgoing queue full',
  /** No link to that node (PeerManager.send/request). */
  NOT_CONNECTED: 'not connected',
  /** An argument was invalid (e.g. a node name without '@'). */
  INVALID_ARGUMENT: 'invalid argument',
} as const;

export type PeerErrorCode = keyof typeof PEER_ERROR_CODES;

export class PeerError extends Error {
  override readonly name = 'PeerError';
  readonly code: PeerErrorCode;
  /** For REMOTE_ERROR: the code the peer's handler attached to its error, if any. */
  readonly remoteCode: string | undefined;

  constructor(code: PeerErrorCode, message: string, remoteCode?: string) {
    super(message);
    this.code = code;
    this.remoteCode = remoteCode;
  }
}

export function isPeerError(error: unknown, code?: PeerErrorCode): error is PeerError {
  return error instanceof PeerError && (code === undefined || error.code === code);
}
