/**
 * Reproduction: after a hung master (SIGSTOP), a consumer on another node can stop getting deliveries for good.
 *
 *   node --conditions=warren-source --import tsx bench/src/failover-stall.ts            node 3 paused from 0.8 s to 1.9 s after the master
 *   node --conditions=warren-source --import tsx bench/src/failover-stall.ts 800 1900   (the same, explicit: pause at / resume at, ms)
 *   node --conditions=warren-source --import tsx bench/src/failover-stall.ts -1 1900    control: node 3 not paused
 *
 * A 3-node Warren cluster (cluster3.ts: 1 disc + 2 ram, ha-all), a queue mastered on node 2, a consumer on node 3,
 * a confirming publisher on node 1. Node 2 gets SIGSTOP; node 3 is paused briefly too (SIGSTOP, then SIGCONT before
 * node 1 could take it for dead), so that node 3 applies the promotion committed meanwhile *before* its own
 * heartbeat notices that node 2 is gone. The same order happens without the pause, now and then, when node 3's
 * link to node 2 times out a tick later than node 1's (it did in 1 of 3 SIGSTOP failovers of two full bench runs).
 * Prints, per repetition, what was confirmed and delivered in the 6 s after: with the pause, nothing is delivered,
 * the consumer is not cancelled, and the new master lists the queue with its messages and 0 consumers.
 */
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startWarrenCluster, waitFor } from './cluster3.ts';
import { killAllSync, sleep } from './procs.ts';

const REPS = 3;

async function main(): Promise<void> {
  const pauseAt = Number(process.argv[2] ?? 800);
  const resumeAt = Number(process.argv[3] ?? 1900);
  const c = await startWarrenCluster(console.log);
  try {
    for (let rep = 0; rep < REPS; rep++) {
      if (!c.nodes[1]!.alive()) await c.restart(1);
      const q = `ha.stall-${rep}`;
      const a = await new AMQPClient(c.nodes[1]!.uri).connect();
      await (await a.channel()).queueDeclare(q, { durable: true });
      await a.close();
      await waitFor(async () => (await c.syncedMirrors(q, 1)).length === 2, 30_000, 300);
      const sub = new AMQPClient(c.nodes[2]!.uri);
      await sub.connect();
      const sch = await sub.channel();
      await sch.basicQos(100);
      let delivered = 0;
      let cancelled = false;
      const consumer = await sch.basicConsume(q, { noAck: false }, (m) => {
        delivered++;
        void m.ack().catch(() => {});
      });
      consumer.wait().catch(() => (cancelled = true));
      const pub = await new AMQPClient(c.nodes[0]!.uri).connect();
      const pch = await pub.channel();
      await pch.confirmSelect();
      let confirmed = 0;
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          await pch.basicPublish('', q, 'x', { deliveryMode: 2 }).then(() => confirmed++, () => {});
          await sleep(5);
        }
      })();
      await sleep(1000);
      const master = c.nodes[1]!.vmPid()!;
      const consumerNode = c.nodes[2]!.vmPid()!;
      process.kill(master, 'SIGSTOP');
      if (pauseAt >= 0) {
        await sleep(pauseAt);
        process.kill(consumerNode, 'SIGSTOP');
        await sleep(resumeAt - pauseAt);
        process.kill(consumerNode, 'SIGCONT');
      } else await sleep(resumeAt);
      const [c0, d0] = [confirmed, delivered];
      await sleep(6000);
      console.log(`rep ${rep}: in the 6 s after: confirmed +${confirmed - c0}, delivered +${delivered - d0}, consumer cancelled: ${cancelled}`);
      for (const i of [0, 2]) {
        const out = (await c.ctl(i, ['-q', 'list_queues', 'name', 'node', 'messages', 'consumers'])).stdout;
        console.log(`  ${c.nodes[i]!.name}: list_queues name node messages consumers: ${out.split('\n').find((l) => l.startsWith(q)) ?? '-'}`);
      }
      stop = true;
      await loop;
      process.kill(master, 'SIGCONT');
      await pub.close();
      await sub.close().catch(() => {});
      await sleep(3000);
    }
  } finally {
    await c.stop();
  }
}

main()
  .then(() => {
    killAllSync();
    process.exit(0);
  })
  .catch((e: unknown) => {
    console.error((e as Error).stack ?? String(e));
    killAllSync();
    process.exit(1);
  });
