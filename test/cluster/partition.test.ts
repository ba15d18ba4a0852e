// Network partitions between broker nodes in network namespaces the test creates (a bridge, one namespace per
// node; the cut is the node's bridge port going down). Skipped with a message when not root or without ip netns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labUnavailable, sleep, waitFor, type Proc } from '../vrrp/lab.ts';
import { BROKER_BIN, BROKERCTL_BIN } from '../helpers/broker-process.ts';
import { pidNodes } from '../helpers/pids.ts';

const why = labUnavailable();
if (why) console.log(`cluster partition tests SKIPPED: ${why}`);

/**
 * Three broker nodes in their own namespaces on one bridge, joined as the seeds do (the first a disc node, the others
 * ram nodes), with the given cluster_partition_handling; torn down after the suite.
 */
function labCluster(tag: string, subnet: number, names: [string, string, string], conf: string) {
  const c = {
    lab: undefined as unknown as Lab,
    dir: '',
    procs: new Map<string, Proc>(),
    node: (n: string): string => `rabbit@${c.lab.nodes.get(n)!.ip}`,
    ctl(n: string, ...args: string[]): { code: number; out: string; err: string } {
      const r = spawnSync('ip', ['netns', 'exec', c.lab.ns(n), BROKERCTL_BIN, '-n', c.node(n), '-t', '20', ...args], { encoding: 'utf8', env: process.env, timeout: 40_000 });
      return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
    },
  };
  beforeAll(async () => {
    c.dir = mkdtempSync(join(tmpdir(), `warren-${tag}-`));
    process.env['WARREN_COOKIE_FILE'] = join(c.dir, 'cookie');
    process.env['WARREN_NODE_REGISTRY'] = join(c.dir, 'registry');
    const cfg = join(c.dir, 'rabbitmq.conf');
    writeFileSync(cfg, conf);
    c.lab = new Lab(tag, subnet);
    c.lab.up();
    names.forEach((n, i) => c.lab.addNode(n, i + 1));
    for (const n of names) c.procs.set(n, c.lab.spawn(n, `broker@${n}`, BROKER_BIN, ['--config', cfg, '--data-dir', join(c.dir, n), '--node-name', c.node(n), '--host', '0.0.0.0']));
    for (const n of names) {
      const ok = await waitFor(() => c.ctl(n, 'await_startup').code === 0, 20_000, 200);
      if (ok === undefined) throw new Error(`node ${n} did not start:\n${c.lab.dump()}`);
    }
    for (const n of names.slice(1)) {
      expect(c.ctl(n, 'stop_app').code).toBe(0);
      expect(c.ctl(n, 'join_cluster', '--ram', c.node(names[0])).err).toBe('');
      expect(c.ctl(n, 'start_app').code).toBe(0);
    }
  }, 120_000);
  afterAll(async () => {
    await c.lab?.down();
    rmSync(c.dir, { recursive: true, force: true });
  });
  return c;
}

describe.skipIf(why !== undefined)('cluster partitions (network namespaces), pause_minority', () => {
  const c = labCluster('bp', 57, ['n1', 'n2', 'n3'], 'cluster_partition_handling = pause_minority\nloopback_users = none\n');
  const { ctl, node } = c;
  const running = (from: string): string[] => {
    const r = ctl(from, 'cluster_status', '--formatter', 'json');
    return r.code === 0 ? ((JSON.parse(r.out) as { running_nodes: string[] }).running_nodes ?? []) : [];
  };

  it('pause_minority: a node cut off from the others pauses, the majority goes on, and it comes back when the link heals', async () => {
    expect(running('n1').length).toBe(3);
    c.lab.setPort('n3', false);
    // n3 sees 1 of 3 nodes: it stops serving clients
    const paused = await waitFor(() => ctl('n3', '-q', 'list_queues').code !== 0, 20_000, 750);
    expect(paused, c.lab.dump()).toBeDefined();
    expect(ctl('n3', '-q', 'list_queues').err).toContain('not running');
    // the majority side keeps working, metadata changes included (n1 is the disc node)
    expect(ctl('n1', 'add_user', 'during-partition', 'pw').code).toBe(0);
    expect(ctl('n2', '-q', 'list_users').out).toContain('during-partition');
    await sleep(500);
    c.lab.setPort('n3', true);
    const back = await waitFor(() => ctl('n3', '-q', 'list_users').out.includes('during-partition'), 30_000, 750);
    expect(back, c.lab.dump()).toBeDefined();
    const all = await waitFor(() => running('n1').length === 3, 15_000, 750);
    expect(all).toBeDefined();
    // n3 was unreachable while it kept running: cluster_status reports the partition
    const status = JSON.parse(ctl('n1', 'cluster_status', '--formatter', 'json').out) as { partitions: Record<string, string[]> };
    expect(status.partitions[node('n1')]).toContain(node('n3'));
    expect(ctl('n1', 'cluster_status').out).toContain(`Node ${node('n1')} cannot communicate with ${node('n3')}`);
  }, 90_000);
});

describe.skipIf(why !== undefined)('cluster partitions (network namespaces), autoheal', () => {
  const c = labCluster('ah', 58, ['a1', 'a2', 'a3'], 'cluster_partition_handling = autoheal\n');
  const { ctl, node } = c;

  it('autoheal: the side cut off from the metadata leader restarts its app when the partition heals, and catches up', async () => {
    c.lab.setPort('a3', false);
    // under autoheal the cut-off node keeps serving its clients, but cannot change metadata
    await sleep(3000);
    expect(ctl('a3', '-q', 'list_queues').code).toBe(0);
    expect(ctl('a3', 'add_user', 'minority-side', 'pw').code).toBe(69);
    expect(ctl('a1', 'add_user', 'majority-side', 'pw').code).toBe(0);
    c.lab.setPort('a3', true);
    const healed = await waitFor(() => ctl('a3', '-q', 'list_users').out.includes('majority-side'), 30_000, 750);
    expect(healed, c.lab.dump()).toBeDefined();
    const restarted = await waitFor(() => c.procs.get('a3')!.output().includes('autoheal'), 15_000, 250);
    expect(restarted, c.lab.dump()).toBeDefined();
    const status = JSON.parse(ctl('a3', 'cluster_status', '--formatter', 'json').out) as { partitions: Record<string, string[]> };
    expect(Object.values(status.partitions).flat()).toContain(node('a1'));
  }, 90_000);
});

describe.skipIf(why !== undefined)('cluster partitions (network namespaces), ignore, mirrored queue', () => {
  // the seeds' default (RabbitMQ's too): nothing pauses, so a master cut off from the others keeps its clients
  const c = labCluster('zm', 59, ['z1', 'z2', 'z3'], 'cluster_partition_handling = ignore\nloopback_users = none\n');
  const { ctl, node } = c;
  /** Runs the confirm client inside a node's namespace, against that node. */
  const client = async (n: string, ...args: string[]): Promise<Record<string, unknown>> => {
    const p = c.lab.spawn(n, `client@${n}`, process.execPath, ['--conditions=warren-source', '--import', 'tsx', 'test/cluster/confirm-client.ts', `amqp://guest:guest@${c.lab.nodes.get(n)!.ip}`, ...args]);
    const code = await p.exited;
    const line = p.output().trim().split('\n').pop() ?? '';
    if (code !== 0) throw new Error(`client on ${n} failed: ${p.output()}`);
    return JSON.parse(line) as Record<string, unknown>;
  };
  const masterOf = (from: string): string => /ha\.cut\t(\S+)/.exec(ctl(from, '-q', 'list_queues', 'name', 'node').out)?.[1] ?? '';

  it('a master cut off from the disc node stops confirming; the other side promotes a mirror; nothing confirmed is lost', async () => {
    expect(ctl('z1', 'set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}').code).toBe(0);
    // declared through z3 (a ram node): z3 is the master, z1 and z2 mirror it
    const before = await client('z3', 'publish', 'ha.cut', '300', '20000', 'before');
    expect((before['confirmed'] as string[]).length).toBe(300);
    const synced = await waitFor(() => pidNodes(ctl('z1', '-q', 'list_queues', 'name', 'synchronised_slave_pids').out).includes(`<${node('z2')}>`), 20_000, 750);
    expect(synced, ctl('z1', '-q', 'list_queues', 'name', 'node', 'synchronised_slave_pids').out).toBeDefined();
    expect(masterOf('z1')).toBe(node('z3'));

    c.lab.setPort('z3', false);
    // z3 still serves its clients, but cannot confirm without its mirrors: it cannot commit their removal from the
    // record of synchronised mirrors either (the disc node is on the other side)
    const during = await client('z3', 'publish', 'ha.cut', '200', '6000', 'during');
    expect((during['confirmed'] as string[]).length, JSON.stringify(during)).toBe(0);
    // the majority side (the disc node) promotes one of the mirrors it has
    const promoted = await waitFor(() => masterOf('z1') !== node('z3'), 20_000, 750);
    expect(promoted, c.lab.dump()).toBeDefined();
    const after = await client('z1', 'publish', 'ha.cut', '100', '20000', 'after');
    expect((after['confirmed'] as string[]).length).toBe(100);

    c.lab.setPort('z3', true);
    // z3 learns of the promotion from the log and gives the queue up
    const healed = await waitFor(() => masterOf('z3') !== node('z3'), 30_000, 750);
    expect(healed, c.lab.dump()).toBeDefined();
    const drained = (await client('z1', 'drain', 'ha.cut'))['bodies'] as Record<string, number>;
    const lost = [...(before['confirmed'] as string[]), ...(after['confirmed'] as string[])].filter((b) => drained[b] === undefined);
    expect(lost, `lost ${lost.length} confirmed messages`).toEqual([]);
  }, 150_000);
  it('a mirror cut off for a while resumes from its copy (only what it lacks is sent), and its copy can take over', async () => {
    const nodes = JSON.stringify([node('z2'), node('z3')]);
    expect(ctl('z1', 'set_policy', '--priority', '2', 'hr-two', '^hr\\.', `{"ha-mode":"nodes","ha-params":${nodes},"ha-sync-mode":"automatic"}`).code).toBe(0);
    const first = await client('z2', 'publish', 'hr.resume', '500', '20000', 'first');
    expect((first['confirmed'] as string[]).length).toBe(500);
    const recorded = (): boolean => pidNodes(ctl('z1', '-q', 'list_queues', 'name', 'synchronised_slave_pids').out).includes(`hr.resume\t[<${node('z3')}>]`);
    expect(await waitFor(recorded, 20_000, 750)).toBeDefined();
    c.lab.setPort('z3', false);
    // the master commits z3's removal from the record (the disc node is on its side) and confirms without it
    const second = await client('z2', 'publish', 'hr.resume', '100', '20000', 'second');
    expect((second['confirmed'] as string[]).length).toBe(100);
    const listing = (): string => ctl('z1', '-q', 'list_queues', 'name', 'synchronised_slave_pids').out;
    expect(listing()).not.toContain('hr.resume\t[<');
    c.lab.setPort('z3', true);
    expect(await waitFor(recorded, 30_000, 750), c.lab.dump()).toBeDefined();
    // (the test reads the node's output between its own waits)
    const resumed = `mirror ${node('z3')} resumes from its copy, 100 of 600 messages to send`;
    expect(await waitFor(() => c.procs.get('z2')!.output().includes(resumed), 10_000, 100), c.procs.get('z2')!.output()).toBeDefined();
    // the resumed copy is the whole queue: the master dies, z3 takes over with every confirmed message
    c.lab.kill(c.procs.get('z2')!);
    const moved = await waitFor(() => /hr\.resume\t(\S+)/.exec(ctl('z1', '-q', 'list_queues', 'name', 'node').out)?.[1] === node('z3'), 20_000, 750);
    expect(moved, c.lab.dump()).toBeDefined();
    const drained = (await client('z1', 'drain', 'hr.resume'))['bodies'] as Record<string, number>;
    const lost = [...(first['confirmed'] as string[]), ...(second['confirmed'] as string[])].filter((b) => drained[b] === undefined);
    expect(lost, `lost ${lost.length} confirmed messages`).toEqual([]);
  }, 150_000);
});
