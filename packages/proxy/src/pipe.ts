/**
 * Joins two TCP sockets both ways.
 *
 * - Data: relay() each way (see relay.ts): reads into a reused buffer and stops reading one side while a write to
 *   the other side is in flight (backpressure).
 * - Half-close: both sockets are opened with allowHalfOpen, so a FIN from one side becomes end() (a FIN) on the
 *   other while the opposite direction keeps flowing; the sockets close once both directions have ended.
 * - Timeouts: haproxy's `timeout client` / `timeout server` are inactivity timeouts on each side; `timeout
 *   client-fin` / `server-fin` replace them once that side has half-closed. A zero/absent timeout means none.
 * - Errors or a reset on either side destroy both.
 */
import type { Socket } from 'node:net';
import { relay } from './relay.ts';

export interface PipeTimeouts {
  client: number | null;
  server: number | null;
  clientFin: number | null;
  serverFin: number | null;
}

export type PipeEnd = 'closed' | 'client-timeout' | 'server-timeout' | 'client-error' | 'server-error';

/** Call once per session, after removing any listeners of the connect phase from the client socket. */
export function pipeBoth(client: Socket, server: Socket, t: PipeTimeouts, onDone: (how: PipeEnd) => void): (why: PipeEnd) => void {
  let how: PipeEnd | null = null;
  let closed = 0;
  const kill = (why: PipeEnd): void => {
    how ??= why;
    client.destroy();
    server.destroy();
  };
  const onClose = (): void => {
    if (++closed === 2) onDone(how ?? 'closed');
  };
  client.on('error', () => kill('client-error'));
  server.on('error', () => kill('server-error'));
  // A side that closes before it has sent its FIN was reset or destroyed: take the other side down too. A side that
  // closes after both directions ended is a normal close, and the other side closes by itself.
  client.on('close', () => {
    if (!client.readableEnded) kill('client-error');
    onClose();
  });
  server.on('close', () => {
    if (!server.readableEnded) kill('server-error');
    onClose();
  });
  if (t.client) {
    client.setTimeout(t.client);
    client.on('timeout', () => kill('client-timeout'));
  }
  if (t.server) {
    server.setTimeout(t.server);
    server.on('timeout', () => kill('server-timeout'));
  }
  client.on('end', () => {
    if (t.clientFin) {
      client.setTimeout(t.clientFin);
      if (!t.client) client.on('timeout', () => kill('client-timeout'));
    }
  });
  server.on('end', () => {
    if (t.serverFin) {
      server.setTimeout(t.serverFin);
      if (!t.server) server.on('timeout', () => kill('server-timeout'));
    }
  });
  relay(client, server);
  relay(server, client);
  return kill;
}
