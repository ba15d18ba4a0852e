// Network partitions between broker nodes in network namespaces the test creates (a bridge, one namespace per
// node; the cut is the node's bridge port going down). Skipped with a message when not root or without ip netns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labUnavailable, sleep, waitFor, type Proc } from '../vrrp/lab.ts';
import { BROKER_BIN, BROKERCTL_BIN } from '../helpers/broker-process.ts';

const why = labUnavailable();
if (why) console.log(`cluster partition tests SKIPPED: ${why}`);

describe.skipIf(why !== undefined)('cluster partitions (network namespaces), pause_minority', () => {
  let lab: Lab;
  let dir: string;
  const procs = new Map<string, Proc>();
  const names = ['n1', 'n2', 'n3'];
  const node = (n: string): string => `rabbit@${lab.nodes.get(n)!.ip}`;

  function ctl(n: string, ...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns(n), BROKERCTL_BIN, '-n', node(n), '-t', '20', ...args], { encoding: 'utf8', env: process.env, timeout: 40_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  function startNode(n: string): void {
    const cfg = join(dir, 'rabbitmq.conf');
    procs.set(n, lab.spawn(n, `broker@${n}`, BROKER_BIN, ['--config', cfg, '--data-dir', join(dir, n), '--node-name', node(n), '--host', '0.0.0.0']));
  }

  const running = (from: string): string[] => {
    const r = ctl(from, 'cluster_status', '--formatter', 'json');
    return r.code === 0 ? ((JSON.parse(r.out) as { running_nodes: string[] }).running_nodes ?? []) : [];
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warren-partition-'));
    process.env['WARREN_COOKIE_FILE'] = join(dir, 'cookie');
    process.env['WARREN_NODE_REGISTRY'] = join(dir, 'registry');
    writeFileSync(join(dir, 'rabbitmq.conf'), 'cluster_partition_handling = pause_minority\nloopback_users = none\n');
    lab = new Lab('bp', 57);
    lab.up();
    names.forEach((n, i) => lab.addNode(n, i + 1));
    for (const n of names) startNode(n);
    for (const n of names) {
      const ok = await waitFor(() => ctl(n, 'await_startup').code === 0, 20_000, 200);
      if (ok === undefined) throw new Error(`node ${n} did not start:\n${lab.dump()}`);
    }
    // the seeds' layout: one disc node, two ram nodes
    for (const n of ['n2', 'n3']) {
      expect(ctl(n, 'stop_app').code).toBe(0);
      const j = ctl(n, 'join_cluster', '--ram', node('n1'));
      expect(j.err).toBe('');
      expect(ctl(n, 'start_app').code).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await lab?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pause_minority: a node cut off from the others pauses, the majority goes on, and it comes back when the link heals', async () => {
    expect(running('n1').length).toBe(3);
    lab.setPort('n3', false);
    // n3 sees 1 of 3 nodes: it stops serving clients
    const paused = await waitFor(() => ctl('n3', '-q', 'list_queues').code !== 0, 20_000, 250);
    expect(paused, lab.dump()).toBeDefined();
    expect(ctl('n3', '-q', 'list_queues').err).toContain('not running');
    // the majority side keeps working, metadata changes included (n1 is the disc node)
    expect(ctl('n1', 'add_user', 'during-partition', 'pw').code).toBe(0);
    expect(ctl('n2', '-q', 'list_users').out).toContain('during-partition');
    await sleep(500);
    lab.setPort('n3', true);
    const back = await waitFor(() => ctl('n3', '-q', 'list_users').out.includes('during-partition'), 30_000, 250);
    expect(back, lab.dump()).toBeDefined();
    const all = await waitFor(() => running('n1').length === 3, 15_000, 250);
    expect(all).toBeDefined();
    // n3 was unreachable while it kept running: cluster_status reports the partition
    const status = JSON.parse(ctl('n1', 'cluster_status', '--formatter', 'json').out) as { partitions: Record<string, string[]> };
    expect(status.partitions[node('n1')]).toContain(node('n3'));
    expect(ctl('n1', 'cluster_status').out).toContain(`Node ${node('n1')} cannot communicate with ${node('n3')}`);
  }, 90_000);
});

describe.skipIf(why !== undefined)('cluster partitions (network namespaces), autoheal', () => {
  let lab: Lab;
  let dir: string;
  const names = ['a1', 'a2', 'a3'];
  const node = (n: string): string => `rabbit@${lab.nodes.get(n)!.ip}`;
  const procs: Proc[] = [];

  function ctl(n: string, ...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns(n), BROKERCTL_BIN, '-n', node(n), '-t', '20', ...args], { encoding: 'utf8', env: process.env, timeout: 40_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warren-autoheal-'));
    process.env['WARREN_COOKIE_FILE'] = join(dir, 'cookie');
    process.env['WARREN_NODE_REGISTRY'] = join(dir, 'registry');
    writeFileSync(join(dir, 'rabbitmq.conf'), 'cluster_partition_handling = autoheal\n');
    lab = new Lab('ah', 58);
    lab.up();
    names.forEach((n, i) => lab.addNode(n, i + 1));
    for (const n of names) procs.push(lab.spawn(n, `broker@${n}`, BROKER_BIN, ['--config', join(dir, 'rabbitmq.conf'), '--data-dir', join(dir, n), '--node-name', node(n), '--host', '0.0.0.0']));
    for (const n of names) {
      const ok = await waitFor(() => ctl(n, 'await_startup').code === 0, 20_000, 200);
      if (ok === undefined) throw new Error(`node ${n} did not start:\n${lab.dump()}`);
    }
    for (const n of ['a2', 'a3']) {
      expect(ctl(n, 'stop_app').code).toBe(0);
      expect(ctl(n, 'join_cluster', '--ram', node('a1')).err).toBe('');
      expect(ctl(n, 'start_app').code).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await lab?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('autoheal: the side cut off from the metadata leader restarts its app when the partition heals, and catches up', async () => {
    lab.setPort('a3', false);
    // under autoheal the cut-off node keeps serving its clients, but cannot change metadata
    await sleep(3000);
    expect(ctl('a3', '-q', 'list_queues').code).toBe(0);
    expect(ctl('a3', 'add_user', 'minority-side', 'pw').code).toBe(69);
    expect(ctl('a1', 'add_user', 'majority-side', 'pw').code).toBe(0);
    lab.setPort('a3', true);
    const healed = await waitFor(() => ctl('a3', '-q', 'list_users').out.includes('majority-side'), 30_000, 250);
    expect(healed, lab.dump()).toBeDefined();
    const restarted = await waitFor(() => procs[2]!.output().includes('autoheal'), 15_000, 250);
    expect(restarted, lab.dump()).toBeDefined();
    const status = JSON.parse(ctl('a3', 'cluster_status', '--formatter', 'json').out) as { partitions: Record<string, string[]> };
    expect(Object.values(status.partitions).flat()).toContain(node('a1'));
  }, 90_000);
});
