// A minimal node process for the black-box tests: one PeerManager over real TCP, driven by JSON lines on stdin,
// reporting JSON lines on stdout; the library's own log lines go to stderr.
//   env WARREN_PEER_NODE = {"nodeName", "cookieFile", "port", "peers": {"node": port}, "tickMs"?}
//   stdin  {"cmd":"request","node":..,"body":..} | {"cmd":"send",...} | {"cmd":"exit"}
//   stdout {"event":"listening","port"} | {"event":"up"|"down","node","code"?} | {"event":"reply","body"|"error"}
//          | {"event":"message","from","body"}
import { createInterface } from 'node:readline';
import { PeerManager, readCookieFile, TcpTransport } from '../../packages/cluster-peer/src/index.ts';
import type { PeerLink } from '../../packages/cluster-peer/src/index.ts';

interface NodeConfig {
  nodeName: string;
  cookieFile: string;
  port: number;
  peers: Record<string, number>;
  tickMs?: number;
}

function emit(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env['WARREN_PEER_NODE'] ?? '{}') as NodeConfig;
  let cookie: string;
  try {
    cookie = await readCookieFile(config.cookieFile);
  } catch (error) {
    process.stderr.write(`fatal: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const manager = new PeerManager({
    nodeName: config.nodeName,
    cookie,
    transport: new TcpTransport(),
    listen: { host: '127.0.0.1', port: config.port },
    resolve: (node) => ({ host: '127.0.0.1', port: config.peers[node] ?? 1 }),
    heartbeatTickMs: config.tickMs ?? 250,
    reconnectMaxMs: 500,
    handler: {
      onMessage: (link: PeerLink, body: unknown) => emit({ event: 'message', from: link.remoteNode, body }),
      onRequest: (_link: PeerLink, body: unknown) => ({ echoedBy: config.nodeName, body }),
      onLinkUp: (link: PeerLink) => emit({ event: 'up', node: link.remoteNode }),
      onLinkDown: (link, error) => emit({ event: 'down', node: link.remoteNode, code: error?.code }),
    },
  });
  const address = await manager.start();
  emit({ event: 'listening', port: address!.port });
  for (const node of Object.keys(config.peers)) manager.connect(node);

  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as { cmd: string; node?: string; body?: unknown };
    if (command.cmd === 'exit') break;
    if (command.cmd === 'send') manager.send(command.node!, command.body);
    if (command.cmd === 'request') {
      try {
        emit({ event: 'reply', body: await manager.request(command.node!, command.body, { timeoutMs: 2000 }) });
      } catch (error) {
        emit({ event: 'reply', error: (error as Error).message });
      }
    }
  }
  await manager.stop();
  process.exit(0);
}

void main();
