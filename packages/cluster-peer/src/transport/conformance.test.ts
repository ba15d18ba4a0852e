import { FakeClock } from '../fake-clock.ts';
import { transportConformance } from './conformance.ts';
import { MemoryNetwork } from './memory.ts';
import { TcpTransport } from './tcp.ts';

transportConformance('TcpTransport', async () => {
  const transport = new TcpTransport();
  const waitUntil = async (predicate: () => boolean): Promise<void> => {
    const deadline = Date.now() + 5000;
    await new Promise((r) => setTimeout(r, 1));
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('condition not met within 5 s');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  return {
    client: transport,
    server: transport,
    listenAddress: { host: '127.0.0.1', port: 0 },
    reach: (port) => ({ host: '127.0.0.1', port }),
    waitUntil,
    settle: (promise) => promise,
    close: async () => {},
  };
});

transportConformance('MemoryNetwork', async () => {
  const clock = new FakeClock();
  // Bandwidth-limited, so that a fast writer outruns the (simulated) network as it outruns a socket.
  const network = new MemoryNetwork({ clock, latencyMs: 2, jitterMs: 1, bytesPerMs: 100_000 });
  return {
    client: network.transport('a'),
    server: network.transport('b'),
    listenAddress: { host: 'b', port: 0 },
    reach: (port) => ({ host: 'b', port }),
    waitUntil: (predicate) => clock.advanceUntil(predicate, 60_000),
    settle: async (promise) => {
      let done = false;
      void promise.then(
        () => (done = true),
        () => (done = true),
      );
      await clock.advanceUntil(() => done, 60_000);
      return promise;
    },
    close: async () => {},
  };
});
