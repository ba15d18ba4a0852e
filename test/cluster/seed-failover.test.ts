// The seeds' own layout on real broker processes: one disc node and two ram nodes, every queue mirrored (ha-mode all,
// automatic sync), and the failures the seeds set it up to survive: the node mastering a queue killed with SIGKILL
// (the disc node included), hung with SIGSTOP, or stopped with stop_app; and a node restarted right after a kill,
// whatever moves its queues made before. Confirmed messages are counted end to end. (mirrored.test.ts has the
// failovers between ram nodes; the simulator in test/sim runs the same faults by the thousand.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';

let env: TestEnv;
const nodes: { name: string; port: number; args: string[]; proc: BrokerProcess | null }[] = [];
const ctl = (n: number, ...args: string[]) => env.ctl(['-n', nodes[n]!.name, ...args], 40_000);
const url = (n: number) => `amqp://guest:guest@127.0.0.1:${nodes[n]!.port}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DISC = 0;

/** Polls until `test` holds (a generous bound: the machine is shared); returns whether it did. */
async function until(test: () => Promise<boolean> | boolean, limitMs = 30_000, stepMs = 100): Promise<boolean> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await test()) return true;
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
}

/** The node a queue's master is on, as node `from` sees it ('' when it cannot tell). */
async function masterOf(queue: string, from: number): Promise<string> {
  const line = (await ctl(from, '-q', 'list_queues', 'name', 'node')).stdout.split('\n').find((l) => l.startsWith(`${queue}\t`));
  return line?.split('\t')[1] ?? '';
}

/** Whether node `from` lists every other node as a synchronised mirror of `queue`. */
async function allSynced(queue: string, from = DISC): Promise<boolean> {
  const master = await masterOf(queue, from);
  const line = (await ctl(from, '-q', 'list_queues', 'name', 'synchronised_slave_pids')).stdout.split('\n').find((l) => l.startsWith(`${queue}\t`)) ?? '';
  return master !== '' && nodes.every((n) => n.name === master || line.includes(`<${n.name}.`));
}

async function expectSynced(queue: string): Promise<void> {
  if (await until(() => allSynced(queue))) return;
  const out = (await ctl(DISC, '-q', 'list_queues', 'name', 'node', 'slave_pids', 'synchronised_slave_pids', 'state')).stdout;
  expect.fail(`${queue}: mirrors not synchronised within 30 s:\n${out}`);
}

/** Empties a queue through node n; each body with how many times it came. */
async function drain(n: number, queue: string): Promise<Map<string, number>> {
  const c = await new AMQPClient(url(n)).connect();
  const ch = await c.channel();
  const seen = new Map<string, number>();
  for (;;) {
    const m = await ch.basicGet(queue, { noAck: true });
    if (!m) break;
    const b = m.bodyToString() ?? '';
    seen.set(b, (seen.get(b) ?? 0) + 1);
  }
  await c.close();
  return seen;
}

async function restart(n: number): Promise<void> {
  // (a clustered node opens its AMQP port once its app runs, after it has waited for the cluster)
  nodes[n]!.proc = await env.startBroker(nodes[n]!.args, nodes[n]!.port, 60_000);
}

beforeAll(async () => {
  env = new TestEnv();
  env.env['WARREN_ORPHAN_TIMEOUT_MS'] = '8000';
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    const dist = await freePort();
    const name = `rabbit@seedfo${i}`;
    const args = ['--data-dir', join(env.dir, `n${i}`), '--node-name', name, '--dist-port', String(dist), '--quiet'];
    nodes.push({ name, port, args, proc: await env.startBroker(args, port) });
  }
  // the seeds: node1 disc; node2 and node3 stop_app; join_cluster --ram rabbit@node1; start_app
  for (const n of [1, 2]) {
    await ctl(n, 'stop_app');
    expect((await ctl(n, 'join_cluster', '--ram', nodes[DISC]!.name)).code).toBe(0);
    await ctl(n, 'start_app');
  }
  expect((await ctl(DISC, 'set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}')).code).toBe(0);
}, 300_000);

/**
 * A confirming publisher on node n: persistent messages `${prefix}-<i>` to `queue`, up to `window` unconfirmed, until
 * stop(); the bodies confirmed so far, and when each confirm came.
 */
function publisher(n: number, queue: string, prefix: string, window: number): { confirmed: Set<string>; confirmTimes: number[]; nacked: Set<string>; stop(): Promise<void> } {
  const confirmed = new Set<string>();
  const nacked = new Set<string>();
  const confirmTimes: number[] = [];
  let stopped = false;
  const run = (async () => {
    const c = await new AMQPClient(url(n)).connect();
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
      ch.basicPublish('', queue, body, { deliveryMode: 2 }).then(
        () => {
          confirmed.add(body);
          confirmTimes.push(Date.now());
        },
        () => void nacked.add(body),
      ).finally(() => {
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

/** A consumer with manual acks on node n; the bodies received, and whether the server cancelled it. */
async function consumer(n: number, queue: string): Promise<{ received: Set<string>; times: number[]; cancelled(): boolean; close(): Promise<void> }> {
  const c = await new AMQPClient(url(n)).connect();
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

afterAll(async () => {
  await env.cleanup();
});

describe('the seeds layout (1 disc + 2 ram, ha-mode all)', () => {
  it('a node that gets its queue back through handovers keeps every confirmed message across a power loss and an immediate restart', async () => {
    const c0 = await new AMQPClient(url(DISC)).connect();
    await (await c0.channel()).queueDeclare('ha.back', { durable: true });
    await c0.close();
    await expectSynced('ha.back');
    // the master moves to a ram node and back with stop_app / start_app (ha-promote-on-shutdown)
    expect((await ctl(DISC, 'stop_app')).code).toBe(0);
    expect((await ctl(DISC, 'start_app')).code).toBe(0);
    let away = '';
    expect(await until(async () => (away = await masterOf('ha.back', DISC)) !== nodes[DISC]!.name)).toBe(true);
    await expectSynced('ha.back');
    const awayIdx = nodes.findIndex((n) => n.name === away);
    const third = 3 - awayIdx;
    // the other ram node must not be the one it goes to: stop it for the handover
    // (brokerctl may report a stop_app that takes over 1.5 s on a loaded host as a closed connection, exit 75,
    // although it took effect: the state is checked instead)
    expect([0, 75]).toContain((await ctl(third, 'stop_app')).code);
    expect([0, 75]).toContain((await ctl(awayIdx, 'stop_app')).code);
    expect(await until(async () => (await masterOf('ha.back', DISC)) === nodes[DISC]!.name)).toBe(true);
    expect((await ctl(awayIdx, 'start_app')).code).toBe(0);
    expect((await ctl(third, 'start_app')).code).toBe(0);
    await expectSynced('ha.back');

    const pub = await new AMQPClient(url(DISC)).connect();
    const ch = await pub.channel();
    await ch.confirmSelect();
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 2048; i++) sent.push(ch.basicPublish('', 'ha.back', `m${i}`, { deliveryMode: 2 }).then(() => undefined));
    await Promise.all(sent);
    await pub.close();

    // every node killed at once, as by a power loss, and started again 0.1 s later, as service supervisors do: the
    // disc node's log names it the master again, and its disc holds the queue
    await Promise.all(nodes.map((n) => kill9(n.proc!)));
    await sleep(100);
    await Promise.all(nodes.map((_, i) => restart(i)));
    for (let i = 0; i < nodes.length; i++) expect(await until(async () => (await ctl(i, 'await_startup')).code === 0)).toBe(true);
    const seen = await drain(1, 'ha.back');
    const lost = Array.from({ length: 2048 }, (_, i) => `m${i}`).filter((b) => !seen.has(b));
    console.log(`restart after handovers: ${seen.size} of 2048 back, ${lost.length} lost, master ${await masterOf('ha.back', 1)}`);
    expect(lost.length).toBe(0);
  }, 400_000);

  it.each([
    ['ha.carry', 'the consumer\'s own node'],
    ['hn.carry', 'the publisher\'s node'],
  ])('a consumer on a surviving node carries on through the promotion that replaces a killed master (%s, promoted on %s; no basic.cancel)', async (queue) => {
    // master on ram node 2, consumer on the disc node, publisher on ram node 3; hn.* is mirrored on the ram nodes only,
    // so the consumer follows the queue to another node
    if (queue.startsWith('hn.')) {
      const ram = JSON.stringify([nodes[1]!.name, nodes[2]!.name]);
      expect((await ctl(DISC, 'set_policy', '--priority', '1', 'ha-ram', '^hn\\.', `{"ha-mode":"nodes","ha-params":${ram},"ha-sync-mode":"automatic"}`)).code).toBe(0);
    }
    const c1 = await new AMQPClient(url(1)).connect();
    await (await c1.channel()).queueDeclare(queue, { durable: true });
    await c1.close();
    expect(await masterOf(queue, DISC)).toBe(nodes[1]!.name);
    if (queue.startsWith('ha.')) await expectSynced(queue);
    else expect(await until(async () => (await ctl(DISC, '-q', 'list_queues', 'name', 'synchronised_slave_pids')).stdout.includes(`<${nodes[2]!.name}.`))).toBe(true);
    const sub = await new AMQPClient(url(DISC)).connect();
    sub.onerror = () => {};
    const sch = await sub.channel();
    await sch.basicQos(50);
    const received = new Set<string>();
    const consumer = await sch.basicConsume(queue, { noAck: false }, (m) => {
      received.add(m.bodyToString() ?? '');
      void m.ack().catch(() => {});
    });
    let cancelled = false;
    consumer.wait().catch(() => (cancelled = true));
    const pub = await new AMQPClient(url(2)).connect();
    pub.onerror = () => {};
    const pch = await pub.channel();
    await pch.confirmSelect();
    await pch.basicPublish('', queue, 'before', { deliveryMode: 2 });
    expect(await until(() => received.has('before'), 10_000, 20)).toBe(true);
    await kill9(nodes[1]!.proc!);
    // publish until messages go through the promoted master (a publish between masters may be nacked)
    let i = 0;
    const confirmed: string[] = [];
    expect(
      await until(async () => {
        const body = `after-${i++}`;
        if (await pch.basicPublish('', queue, body, { deliveryMode: 2 }).then(() => true, () => false)) confirmed.push(body);
        return confirmed.length >= 20;
      }, 30_000, 50),
    ).toBe(true);
    expect(await until(() => confirmed.every((b) => received.has(b)), 15_000, 50)).toBe(true);
    expect(cancelled).toBe(false);
    await pub.close();
    await sub.close().catch(() => {});
    console.log(`${queue}: ${confirmed.length} confirmed after the kill, all received, promoted on ${await masterOf(queue, DISC)}`);
    await restart(1);
    expect(await until(async () => (await ctl(1, 'await_startup')).code === 0)).toBe(true);
  }, 120_000);

  it('kill -9 of the disc node mastering the queue: a ram mirror is promoted, confirms and deliveries go on on both survivors, 0 confirmed lost', async () => {
    const c0 = await new AMQPClient(url(DISC)).connect();
    await (await c0.channel()).queueDeclare('ha.disc', { durable: true });
    await c0.close();
    expect(await masterOf('ha.disc', DISC)).toBe(nodes[DISC]!.name);
    await expectSynced('ha.disc');
    const subs = [await consumer(1, 'ha.disc'), await consumer(2, 'ha.disc')];
    const pub = publisher(1, 'ha.disc', 'dk', 100);
    expect(await until(() => pub.confirmed.size >= 1000, 60_000, 20)).toBe(true);
    const killedAt = Date.now();
    await kill9(nodes[DISC]!.proc!);
    let master = '';
    expect(await until(async () => ![nodes[DISC]!.name, ''].includes((master = await masterOf('ha.disc', 1))), 20_000, 50)).toBe(true);
    const promotedAfter = Date.now() - killedAt;
    // both consumers on the surviving nodes get messages published after the kill
    expect(await until(() => subs.every((c) => c.times.some((t) => t > killedAt + 200)), 30_000, 50)).toBe(true);
    const n1 = pub.confirmed.size;
    expect(await until(() => pub.confirmed.size >= n1 + 500, 30_000, 20)).toBe(true);
    await pub.stop();
    const firstConfirm = Math.min(...pub.confirmTimes.filter((t) => t > killedAt)) - killedAt;
    const firstDelivery = Math.min(...subs.flatMap((c) => c.times.filter((t) => t > killedAt))) - killedAt;
    expect(subs.map((c) => c.cancelled())).toEqual([false, false]);
    // clients' reconnect actions keep working: declare of an existing queue, a new consumer, a binding
    const c1 = await new AMQPClient(url(2)).connect();
    const ch1 = await c1.channel();
    await ch1.queueDeclare('ha.disc', { durable: true });
    await ch1.queueBind('ha.disc', 'amq.direct', 'disc-key');
    await c1.close();
    for (const c of subs) await c.close();
    await restart(DISC);
    expect(await until(async () => (await ctl(DISC, 'await_startup')).code === 0)).toBe(true);
    const seen = await drain(2, 'ha.disc');
    for (const c of subs) for (const b of c.received) seen.set(b, (seen.get(b) ?? 0) + 1);
    const lost = [...pub.confirmed].filter((b) => !seen.has(b));
    console.log(`disc master killed: new master ${master} after ${promotedAfter} ms, first confirm ${firstConfirm} ms, first delivery ${firstDelivery} ms, ${pub.confirmed.size} confirmed, ${pub.nacked.size} nacked, ${lost.length} lost`);
    expect(lost).toEqual([]);
  }, 180_000);

  it('SIGSTOP of the disc node mastering the queue: a ram mirror takes over, confirms go on, and the woken node gives the queue up', async () => {
    const c0 = await new AMQPClient(url(DISC)).connect();
    await (await c0.channel()).queueDeclare('ha.hung', { durable: true });
    await c0.close();
    expect(await masterOf('ha.hung', DISC)).toBe(nodes[DISC]!.name);
    await expectSynced('ha.hung');
    const pub = publisher(2, 'ha.hung', 'hg', 50);
    expect(await until(() => pub.confirmed.size >= 500, 60_000, 20)).toBe(true);
    const stoppedAt = Date.now();
    nodes[DISC]!.proc!.child.kill('SIGSTOP');
    let master = '';
    try {
      expect(await until(async () => ![nodes[DISC]!.name, ''].includes((master = await masterOf('ha.hung', 1))), 30_000, 50)).toBe(true);
      const n1 = pub.confirmed.size;
      expect(await until(() => pub.confirmed.size >= n1 + 300, 30_000, 20)).toBe(true);
    } finally {
      nodes[DISC]!.proc!.child.kill('SIGCONT');
    }
    const firstConfirm = Math.min(...pub.confirmTimes.filter((t) => t > stoppedAt)) - stoppedAt;
    await pub.stop();
    // the woken node applies the promotion from the log: the queue is mastered elsewhere for it too
    expect(await until(async () => (await masterOf('ha.hung', DISC)) === master, 30_000)).toBe(true);
    const seen = await drain(1, 'ha.hung');
    const lost = [...pub.confirmed].filter((b) => !seen.has(b));
    console.log(`disc master hung: new master ${master}, first confirm ${firstConfirm} ms after SIGSTOP, ${pub.confirmed.size} confirmed, ${pub.nacked.size} nacked, ${lost.length} lost`);
    expect(lost).toEqual([]);
  }, 180_000);

  it('stop_app on the disc node mastering the queue hands it over to a ram mirror (ha-promote-on-shutdown), confirms go on', async () => {
    const c0 = await new AMQPClient(url(DISC)).connect();
    await (await c0.channel()).queueDeclare('ha.stop', { durable: true });
    await c0.close();
    expect(await masterOf('ha.stop', DISC)).toBe(nodes[DISC]!.name);
    await expectSynced('ha.stop');
    const pub = publisher(1, 'ha.stop', 'st', 50);
    expect(await until(() => pub.confirmed.size >= 500, 60_000, 20)).toBe(true);
    const t0 = Date.now();
    expect((await ctl(DISC, 'stop_app')).code).toBe(0);
    // while the disc node's app is stopped, the ram nodes name a ram node the master, and it confirms
    let master = '';
    expect(await until(async () => ![nodes[DISC]!.name, ''].includes((master = await masterOf('ha.stop', 2))), 20_000, 50)).toBe(true);
    const movedAfter = Date.now() - t0;
    const n1 = pub.confirmed.size;
    expect(await until(() => pub.confirmed.size >= n1 + 300, 30_000, 20)).toBe(true);
    await pub.stop();
    expect((await ctl(DISC, 'start_app')).code).toBe(0);
    const seen = await drain(2, 'ha.stop');
    const lost = [...pub.confirmed].filter((b) => !seen.has(b));
    console.log(`stop_app of the disc master: new master ${master} within ${movedAfter} ms, ${pub.confirmed.size} confirmed, ${pub.nacked.size} nacked, ${lost.length} lost`);
    expect(lost).toEqual([]);
  }, 180_000);
});
