// The node's control channel: brokerctl connects over a cookie-authenticated peer link (the same handshake cluster
// peers use; the cookie never crosses the wire) and sends one request per command.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerServer, TcpTransport, readCookieFile, type PeerLink } from '@warren/cluster-peer';
import type { BrokerNode } from '../server/node.ts';
import { CommandError, runCommand, type CommandRequest, type CommandResult } from './commands.ts';

export const DEFAULT_DIST_PORT = 25672;

export interface ControlReply {
  ok: boolean;
  result?: CommandResult;
  error?: string;
  exitCode?: number;
}

/** Where the cookie lives unless configured: like Erlang's ~/.erlang.cookie. */
export function defaultCookieFile(): string {
  return process.env['WARREN_COOKIE_FILE'] ?? join(process.env['HOME'] ?? homedir(), '.erlang.cookie');
}

/** A one-host stand-in for epmd: node name -> control port, so brokerctl -n finds nodes on non-default ports. */
export function registryDir(): string {
  return process.env['WARREN_NODE_REGISTRY'] ?? join(tmpdir(), 'warren-nodes');
}

export function registerNode(node: string, port: number): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  // written aside and renamed into place: a brokerctl or a peer looking the node up never reads a half-written file
  const path = join(registryDir(), `${node}.port`);
  writeFileSync(`${path}.${process.pid}.tmp`, `${port}\n`);
  renameSync(`${path}.${process.pid}.tmp`, path);
}

/**
 * A node's data directory, kept in the registry after the node stops (unlike its port): the offline commands
 * (brokerctl force_boot on a stopped node, as rabbitmqctl's) find it there.
 */
export function registerDataDir(node: string, dir: string): void {
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  const path = join(registryDir(), `${node}.datadir`);
  writeFileSync(`${path}.${process.pid}.tmp`, `${dir}\n`);
  renameSync(`${path}.${process.pid}.tmp`, path);
}

export function lookupDataDir(node: string): string | null {
  try {
    const d = readFileSync(join(registryDir(), `${node}.datadir`), 'utf8').trim();
    return d === '' ? null : d;
  } catch {
    return null;
  }
}

export function unregisterNode(node: string): void {
  rmSync(join(registryDir(), `${node}.port`), { force: true });
}

export function lookupNode(node: string): number | null {
  try {
    const n = Number(readFileSync(join(registryDir(), `${node}.port`), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

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
