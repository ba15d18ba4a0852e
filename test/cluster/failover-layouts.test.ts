// kill -9 of the node mastering a mirrored queue under confirmed publishing, on real broker processes, in the two
// layouts besides the seeds' own (seed-failover.test.ts): seed 004's three disc nodes (`stop_app; reset; join_cluster;
// start_app`, policy ha-mode exactly 2 on `^mirror`) and a five-node cluster (two disc nodes, three ram nodes, ha-mode
// all). A consumer on every surviving node must keep receiving (no basic.cancel), and no confirmed message may be lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `test` holds (a generous bound: the machine is shared); returns whether it did. */
async function until(test: () => Promise<boolean> | boolean, limitMs = 30_000, stepMs = 100): Promise<boolean> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await test()) return true;
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
}

interface Layout {
  /** Node name prefix (rabbit@<prefix><i>). */
  prefix: string;
  /** Per node: disc or ram; node 0 is the first disc node, the others join it. */
  types: ('disc' | 'ram')[];
  /** Whether joining nodes `reset` first (seed 004 does). */
  reset: boolean;
  policy: [name: string, pattern: string, definition: string];
  queue: string;
  /** How many nodes hold the queue (master + mirrors) while every node is up. */
  copies: number;
}

/** A cluster of real broker processes built with brokerctl as a user would. */
class Cluster {
  env!: TestEnv;
  nodes: { name: string; port: number; args: string[]; proc: BrokerProcess | null }[] = [];
  constructor(readonly layout: Layout) {}

  ctl(n: number, ...args: string[]) {
    return this.env.ctl(['-n', this.nodes[n]!.name, ...args], 40_000);
  }

  url(n: number): string {
    return `amqp://guest:guest@127.0.0.1:${this.nodes[n]!.port}`;
  }

  async start(): Promise<void> {
    this.env = new TestEnv();
    const l = this.layout;
    for (let i = 0; i < l.types.length; i++) {
      const [port, dist] = [await freePort(), await freePort()];
      const name = `rabbit@${l.prefix}${i + 1}`;
      this.nodes.push({ name, port, args: ['--data-dir', join(this.env.dir, `n${i + 1}`), '--node-name', name, '--dist-port', String(dist), '--quiet'], proc: null });
    }
    await Promise.all(this.nodes.map(async (n) => (n.proc = await this.env.startBroker(n.args, n.port))));
    for (let i = 1; i < l.types.length; i++) {
      expect((await this.ctl(i, 'stop_app')).code).toBe(0);
      if (l.reset) expect((await this.ctl(i, 'reset')).code).toBe(0);
      const join = await this.ctl(i, 'join_cluster', ...(l.types[i] === 'ram' ? ['--ram'] : []), this.nodes[0]!.name);
      expect(join.code, join.stderr).toBe(0);
      expect((await this.ctl(i, 'start_app')).code).toBe(0);
    }
    const [name, pattern, def] = l.policy;
    expect((await this.ctl(0, 'set_policy', name, pattern, def)).code).toBe(0);
  }

  /** [master node, synchronised mirror nodes] of the queue as node `from` sees it. */
  async queueNodes(queue: string, from: number): Promise<[string, string[]]> {
    const line = (await this.ctl(from, '-q', 'list_queues', 'name', 'node', 'synchronised_slave_pids')).stdout.split('\n').find((l) => l.startsWith(`${queue}\t`)) ?? '';
    const [, master = '', synced = ''] = line.split('\t');
    return [master, [...synced.matchAll(/<([^>]+?)\.\d+\.\d+>/g)].map((m) => m[1]!)];
  }
}

/** A confirming publisher on a node: persistent messages `${prefix}-<i>`, at most `window` unconfirmed, until stop(). */
function publisher(url: string, queue: string, prefix: string, window = 100) {
  const confirmed = new Set<string>();
  const nacked = new Set<string>();
  const confirmTimes: number[] = [];
  let stopped = false;
  const run = (async () => {
    const c = await new AMQPClient(url).connect();
    c.onerror = () => {};
    const ch = await c.channel();
    await ch.confirmSelect();
    let i = 0;
    let inFlight = 0;
    let wake: (() => void) | null = null;
    while (!stopped) {
      if (inFlight >= window) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const body = `${prefix}-${i++}`;
      inFlight++;
      ch.basicPublish('', queue, body, { deliveryMode: 2 })
        .then(
          () => {
            confirmed.add(body);
            confirmTimes.push(Date.now());
          },
          () => void nacked.add(body),
        )
        .finally(() => {
          inFlight--;
          const w = wake;
          wake = null;
          w?.();
        });
      if (i % 20 === 0) await sleep(5);
    }
    await c.close().catch(() => {});
  })();
  return {
    confirmed,
    confirmTimes,
    nacked,
    stop: async () => {
      stopped = true;
      await run;
    },
  };
}

/** A consumer with manual acks; the bodies received, when, and whether the server cancelled it. */
async function consumer(url: string, queue: string) {
  const c = await new AMQPClient(url).connect();
  c.onerror = () => {};
  const ch = await c.channel();
  await ch.basicQos(100);
  const received = new Set<string>();
  const times: number[] = [];
  const sub = await ch.basicConsume(queue, { noAck: false }, (m) => {
    received.add(m.bodyToString() ?? '');
    times.push(Date.now());
    void m.ack().catch(() => {});
  });
  let cancelled = false;
  sub.wait().catch(() => (cancelled = true));
  return { received, times, cancelled: () => cancelled, close: () => c.close().catch(() => {}) };
}

/** Empties a queue through a node; the bodies left in it. */
async function drain(url: string, queue: string): Promise<Set<string>> {
  const c = await new AMQPClient(url).connect();
  const ch = await c.channel();
  const seen = new Set<string>();
  for (;;) {
    const m = await ch.basicGet(queue, { noAck: true });
    if (!m) break;
    seen.add(m.bodyToString() ?? '');
  }
  await c.close();
  return seen;
}

/**
 * The queue declared through node 0 (its master), synchronised; a publisher on the last node and a consumer on every
 * node but 0; kill -9 of node 0; a new master on a surviving node, confirms going on, every consumer getting messages
 * published after the kill, none cancelled; then every confirmed message delivered or still in the queue.
 */
async function killMaster(c: Cluster): Promise<void> {
  const { queue, copies } = c.layout;
  const last = c.nodes.length - 1;
  const c0 = await new AMQPClient(c.url(0)).connect();
  await (await c0.channel()).queueDeclare(queue, { durable: true });
  await c0.close();
  let nodes: [string, string[]] = ['', []];
  const synced = await until(async () => (nodes = await c.queueNodes(queue, 0))[1].length === copies - 1);
  expect(synced, `mirrors of ${queue}: ${JSON.stringify(nodes)}`).toBe(true);
  expect(nodes[0]).toBe(c.nodes[0]!.name);
  const survivors = c.nodes.slice(1).map((_, i) => i + 1);
  const subs = await Promise.all(survivors.map((i) => consumer(c.url(i), queue)));
  const pub = publisher(c.url(last), queue, 'k');
  expect(await until(() => pub.confirmed.size >= 1000 && subs.every((s) => s.received.size > 0), 60_000, 20)).toBe(true);
  const killedAt = Date.now();
  await kill9(c.nodes[0]!.proc!);
  let master = '';
  expect(await until(async () => ![c.nodes[0]!.name, ''].includes((master = (await c.queueNodes(queue, last))[0])), 30_000, 100)).toBe(true);
  expect(survivors.map((i) => c.nodes[i]!.name)).toContain(master);
  // every consumer on a surviving node gets messages published after the kill, and confirms go on
  const n1 = pub.confirmed.size;
  expect(await until(() => pub.confirmed.size >= n1 + 500, 30_000, 20)).toBe(true);
  expect(await until(() => subs.every((s) => s.times.some((t) => t > killedAt + 500)), 30_000, 50), `deliveries after the kill per consumer: ${subs.map((s) => s.times.filter((t) => t > killedAt).length).join(', ')}`).toBe(true);
  await pub.stop();
  expect(subs.map((s) => s.cancelled())).toEqual(survivors.map(() => false));
  const firstConfirm = Math.min(...pub.confirmTimes.filter((t) => t > killedAt)) - killedAt;
  // what the consumers have not got yet is still in the queue
  const received = new Set<string>();
  await until(() => [...pub.confirmed].every((b) => subs.some((s) => s.received.has(b))), 10_000, 100);
  for (const s of subs) await s.close();
  for (const s of subs) for (const b of s.received) received.add(b);
  for (const b of await drain(c.url(last), queue)) received.add(b);
  const lost = [...pub.confirmed].filter((b) => !received.has(b));
  console.log(`${c.layout.types.length} nodes (${c.layout.types.join(', ')}): master ${c.nodes[0]!.name} killed, new master ${master}, first confirm ${firstConfirm} ms after, ${pub.confirmed.size} confirmed, ${pub.nacked.size} nacked, ${lost.length} lost`);
  expect(lost).toEqual([]);
}

describe("seed 004's layout: three disc nodes, ha-mode exactly 2", () => {
  const c = new Cluster({
    prefix: 'fol3d',
    types: ['disc', 'disc', 'disc'],
    reset: true,
    policy: ['ha-two', '^mirror', '{"ha-mode":"exactly","ha-params":2,"ha-sync-mode":"automatic"}'],
    queue: 'mirror.test',
    copies: 2,
  });
  beforeAll(() => c.start(), 180_000);
  afterAll(() => c.env?.cleanup());

  it('kill -9 of the master node: its mirror takes over, consumers on both surviving nodes carry on, 0 confirmed lost', async () => {
    await killMaster(c);
    // exactly 2 again: the new master picks the third node as its mirror
    expect(await until(async () => (await c.queueNodes('mirror.test', 2))[1].length === 1, 30_000, 200)).toBe(true);
  }, 90_000);
});

describe('five nodes: two disc, three ram, ha-mode all', () => {
  const c = new Cluster({
    prefix: 'fol5n',
    types: ['disc', 'disc', 'ram', 'ram', 'ram'],
    reset: false,
    policy: ['ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}'],
    queue: 'ha.five',
    copies: 5,
  });
  beforeAll(() => c.start(), 240_000);
  afterAll(() => c.env?.cleanup());

  it('kill -9 of the disc node mastering the queue: a mirror takes over, consumers on the four surviving nodes carry on, 0 confirmed lost', async () => {
    await killMaster(c);
  }, 90_000);
});
