/**
 * The byte-stream network a peer link runs over. Two implementations: TcpTransport (real sockets) and the
 * simulated MemoryNetwork. A Connection is a reliable ordered byte stream, like TCP; it calls its handler, never
 * re-entrantly from inside write/end/destroy.
 */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface ConnectionHandler {
  onData(chunk: Buffer): void;
  /** write() returned false earlier and the outgoing buffer has since emptied. */
  onDrain(): void;
  /** Called once. error is undefined for an orderly close by either side. */
  onClose(error: Error | undefined): void;
}

export interface Connection {
  /** "host:port" of each end, for log lines. */
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** Bytes accepted by write() and not yet handed to the network. */
  readonly writableLength: number;
  /** Starts delivering events; bytes that arrived before are delivered first. */
  setHandler(handler: ConnectionHandler): void;
  /** Queues bytes; false means "stop writing until onDrain" (the bytes are still queued). */
  write(chunk: Buffer): boolean;
  /** Sends what is queued, then closes. */
  end(): void;
  /** Closes now, discarding what is queued. */
  destroy(error?: Error): void;
}

export interface Listener {
  /** The bound address (the actual port when 0 was asked for). */
  readonly address: Address;
  /** Stops accepting; connections already accepted stay open. */
  close(): Promise<void>;
}

export interface Transport {
  /** Rejects with an Error whose message says why (refused, timed out, unreachable). */
  connect(address: Address, timeoutMs: number): Promise<Connection>;
  listen(address: Address, onConnection: (connection: Connection) => void): Promise<Listener>;
}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
