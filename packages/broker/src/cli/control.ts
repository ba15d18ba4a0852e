// The node's control channel: brokerctl connects over a cookie-authenticated peer link (the same handshake cluster
// peers use; the cookie never crosses the wire) and sends one request per command.
import { PeerServer, TcpTransport, readCookieFile, type PeerLink } from '@warren/cluster-peer';
import type { BrokerNode } from '../server/node.ts';
import { runCommand } from './commands.ts';
import { CommandError, type CommandRequest, type ControlReply } from '../server/control-protocol.ts';
import { registerNode, unregisterNode } from '../server/node-registry.ts';

export {
  DEFAULT_DIST_PORT,
  PEER_HEARTBEAT_TICK_MS,
  NodeNameInUseError,
  claimNode,
  defaultCookieFile,
  lookupDataDir,
  lookupNode,
  registerDataDir,
  registerNode,
  registryDir,
  unregisterNode,
} from '../server/node-registry.ts';
export type { ControlReply };

export class ControlServer {
  private server: PeerServer | null = null;
  private readonly node: BrokerNode;
  private readonly onExit: () => void;
  private readonly warn: (line: string) => void;
  port = 0;

  /** warn receives refused control connections (a wrong cookie) and link errors. */
  constructor(node: BrokerNode, onExit: () => void, warn: (line: string) => void = () => {}) {
    this.node = node;
    this.onExit = onExit;
    this.warn = warn;
  }

  async listen(host: string, port: number, cookieFile: string): Promise<number> {
    const cookie = await readCookieFile(cookieFile);
    const node = this.node;
    const onExit = this.onExit;
    this.server = new PeerServer({
      nodeName: node.nodeName,
      cookie,
      transport: new TcpTransport(),
      logger: { debug() {}, info() {}, warn: (m: string) => this.warn(m), error: (m: string) => this.warn(m) },
      handler: {
        onMessage: () => {},
        onRequest: async (_link: PeerLink, request: unknown): Promise<ControlReply> => {
          try {
            const result = await runCommand(node, request as CommandRequest);
            if (result.exit) setTimeout(onExit, 50);
            return { ok: true, result };
          } catch (err) {
            if (err instanceof CommandError) return { ok: false, error: err.message, exitCode: err.exitCode };
            return { ok: false, error: (err as Error).message, exitCode: 70 };
          }
        },
      },
    });
    const addr = await this.server.listen({ host, port });
    this.port = addr.port;
    registerNode(node.nodeName, addr.port);
    return addr.port;
  }

  async close(): Promise<void> {
    unregisterNode(this.node.nodeName);
    await this.server?.close();
    this.server = null;
  }
}
