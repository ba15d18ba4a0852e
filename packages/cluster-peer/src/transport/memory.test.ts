import { describe, expect, it } from 'vitest';
import { FakeClock } from '../fake-clock.ts';
import { MemoryNetwork } from './memory.ts';
import type { MemoryNetworkOptions } from './memory.ts';
import type { Connection, ConnectionHandler } from './transport.ts';

class Recorder implements ConnectionHandler {
  readonly chunks: Array<[number, string]> = [];
  drains = 0;
  closed: Error | undefined | 'open' = 'open';
  constructor(private readonly clock: FakeClock) {}
  onData(chunk: Buffer): void {
    this.chunks.push([this.clock.now(), chunk.toString()]);
  }
  onDrain(): void {
    this.drains++;
  }
  onClose(error: Error | undefined): void {
    this.closed = error;
  }
  get text(): string {
    return this.chunks.map(([, t]) => t).join('');
  }
}

async function pair(options: Partial<MemoryNetworkOptions> = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, ...options });
  let server: Connection | undefined;
  const serverSide = new Recorder(clock);
  await network.transport('b').listen({ host: 'b', port: 9 }, (c) => {
    server = c;
    c.setHandler(serverSide);
  });
  const connecting = network.transport('a').connect({ host: 'b', port: 9 }, 1000);
  await clock.advance(100);
  const client = await connecting;
  const clientSide = new Recorder(clock);
  client.setHandler(clientSide);
  return { clock, network, client, server: server!, clientSide, serverSide };
}

describe('MemoryNetwork', () => {
  it('delivers bytes after the link latency, in order, even with jitter', async () => {
    const { clock, client, serverSide } = await pair({ latencyMs: 5, jitterMs: 20, seed: 3 });
    const start = clock.now();
    for (let i = 0; i < 50; i++) client.write(Buffer.from(`${i},`));
    await clock.advance(100);
    expect(serverSide.text).toBe(Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
    expect(serverSide.chunks[0]![0]).toBeGreaterThanOrEqual(start + 5);
  });

  it('refuses a connect to a port nobody listens on, and times out one across a partition', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock });
    network.transport('b');
    const refused = network.transport('a').connect({ host: 'b', port: 1 }, 1000);
    const refusedCheck = expect(refused).rejects.toThrow('ECONNREFUSED');
    await clock.advance(10);
    await refusedCheck;
    await network.transport('b').listen({ host: 'b', port: 1 }, () => {});
    network.partition(['a'], ['b']);
    const timedOut = network.transport('a').connect({ host: 'b', port: 1 }, 1000);
    let settled = false;
    timedOut.catch(() => (settled = true));
    await clock.advance(999);
    expect(settled).toBe(false);
    const timedOutCheck = expect(timedOut).rejects.toThrow('ETIMEDOUT');
    await clock.advance(1);
    await timedOutCheck;
  });

  it('holds bytes across a partition and delivers them, in order, after heal', async () => {
    const { clock, network, client, serverSide } = await pair();
    client.write(Buffer.from('before;'));
    await clock.advance(10);
    network.partition(['a'], ['b']);
    client.write(Buffer.from('during;'));
    await clock.advance(10_000);
    expect(serverSide.text).toBe('before;');
    network.heal();
    client.write(Buffer.from('after;'));
    await clock.advance(10);
    expect(serverSide.text).toBe('before;during;after;');
  });

  it('keeps stream order when a partition catches bytes in flight behind bytes sent during it', async () => {
    const { clock, network, client, serverSide } = await pair({ latencyMs: 10 });
    client.write(Buffer.from('1;'));
    await clock.advance(5);
    network.partition(['a'], ['b']);
    client.write(Buffer.from('2;'));
    await clock.advance(100);
    network.heal();
    client.write(Buffer.from('3;'));
    await clock.advance(100);
    expect(serverSide.text).toBe('1;2;3;');
  });

  it('crash: the peer sees a reset, or nothing when silent; a restarted host resets old connections', async () => {
    const loud = await pair();
    loud.network.crash('b');
    await loud.clock.advance(10);
    expect((loud.clientSide.closed as Error).message).toContain('ECONNRESET');
    expect((loud.serverSide.closed as Error).message).toContain('ECRASHED');

    const silent = await pair();
    silent.network.crash('b', { silent: true });
    silent.client.write(Buffer.from('anyone?'));
    await silent.clock.advance(1000);
    expect(silent.clientSide.closed).toBe('open');
    silent.network.restart('b');
    silent.client.write(Buffer.from('anyone now?'));
    await silent.clock.advance(10);
    expect((silent.clientSide.closed as Error).message).toContain('ECONNRESET');
  });

  it('end() delivers queued bytes, then closes both ends without error', async () => {
    const { clock, client, clientSide, serverSide } = await pair();
    client.write(Buffer.from('last words'));
    client.end();
    await clock.advance(10);
    expect(serverSide.text).toBe('last words');
    expect(serverSide.closed).toBeUndefined();
    expect(clientSide.closed).toBeUndefined();
  });

  it('applies backpressure: write() returns false past bufferBytes, onDrain once bytes drain', async () => {
    const { clock, client, clientSide, serverSide } = await pair({ bufferBytes: 1000, bytesPerMs: 100 });
    const results: boolean[] = [];
    for (let i = 0; i < 6; i++) results.push(client.write(Buffer.alloc(300, 'x')));
    expect(results).toEqual([true, true, true, false, false, false]);
    expect(client.writableLength).toBe(1800);
    await clock.advance(100);
    expect(clientSide.drains).toBe(1);
    expect(serverSide.text.length).toBe(1800);
    expect(client.writableLength).toBe(0);
  });

  it('loss in retransmit mode delays a chunk and everything behind it; reset mode kills the connection', async () => {
    const lossy = await pair({ loss: 1, retransmitMs: 200 });
    const start = lossy.clock.now();
    lossy.client.write(Buffer.from('a'));
    await lossy.clock.advance(500);
    expect(lossy.serverSide.chunks[0]![0] - start).toBeGreaterThanOrEqual(200);
    const fatal = await pair();
    fatal.network.setLink('a', 'b', { loss: 1, lossMode: 'reset' });
    fatal.client.write(Buffer.from('a'));
    await fatal.clock.advance(10);
    expect(fatal.serverSide.text).toBe('');
    expect(fatal.serverSide.closed).toBeInstanceOf(Error);
    expect(fatal.clientSide.closed).toBeInstanceOf(Error);
  });

  it('is deterministic: the same seed gives the same trace, another seed another trace', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const { clock, network, client, server } = await pair({ seed, latencyMs: 2, jitterMs: 10, loss: 0.2 });
      for (let i = 0; i < 30; i++) {
        client.write(Buffer.alloc(1 + i));
        server.write(Buffer.alloc(2 + i));
        if (i === 10) network.partition(['a']);
        if (i === 20) network.heal();
        await clock.advance(3);
      }
      await clock.advance(2000);
      return network.trace;
    };
    const first = await run(1);
    expect(first.length).toBeGreaterThan(100);
    expect(await run(1)).toEqual(first);
    expect(await run(2)).not.toEqual(first);
  });
});
