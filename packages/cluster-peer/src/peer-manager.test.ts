import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import { MemoryNetwork } from './transport/memory.ts';
import type { MemoryNetworkOptions } from './transport/memory.ts';
import { simNode } from './test-support.ts';
import type { SimNode } from './test-support.ts';

let nodes: SimNode[] = [];
afterEach(async () => {
  for (const n of nodes) await n.manager.stop();
  nodes = [];
});

async function cluster(hosts: string[], options: Partial<MemoryNetworkOptions> = {}, cookies: Record<string, string> = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, seed: 9, ...options });
  const byHost: Record<string, SimNode> = {};
  for (const host of hosts) {
    const node = await simNode(network, clock, host, cookies[host] === undefined ? {} : { cookie: cookies[host] });
    byHost[host] = node;
    nodes.push(node);
  }
  return { clock, network, n: byHost };
}

describe('PeerManager', { timeout: 10_000 }, () => {
  it('refuses a peer with another cookie, with a clear log line on both sides, and keeps the cookie off the wire', async () => {
    const { clock, network, n } = await cluster(['a', 'b'], {}, { a: 'COOKIE-OF-A', b: 'COOKIE-OF-B' });
    const wire: Buffer[] = [];
    network.tap = (_from, _to, bytes) => wire.push(bytes);
    n['a']!.manager.connect('rabbit@b');
    await clock.advance(100);
    expect(n['a']!.manager.link('rabbit@b')).toBeUndefined();
    expect(n['b']!.manager.link('rabbit@a')).toBeUndefined();
    expect(n['b']!.logger.some(/^error peer rabbit@a: cookie mismatch \(connection from a:\d+ refused\)$/)).toBe(true);
    expect(n['a']!.logger.some(/^error peer rabbit@b: cookie mismatch \(connection to b:25672 refused by the peer\)$/)).toBe(true);
    const bytes = Buffer.concat(wire);
    expect(bytes.length).toBeGreaterThan(0);
    for (const cookie of ['COOKIE-OF-A', 'COOKIE-OF-B']) expect(bytes.includes(Buffer.from(cookie))).toBe(false);
    expect(n['a']!.handler.events).toEqual([]);
    // It keeps retrying (the cookie may be fixed), with backoff: a handful of attempts in 10 s, not hundreds.
    await clock.advance(10_000);
    const attempts = n['b']!.logger.lines.filter((l) => l.includes('cookie mismatch')).length;
    expect(attempts).toBeGreaterThan(2);
    expect(attempts).toBeLessThan(15);
  });

  it('keeps one link when two nodes dial each other at the same time: the one dialed by the lower name', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { clock, n } = await cluster(['a', 'b'], { seed, latencyMs: 3, jitterMs: 4 });
      n['a']!.manager.connect('rabbit@b');
      n['b']!.manager.connect('rabbit@a');
      await clock.advance(3_000);
      const ab = n['a']!.manager.link('rabbit@b');
      const ba = n['b']!.manager.link('rabbit@a');
      expect(ab?.isOpen).toBe(true);
      expect(ba?.isOpen).toBe(true);
      expect(ab!.initiator).toBe(true);
      expect(ba!.initiator).toBe(false);
      expect(ab!.localAddress).toBe(ba!.remoteAddress);
      // The race really happened: a refused b's link by the tie-break, and b learned why.
      expect(n['a']!.logger.some(/^debug peer rabbit@b: a link with this node already exists and wins the tie-break/)).toBe(true);
      expect(n['b']!.logger.some(/^debug peer rabbit@a: refused: a link with this node already exists/)).toBe(true);
      expect(n['a']!.handler.events).toEqual(['up rabbit@b']);
      expect(n['b']!.handler.events).toEqual(['up rabbit@a']);
      // Traffic flows and the link stays.
      ab!.send('hi');
      await clock.advance(5_000);
      expect(n['b']!.handler.messages.map((m) => m.message)).toEqual(['hi']);
      expect(n['a']!.manager.link('rabbit@b')).toBe(ab);
      for (const node of Object.values(n)) await node.manager.stop();
    }
  });

  it('reconnects when the peer restarts, and the new incarnation replaces the stale link', async () => {
    const { clock, network, n } = await cluster(['a', 'b']);
    n['a']!.manager.connect('rabbit@b');
    await clock.advanceUntil(() => n['a']!.manager.link('rabbit@b') !== undefined, 1000);
    const before = n['a']!.manager.link('rabbit@b')!;
    network.crash('b');
    await n['b']!.manager.stop();
    await clock.advance(50);
    expect(n['a']!.manager.link('rabbit@b')).toBeUndefined();
    expect(n['a']!.handler.events).toEqual(['up rabbit@b', 'down rabbit@b LINK_CLOSED']);
    await clock.advance(3_000);
    network.restart('b');
    const restarted = await simNode(network, clock, 'b');
    nodes.push(restarted);
    await clock.advanceUntil(() => n['a']!.manager.link('rabbit@b') !== undefined, 10_000);
    const after = n['a']!.manager.link('rabbit@b')!;
    expect(after.remoteIncarnation).not.toBe(before.remoteIncarnation);
    const reply = after.request({ echo: 'back' });
    await clock.advance(10);
    expect(await reply).toBe('back');
  });

  it('replaces a stale link at once when a restarted peer dials in before heartbeats notice', async () => {
    const { clock, network, n } = await cluster(['a', 'b']);
    // a (the lower name) dials, so by the tie-break alone a would refuse b's new link as a duplicate.
    n['a']!.manager.connect('rabbit@b');
    await clock.advanceUntil(() => n['a']!.manager.link('rabbit@b') !== undefined, 1000);
    const stale = n['a']!.manager.link('rabbit@b')!;
    expect(stale.initiator).toBe(true);
    network.crash('b', { silent: true });
    await n['b']!.manager.stop();
    network.restart('b');
    const restarted = await simNode(network, clock, 'b');
    nodes.push(restarted);
    restarted.manager.connect('rabbit@a');
    await clock.advance(100);
    expect(stale.isOpen).toBe(false);
    expect(n['a']!.manager.link('rabbit@b')?.remoteIncarnation).toBe(restarted.manager.incarnation);
  });

  it('notices a partition by heartbeat and relinks after heal', async () => {
    const { clock, network, n } = await cluster(['a', 'b', 'c']);
    for (const peer of ['rabbit@b', 'rabbit@c']) n['a']!.manager.connect(peer);
    n['b']!.manager.connect('rabbit@c');
    await clock.advanceUntil(() => n['a']!.manager.connectedNodes().length === 2 && n['b']!.manager.connectedNodes().length === 2, 2000);
    network.partition(['c'], ['a', 'b']);
    await clock.advance(6_000);
    expect(n['a']!.manager.connectedNodes()).toEqual(['rabbit@b']);
    expect(n['c']!.manager.connectedNodes()).toEqual([]);
    expect(n['a']!.handler.events).toContain('down rabbit@c HEARTBEAT_TIMEOUT');
    network.heal();
    await clock.advance(8_000);
    expect(n['a']!.manager.connectedNodes()).toEqual(['rabbit@b', 'rabbit@c']);
    expect(n['c']!.manager.connectedNodes()).toEqual(['rabbit@a', 'rabbit@b']);
  });

  it('survives a one-way cut: the deaf side times out, the other learns from its reset, both relink after heal', async () => {
    const { clock, network, n } = await cluster(['a', 'b']);
    n['a']!.manager.connect('rabbit@b');
    await clock.advanceUntil(() => n['b']!.manager.link('rabbit@a') !== undefined, 1000);
    network.cut('a', 'b');
    await clock.advance(6_000);
    // b heard nothing from a and gave up on it; its reset travelled b -> a, so a knows too.
    expect(n['b']!.handler.events).toEqual(['up rabbit@a', 'down rabbit@a HEARTBEAT_TIMEOUT']);
    expect(n['a']!.handler.events[1]).toMatch(/^down rabbit@b (LINK_CLOSED|HEARTBEAT_TIMEOUT)$/);
    // a keeps redialing, but a connect needs both directions.
    expect(n['a']!.manager.link('rabbit@b')).toBeUndefined();
    network.heal();
    await clock.advance(12_000);
    expect(n['a']!.manager.connectedNodes()).toEqual(['rabbit@b']);
  });

  it('disconnect() stops redialing; send and waitForLink report a missing link', async () => {
    const { clock, network, n } = await cluster(['a', 'b']);
    const a = n['a']!.manager;
    expect(() => a.send('rabbit@b', 'x')).toThrowError(expect.objectContaining({ code: 'NOT_CONNECTED' }) as Error);
    const waiting = a.waitForLink('rabbit@b', 500);
    const waitingCheck = expect(waiting).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    await clock.advance(500);
    await waitingCheck;
    a.connect('rabbit@b');
    await clock.advanceUntil(() => a.link('rabbit@b') !== undefined, 1000);
    const connects = (): number => network.trace.filter((l) => / connect a:\d+ -> b:25672$/.test(l)).length;
    const before = connects();
    a.disconnect('rabbit@b');
    await clock.advance(20_000);
    expect(a.link('rabbit@b')).toBeUndefined();
    expect(connects()).toBe(before);
    expect(n['b']!.logger.some(/peer rabbit@a closed the link: disconnected by the local node/)).toBe(true);
    expect(() => a.connect('rabbit@a')).toThrowError(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    expect(() => a.connect('no-at-sign')).toThrowError(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
  });

  it('replays a whole cluster run identically from the same seed', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const { clock, network, n } = await cluster(['a', 'b', 'c'], { seed, latencyMs: 2, jitterMs: 5, loss: 0.05 });
      const log: string[] = [];
      for (const [host, node] of Object.entries(n)) {
        for (const peer of ['a', 'b', 'c']) if (peer !== host) node.manager.connect(`rabbit@${peer}`);
      }
      await clock.advance(1000);
      for (let i = 0; i < 50; i++) {
        const from = n[['a', 'b', 'c'][i % 3]!]!.manager;
        const to = `rabbit@${['b', 'c', 'a'][i % 3]}`;
        from.link(to)?.send({ i });
        if (i === 20) network.partition(['b']);
        if (i === 30) network.heal();
        await clock.advance(200);
      }
      await clock.advance(10_000);
      for (const node of Object.values(n)) {
        log.push(...node.handler.events, ...node.handler.messages.map((m) => `${m.from}:${JSON.stringify(m.message)}`));
        await node.manager.stop();
      }
      return [...network.trace, ...log];
    };
    const first = await run(11);
    expect(await run(11)).toEqual(first);
    expect(await run(12)).not.toEqual(first);
  });
});
