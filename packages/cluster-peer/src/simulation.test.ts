// Seeded chaos on the simulated network: random partitions, one-way cuts, loss, latency changes and crashes,
// then calm. Whatever happened, every pair of live nodes must end with exactly one shared link, to the current
// incarnation of the other, and a run must replay identically from its seed.
import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import { SeededRandom } from './random.ts';
import { MemoryNetwork } from './transport/memory.ts';
import { simNode } from './test-support.ts';
import type { SimNode } from './test-support.ts';

const HOSTS = ['a', 'b', 'c', 'd'];

async function chaos(seed: number): Promise<{ trace: string[]; problems: string[] }> {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, seed, latencyMs: 1, jitterMs: 2 });
  const dice = new SeededRandom(seed * 7919);
  const nodes = new Map<string, SimNode>();
  const boot = async (host: string): Promise<void> => {
    const node = await simNode(network, clock, host);
    nodes.set(host, node);
    for (const peer of HOSTS) if (peer !== host) node.manager.connect(`rabbit@${peer}`);
  };
  for (const host of HOSTS) await boot(host);
  await clock.advance(2_000);

  const pick = (): string => HOSTS[dice.uint32() % HOSTS.length]!;
  for (let step = 0; step < 25; step++) {
    const roll = dice.uint32() % 7;
    if (roll === 0) network.partition(HOSTS.filter(() => dice.float() < 0.5));
    else if (roll === 1) network.cut(pick(), pick());
    else if (roll === 2) network.heal();
    else if (roll === 3) network.setLink(pick(), pick(), { loss: dice.float() * 0.3, lossMode: dice.float() < 0.3 ? 'reset' : 'retransmit' });
    else if (roll === 4) network.setLink(pick(), pick(), { latencyMs: 1 + dice.uint32() % 300, jitterMs: dice.uint32() % 50 });
    else if (roll === 5) {
      const host = pick();
      network.crash(host, { silent: dice.float() < 0.5 });
      await nodes.get(host)!.manager.stop();
      await clock.advance(dice.uint32() % 3_000);
      network.restart(host);
      await boot(host);
    } else {
      // Traffic, so that loss and cuts hit real frames.
      for (const [host, node] of nodes) for (const peer of HOSTS) if (peer !== host) node.manager.link(`rabbit@${peer}`)?.send({ step, from: host });
    }
    await clock.advance(dice.uint32() % 4_000);
  }

  network.heal();
  for (const a of HOSTS) for (const b of HOSTS) if (a < b) network.setLink(a, b, { loss: 0, latencyMs: 1, jitterMs: 0 });
  await clock.advance(30_000);

  const problems: string[] = [];
  for (const x of HOSTS) {
    for (const y of HOSTS) {
      if (x === y) continue;
      const xy = nodes.get(x)!.manager.link(`rabbit@${y}`);
      const yx = nodes.get(y)!.manager.link(`rabbit@${x}`);
      if (xy === undefined || yx === undefined) problems.push(`${x}-${y}: no link`);
      else if (xy.localAddress !== yx.remoteAddress) problems.push(`${x}-${y}: the two ends are different connections`);
      else if (xy.remoteIncarnation !== nodes.get(y)!.manager.incarnation) problems.push(`${x}-${y}: link to a stale incarnation`);
    }
  }
  for (const node of nodes.values()) await node.manager.stop();
  return { trace: network.trace, problems };
}

describe('simulated chaos', { timeout: 20_000 }, () => {
  it('always converges to one shared link per node pair once the network is calm', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { problems } = await chaos(seed);
      expect(problems, `seed ${seed}`).toEqual([]);
    }
  });

  it('replays a chaotic run identically from its seed', async () => {
    const first = await chaos(42);
    expect(first.trace.length).toBeGreaterThan(1000);
    expect((await chaos(42)).trace).toEqual(first.trace);
  });
});
