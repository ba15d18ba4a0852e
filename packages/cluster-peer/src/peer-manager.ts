import type { TimerHandle } from './clock.ts';
import { dialPeer } from './dial.ts';
import { PeerError } from './errors.ts';
import type { AdmitDecision } from './handshake.ts';
import { DEFAULT_DIST_PORT, parseNodeName } from './node-name.ts';
import { resolvePeerOptions } from './options.ts';
import type { LinkRegistry, PeerConfig, PeerOptions } from './options.ts';
import type { PeerLink, RequestOptions } from './peer-link.ts';
import { PeerServer } from './peer-server.ts';
import type { Address } from './transport/transport.ts';

/** First retry soon after a link drops or a dial fails: a restarting peer is often back within a second. */
export const RECONNECT_MIN_MS = 200;
/** Backoff ceiling: a node that stays away costs one connection attempt per 5 s, and is found within 5 s. */
export const RECONNECT_MAX_MS = 5_000;

export interface PeerManagerOptions extends PeerOptions {
  /** Where to accept links. Default 0.0.0.0:25672; false: do not listen (dial only). */
  readonly listen?: Address | false;
  /** Address of a node. Default: the host part of its name, port 25672. */
  readonly resolve?: (node: string) => Address;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

class PeerEntry {
  /** connect() was called: keep a link, redialing when it drops. */
  wanted = false;
  link: PeerLink | null = null;
  dialing = false;
  failures = 0;
  lastFailure = '';
  retryTimer: TimerHandle | null = null;
  waiters: Array<(link: PeerLink) => void> = [];
  constructor(readonly node: string) {}
}

/**
 * The registry of links of one node: at most one link per peer node, dialed and redialed (with exponential
 * backoff and jitter) for every node passed to connect(), and accepted from any node that proves the cookie.
 *
 * Two nodes that dial each other at the same time get two links; both sides keep the one dialed by the node with
 * the lower name (string order), so they agree without talking: the acceptor refuses (DUPLICATE_LINK) an incoming
 * link from a higher-named node while it has its own link to that node, dialed or being dialed, and accepts the
 * rest, replacing an older link. A link from another incarnation of the node (it restarted) always replaces the
 * old one, which is stale even if its heartbeats have not yet timed out.
 */
export class PeerManager implements LinkRegistry {
  readonly nodeName: string;
  readonly incarnation: number;
  private readonly config: PeerConfig;
  private readonly server: PeerServer;
  private readonly listenAddress: Address | false;
  private readonly resolveAddress: (node: string) => Address;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly peers = new Map<string, PeerEntry>();
  private stopped = false;

  constructor(options: PeerManagerOptions) {
    this.config = resolvePeerOptions(options);
    this.nodeName = this.config.nodeName;
    this.incarnation = this.config.incarnation;
    this.server = new PeerServer(this.config, this);
    this.listenAddress = options.listen ?? { host: '0.0.0.0', port: DEFAULT_DIST_PORT };
    this.resolveAddress = options.resolve ?? ((node) => ({ host: parseNodeName(node).host, port: DEFAULT_DIST_PORT }));
    this.reconnectMinMs = options.reconnectMinMs ?? RECONNECT_MIN_MS;
    this.reconnectMaxMs = Math.max(this.reconnectMinMs, options.reconnectMaxMs ?? RECONNECT_MAX_MS);
  }

  /** Starts listening (unless listen: false). Resolves with the bound address. */
  async start(): Promise<Address | null> {
    if (this.listenAddress === false) return null;
    return this.server.listen(this.listenAddress);
  }

  /** Keep a link to `node` from now on: dial now, redial whenever it drops, until disconnect() or stop(). */
  connect(node: string): void {
    parseNodeName(node);
    if (node === this.nodeName) throw new PeerError('INVALID_ARGUMENT', `${node} is this node`);
    if (this.stopped) throw new PeerError('LINK_CLOSED', 'the peer manager is stopped');
    const entry = this.entry(node);
    entry.wanted = true;
    this.dial(entry);
  }

  /** Stop redialing `node` and close the link to it, if any. */
  disconnect(node: string): void {
    const entry = this.peers.get(node);
    if (entry === undefined) return;
    entry.wanted = false;
    this.cancelRetry(entry);
    entry.link?.close('disconnected by the local node');
  }

  /** The open link to `node`, if any. */
  link(node: string): PeerLink | undefined {
    const link = this.peers.get(node)?.link;
    return link !== null && link !== undefined && link.isOpen ? link : undefined;
  }

  /** Nodes with an open link, sorted. */
  connectedNodes(): string[] {
    return [...this.peers.values()].filter((e) => e.link?.isOpen === true).map((e) => e.node).sort();
  }

  /** Resolves with the link to `node` once there is one; rejects with NOT_CONNECTED after timeoutMs. */
  waitForLink(node: string, timeoutMs: number): Promise<PeerLink> {
    const existing = this.link(node);
    if (existing !== undefined) return Promise.resolve(existing);
    const entry = this.entry(node);
    return new Promise((resolve, reject) => {
      const waiter = (link: PeerLink): void => {
        this.config.clock.clearTimeout(timer);
        resolve(link);
      };
      const timer = this.config.clock.setTimeout(() => {
        entry.waiters = entry.waiters.filter((w) => w !== waiter);
        reject(new PeerError('NOT_CONNECTED', `peer ${node}: no link within ${timeoutMs} ms${entry.lastFailure === '' ? '' : ` (last failure: ${entry.lastFailure})`}`));
      }, timeoutMs);
      entry.waiters.push(waiter);
    });
  }

  /** PeerLink.send on the link to `node`; throws NOT_CONNECTED if there is none. */
  send(node: string, message: unknown): boolean {
    return this.requireLink(node).send(message);
  }

  /** PeerLink.request on the link to `node`; rejects with NOT_CONNECTED if there is none. */
  request(node: string, message: unknown, options?: RequestOptions): Promise<unknown> {
    const link = this.link(node);
    if (link === undefined) return Promise.reject(this.notConnected(node));
    return link.request(message, options);
  }

  /** Stops listening, redialing and every link. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const entry of this.peers.values()) {
      entry.wanted = false;
      this.cancelRetry(entry);
      entry.link?.close('node shutting down');
    }
    await this.server.close();
  }

  // LinkRegistry

  admit(node: string, incarnation: number): AdmitDecision {
    if (this.stopped) return 'duplicate';
    const entry = this.peers.get(node);
    if (entry === undefined) return 'accept';
    const existing = entry.link;
    if (existing !== null && existing.isOpen) {
      if (existing.remoteIncarnation !== incarnation) return 'accept';
      return existing.initiator && this.nodeName < node ? 'duplicate' : 'accept';
    }
    return entry.dialing && this.nodeName < node ? 'duplicate' : 'accept';
  }

  register(link: PeerLink): boolean {
    if (this.stopped) return false;
    const entry = this.entry(link.remoteNode);
    const old = entry.link;
    if (old !== null && old.isOpen && old !== link) {
      // Our dial finished although the peer's link got in first: same tie-break as admit(), from this side.
      const sameIncarnation = old.remoteIncarnation === link.remoteIncarnation;
      if (link.initiator && !old.initiator && sameIncarnation && link.remoteNode < this.nodeName) return false;
      entry.link = link;
      old.destroy(new PeerError('LINK_CLOSED', `peer ${link.remoteNode}: link replaced by a newer one`));
    }
    entry.link = link;
    entry.failures = 0;
    entry.lastFailure = '';
    this.cancelRetry(entry);
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const waiter of waiters) waiter(link);
    return true;
  }

  unregister(link: PeerLink, _error: PeerError | undefined): void {
    const entry = this.peers.get(link.remoteNode);
    if (entry === undefined || entry.link !== link) return;
    entry.link = null;
    if (entry.wanted && !this.stopped) this.scheduleRetry(entry);
    else if (!entry.wanted && entry.waiters.length === 0) this.peers.delete(entry.node);
  }

  // Dialing

  private dial(entry: PeerEntry): void {
    if (this.stopped || !entry.wanted || entry.dialing || entry.retryTimer !== null || this.link(entry.node) !== undefined) return;
    entry.dialing = true;
    let address: Address;
    try {
      address = this.resolveAddress(entry.node);
    } catch (error) {
      entry.dialing = false;
      this.onDialFailed(entry, error);
      return;
    }
    dialPeer(this.config, entry.node, address, this).then(
      () => {
        entry.dialing = false;
      },
      (error: unknown) => {
        entry.dialing = false;
        this.onDialFailed(entry, error);
      },
    );
  }

  private onDialFailed(entry: PeerEntry, error: unknown): void {
    const message = (error as Error).message;
    // The handshake already logged its own failures; connection failures are logged here, once per streak.
    if ((error as PeerError).code === 'CONNECT_FAILED' && message !== entry.lastFailure) {
      this.config.logger.info(`${message}; retrying with backoff`);
    }
    entry.lastFailure = message;
    entry.failures++;
    if (this.link(entry.node) === undefined) this.scheduleRetry(entry);
  }

  private scheduleRetry(entry: PeerEntry): void {
    if (this.stopped || !entry.wanted || entry.retryTimer !== null) return;
    const exponent = Math.min(entry.failures, 20);
    const ceiling = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** exponent);
    // Jitter in [ceiling/2, ceiling): nodes that lost each other at the same moment do not redial in lockstep.
    const delay = ceiling / 2 + (this.config.random.float() * ceiling) / 2;
    entry.retryTimer = this.config.clock.setTimeout(() => {
      entry.retryTimer = null;
      this.dial(entry);
    }, delay);
  }

  private cancelRetry(entry: PeerEntry): void {
    if (entry.retryTimer !== null) {
      this.config.clock.clearTimeout(entry.retryTimer);
      entry.retryTimer = null;
    }
  }

  private entry(node: string): PeerEntry {
    let entry = this.peers.get(node);
    if (entry === undefined) {
      entry = new PeerEntry(node);
      this.peers.set(node, entry);
    }
    return entry;
  }

  private requireLink(node: string): PeerLink {
    const link = this.link(node);
    if (link === undefined) throw this.notConnected(node);
    return link;
  }

  private notConnected(node: string): PeerError {
    return new PeerError('NOT_CONNECTED', `peer ${node}: no link`);
  }
}
