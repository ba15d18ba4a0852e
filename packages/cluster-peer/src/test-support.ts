// Helpers shared by this package's tests (not exported from index.ts).
import type { Logger } from './logger.ts';
import { PeerManager } from './peer-manager.ts';
import type { PeerManagerOptions } from './peer-manager.ts';
import { DEFERRED, type PeerHandler, type PeerLink } from './peer-link.ts';
import type { PeerError } from './errors.ts';
import type { FakeClock } from './fake-clock.ts';
import type { MemoryNetwork } from './transport/memory.ts';

export class CapturingLogger implements Logger {
  readonly lines: string[] = [];
  debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
  some(pattern: RegExp): boolean {
    return this.lines.some((line) => pattern.test(line));
  }
}

/**
 * A handler that records what it sees and answers requests {echo: x} with x, {fail: msg} with an error; {later: x}
 * is answered by the test (DEFERRED, kept in `later`).
 */
export class RecordingHandler implements PeerHandler {
  readonly messages: Array<{ from: string; message: unknown }> = [];
  readonly later: Array<{ link: PeerLink; id: number; value: unknown }> = [];
  readonly events: string[] = [];
  readonly downErrors: Array<PeerError | undefined> = [];

  onMessage(link: PeerLink, message: unknown): void {
    this.messages.push({ from: link.remoteNode, message });
  }

  onRequest(link: PeerLink, request: unknown, id: number): unknown {
    const r = request as { echo?: unknown; fail?: string; delayForever?: boolean; later?: unknown };
    if (r.later !== undefined) {
      this.later.push({ link, id, value: r.later });
      return DEFERRED;
    }
    if (r.fail !== undefined) throw Object.assign(new Error(r.fail), { code: 'E_TEST' });
    if (r.delayForever === true) return new Promise(() => {});
    return r.echo;
  }

  onLinkUp(link: PeerLink): void {
    this.events.push(`up ${link.remoteNode}`);
  }

  onLinkDown(link: PeerLink, error: PeerError | undefined): void {
    this.events.push(`down ${link.remoteNode} ${error?.code ?? 'local'}`);
    this.downErrors.push(error);
  }
}

export interface SimNode {
  readonly manager: PeerManager;
  readonly logger: CapturingLogger;
  readonly handler: RecordingHandler;
}

/** A PeerManager for rabbit@<host> on the simulated network, listening on 25672 of <host>. */
export async function simNode(
  network: MemoryNetwork,
  clock: FakeClock,
  host: string,
  overrides: Partial<PeerManagerOptions> = {},
): Promise<SimNode> {
  const logger = new CapturingLogger();
  const handler = new RecordingHandler();
  const manager = new PeerManager({
    nodeName: `rabbit@${host}`,
    cookie: 'SIMULATEDCOOKIE',
    transport: network.transport(host),
    handler,
    clock,
    random: network.random,
    logger,
    ...overrides,
  });
  await manager.start();
  return { manager, logger, handler };
}
