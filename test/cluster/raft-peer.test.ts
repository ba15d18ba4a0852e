// The metadata Raft carried over real cluster-peer links (PeerManager: cookie handshake, msgpack frames,
// heartbeats, reconnects) on the simulated network with a fake clock: what the broker does, minus the broker.
// Commands with Buffers and bigints cross the wire; a partition leaves the minority without a leader; a ram node
// that crashes comes back empty and catches up from a snapshot.
import { describe, expect, it } from 'vitest';
import { FakeClock, MemoryNetwork, PeerManager, silentLogger, type PeerLink } from '@warren/cluster-peer';
import { MemoryStorage, NoLeaderError, RaftNode, type RaftMessage, type RaftStorage } from '../../packages/broker/src/cluster/raft/index.ts';

interface Member {
  host: string;
  name: string;
  storage: RaftStorage;
  manager: PeerManager;
  raft: RaftNode;
  applied: unknown[];
}

const HOSTS = ['a', 'b', 'c', 'r'];
const DISC = ['rabbit@a', 'rabbit@b', 'rabbit@c'];

async function member(network: MemoryNetwork, clock: FakeClock, host: string, storage: RaftStorage): Promise<Member> {
  const name = `rabbit@${host}`;
  let raft: RaftNode | undefined;
  const manager = new PeerManager({
    nodeName: name,
    cookie: 'RAFTCOOKIE',
    transport: network.transport(host),
    clock,
    random: network.random,
    logger: silentLogger,
    handler: {
      onMessage(link: PeerLink, message: unknown) {
        const m = message as { type?: string; m?: RaftMessage };
        if (m.type === 'raft' && m.m !== undefined) raft?.receive(link.remoteNode, m.m);
      },
      onRequest() {
        return null;
      },
      onLinkUp() {},
      onLinkDown() {},
      onDrain() {},
    },
  });
  await manager.start();
  const applied: unknown[] = [];
  raft = new RaftNode({
    id: name,
    storage,
    clock,
    random: network.random,
    snapshotThreshold: 20,
    transport: {
      send(to, msg) {
        if (manager.link(to) === undefined) manager.connect(to);
        else manager.send(to, { type: 'raft', m: msg });
      },
    },
    apply: (command) => applied.push(command),
    snapshot: () => applied.slice(),
    restore: (data) => applied.splice(0, applied.length, ...(data as unknown[])),
  });
  for (const other of HOSTS) if (other !== host) manager.connect(`rabbit@${other}`);
  raft.start();
  return { host, name, storage, manager, raft, applied };
}

function leaderOf(members: Iterable<Member>): Member | undefined {
  for (const m of members) if (m.raft.isLeader()) return m;
  return undefined;
}

async function settle<T>(clock: FakeClock, p: Promise<T>, limitMs = 15_000): Promise<{ value?: T; error?: unknown }> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then((value) => (out = { value }), (error: unknown) => (out = { error }));
  await clock.advanceUntil(() => out !== undefined, limitMs);
  return out!;
}

describe('raft over cluster-peer links', () => {
  it('replicates over PeerManager, survives a partition and a ram node crash', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, seed: 11, latencyMs: 1, jitterMs: 2 });
    const members = new Map<string, Member>();
    for (const host of HOSTS) {
      const storage = new MemoryStorage();
      if (host !== 'r') RaftNode.bootstrap(storage, { voters: DISC, learners: [] });
      members.set(host, await member(network, clock, host, storage));
    }
    await clock.advanceUntil(() => leaderOf(members.values()) !== undefined, 10_000);
    const leader = leaderOf(members.values())!;
    expect((await settle(clock, leader.raft.addLearner('rabbit@r'))).value).toBeDefined();

    // Commands with binary and bigint fields cross the msgpack links intact.
    const cmd = { op: 'queue.declare', name: 'q', args: { 'x-max-length': 10n, blob: Buffer.from([1, 2, 3]) } };
    const fromRam = await settle(clock, members.get('r')!.raft.propose(cmd));
    expect(fromRam.value?.index).toBeGreaterThan(0);
    await clock.advance(500);
    for (const m of members.values()) expect(m.applied).toEqual([cmd]);

    // Partition the leader away with the ram node: that side has no leader and refuses changes.
    const others = DISC.filter((n) => n !== leader.name).map((n) => n.split('@')[1]!);
    network.partition([leader.host, 'r']);
    const minority = await settle(clock, members.get('r')!.raft.propose({ op: 'minority' }));
    expect(minority.error).toBeInstanceOf(NoLeaderError);
    await clock.advanceUntil(() => leaderOf(others.map((h) => members.get(h)!)) !== undefined, 10_000);
    for (let i = 0; i < 30; i++) void members.get(others[0]!)!.raft.propose({ op: 'majority', i });
    await clock.advance(2000);
    expect(members.get(others[1]!)!.applied).toHaveLength(31);
    expect(leader.raft.isLeader()).toBe(false);

    // Heal; the ram node crashes and restarts empty: it catches up (from a snapshot: the log was compacted).
    network.heal();
    const r = members.get('r')!;
    network.crash('r');
    r.raft.stop();
    await r.manager.stop();
    await clock.advance(1000);
    network.restart('r');
    const fresh = await member(network, clock, 'r', new MemoryStorage());
    members.set('r', fresh);
    await clock.advanceUntil(() => fresh.applied.length === 31, 20_000);
    expect(fresh.raft.status().snapshotIndex).toBeGreaterThan(0);
    await clock.advanceUntil(() => members.get(leader.host)!.applied.length === 31, 20_000);
    const reference = JSON.stringify(members.get(others[0]!)!.applied, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const m of members.values()) {
      expect(JSON.stringify(m.applied, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toBe(reference);
    }
    for (const m of members.values()) {
      m.raft.stop();
      await m.manager.stop();
    }
  }, 30_000);
});
