import net from 'node:net';
import type { Address, Connection, ConnectionHandler, Listener, Transport } from './transport.ts';
import { formatAddress } from './transport.ts';

function socketAddress(host: string | undefined, port: number | undefined): string {
  return formatAddress({ host: host ?? '?', port: port ?? 0 });
}

/** A net.Socket as a Connection. Nagle off: frames are already batched per flush, and latency matters more. */
class TcpConnection implements Connection {
  readonly localAddress: string;
  readonly remoteAddress: string;
  private handler: ConnectionHandler | null = null;
  private error: Error | undefined = undefined;
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    this.localAddress = socketAddress(socket.localAddress, socket.localPort);
    this.remoteAddress = socketAddress(socket.remoteAddress, socket.remotePort);
    // 'error' is always followed by 'close'; keep it to pass on, and never let it go unhandled.
    socket.on('error', (error) => {
      this.error ??= error;
    });
    socket.on('close', () => {
      this.closed = true;
      this.handler?.onClose(this.error);
    });
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  setHandler(handler: ConnectionHandler): void {
    const first = this.handler === null;
    this.handler = handler;
    if (first) {
      // Attaching 'data' starts the flow; until then the socket holds what arrives. Later setHandler calls (the
      // handshake handing over to the link) only swap the target.
      this.socket.on('data', (chunk: Buffer) => this.handler!.onData(chunk));
      this.socket.on('drain', () => this.handler!.onDrain());
      if (this.closed) queueMicrotask(() => handler.onClose(this.error));
    }
  }

  write(chunk: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(chunk);
  }

  end(): void {
    this.socket.end();
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }
}

export class TcpTransport implements Transport {
  connect(address: Address, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address.host, port: address.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${formatAddress(address)} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TcpConnection(socket));
      });
    });
  }

  listen(address: Address, onConnection: (connection: Connection) => void): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => onConnection(new TcpConnection(socket)));
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        const bound = server.address() as net.AddressInfo;
        resolve({
          address: { host: address.host, port: bound.port },
          // server.close()'s callback waits for every accepted connection to end; the owner closes those itself,
          // so resolve once the listening socket is gone (next turn), not when the last peer hangs up.
          close: () =>
            new Promise<void>((done) => {
              server.close();
              setImmediate(done);
            }),
        });
      });
    });
  }
}
