// One behavioural suite every Transport must pass (aedes-style: each backend runs the same tests), so the
// simulated network cannot drift from what TCP does in the ways peer links depend on.
import { afterEach, describe, expect, it } from 'vitest';
import type { Address, Connection, ConnectionHandler, Transport } from './transport.ts';

export interface TransportHarness {
  readonly client: Transport;
  readonly server: Transport;
  /** Address to listen on (port 0 = any) and how to reach a listener bound at `port`. */
  readonly listenAddress: Address;
  reach(port: number): Address;
  /** Lets time pass (real or simulated) until predicate() holds; throws after a bound. */
  waitUntil(predicate: () => boolean): Promise<void>;
  /** Resolves `promise` while letting time pass. */
  settle<T>(promise: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

class Probe implements ConnectionHandler {
  data: Buffer[] = [];
  drains = 0;
  closed: Error | undefined | 'open' = 'open';
  onData(chunk: Buffer): void {
    this.data.push(Buffer.from(chunk));
  }
  onDrain(): void {
    this.drains++;
  }
  onClose(error: Error | undefined): void {
    this.closed = error;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.data);
  }
}

export function transportConformance(name: string, makeHarness: () => Promise<TransportHarness>): void {
  describe(`Transport conformance: ${name}`, { timeout: 10_000 }, () => {
    let harness: TransportHarness | null = null;
    afterEach(async () => {
      await harness?.close();
      harness = null;
    });

    async function connected() {
      const h = (harness = await makeHarness());
      const accepted: Connection[] = [];
      const listener = await h.server.listen(h.listenAddress, (c) => accepted.push(c));
      const client = await h.settle(h.client.connect(h.reach(listener.address.port), 2000));
      await h.waitUntil(() => accepted.length === 1);
      return { h, listener, client, server: accepted[0]! };
    }

    it('carries bytes both ways, in order, and delivers what arrived before setHandler', async () => {
      const { h, listener, client, server } = await connected();
      const clientProbe = new Probe();
      client.setHandler(clientProbe);
      const payload = Buffer.alloc(200_000);
      for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
      client.write(payload.subarray(0, 1000));
      client.write(payload.subarray(1000));
      await h.waitUntil(() => true);
      const serverProbe = new Probe();
      server.setHandler(serverProbe);
      server.write(Buffer.from('pong'));
      await h.waitUntil(() => serverProbe.bytes.length === payload.length && clientProbe.bytes.length === 4);
      expect(serverProbe.bytes.equals(payload)).toBe(true);
      expect(clientProbe.bytes.toString()).toBe('pong');
      expect(client.remoteAddress).toBe(server.localAddress);
      await listener.close();
    });

    it('end(): the peer gets the last bytes, then a close without error', async () => {
      const { h, listener, client, server } = await connected();
      const serverProbe = new Probe();
      server.setHandler(serverProbe);
      client.setHandler(new Probe());
      client.write(Buffer.from('bye'));
      client.end();
      await h.waitUntil(() => serverProbe.closed !== 'open');
      expect(serverProbe.bytes.toString()).toBe('bye');
      expect(serverProbe.closed).toBeUndefined();
      await listener.close();
    });

    it('destroy(): both ends see the connection close', async () => {
      const { h, listener, client, server } = await connected();
      const serverProbe = new Probe();
      const clientProbe = new Probe();
      server.setHandler(serverProbe);
      client.setHandler(clientProbe);
      client.destroy();
      await h.waitUntil(() => serverProbe.closed !== 'open' && clientProbe.closed !== 'open');
      await listener.close();
    });

    it('refuses a connect to a port with no listener', async () => {
      const h = (harness = await makeHarness());
      const listener = await h.server.listen(h.listenAddress, () => {});
      const port = listener.address.port;
      await listener.close();
      await expect(h.settle(h.client.connect(h.reach(port), 2000))).rejects.toThrow(/ECONNREFUSED/);
    });

    it('write() returns false when the peer does not keep up, and onDrain follows once it does', async () => {
      const { h, listener, client, server } = await connected();
      const clientProbe = new Probe();
      client.setHandler(clientProbe);
      const chunk = Buffer.alloc(64 * 1024);
      let writes = 0;
      while (client.write(chunk)) if (++writes > 10_000) throw new Error('write() never returned false');
      expect(client.writableLength).toBeGreaterThan(0);
      const serverProbe = new Probe();
      server.setHandler(serverProbe);
      await h.waitUntil(() => clientProbe.drains > 0);
      await h.waitUntil(() => serverProbe.bytes.length === (writes + 1) * chunk.length);
      await listener.close();
    });
  });
}
