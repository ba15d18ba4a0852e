/**
 * @warren/cluster-peer: cookie-authenticated links between the broker nodes of a cluster.
 * See README.md for the protocol, the frame format and how to drive it with the simulated network.
 */
export { PeerManager, RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './peer-manager.ts';
export type { PeerManagerOptions } from './peer-manager.ts';
export { MAX_PENDING_HANDSHAKES, MAX_PENDING_PER_SOURCE, PeerServer } from './peer-server.ts';
export { dialPeer } from './dial.ts';
export { DEFERRED, PeerLink, DEFAULT_HEARTBEAT_MISSED_TICKS, DEFAULT_HEARTBEAT_TICK_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './peer-link.ts';
export type { PeerHandler, ReplyHandler, RequestOptions } from './peer-link.ts';
export { CONNECT_TIMEOUT_MS, resolvePeerOptions } from './options.ts';
export type { PeerConfig, PeerOptions } from './options.ts';
export { HANDSHAKE_TIMEOUT_MS } from './handshake.ts';
export { DEFAULT_MAX_FRAME_BYTES, packInner, packMessage, unpackViews } from './codec.ts';
export { readCookieFile } from './cookie-file.ts';
export { DEFAULT_DIST_PORT, parseNodeName } from './node-name.ts';
export { PeerError, isPeerError, PEER_ERROR_CODES } from './errors.ts';
export type { PeerErrorCode } from './errors.ts';
export { systemClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { FakeClock } from './fake-clock.ts';
export { TimerHeap } from './timer-heap.ts';
export type { HeapTimer } from './timer-heap.ts';
export { SeededRandom, cryptoRandom } from './random.ts';
export type { Random } from './random.ts';
export { silentLogger, stderrLogger } from './logger.ts';
export type { Logger } from './logger.ts';
export { TcpTransport } from './transport/tcp.ts';
export { MemoryNetwork } from './transport/memory.ts';
export type { LinkConditions, LossMode, MemoryNetworkOptions } from './transport/memory.ts';
export type { Address, Connection, ConnectionHandler, Listener, Transport } from './transport/transport.ts';
