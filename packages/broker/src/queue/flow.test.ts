import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../index.ts';
import { QUEUE_FLOW_HIGH } from './queue.ts';

let b: RunningBroker | undefined;
afterEach(async () => {
  await b?.close();
});

describe('flow control', () => {
  it('lets a publisher go when the consumers stop taking messages, so nothing stalls', async () => {
    b = await startBroker({ port: 0 });
    const pubConn = await new AMQPClient(b.url).connect();
    const subConn = await new AMQPClient(b.url).connect();
    const pub = await pubConn.channel();
    const sub = await subConn.channel();
    await pub.queueDeclare('stuck');
    await sub.basicQos(10);
    await sub.basicConsume('stuck', { noAck: false }, () => {});
    await pub.confirmSelect();
    const total = QUEUE_FLOW_HIGH * 3;
    const pending: Promise<number>[] = [];
    for (let i = 0; i < total; i++) pending.push(pub.basicPublish('', 'stuck', 'x'));
    await Promise.all(pending);
    const q = b.broker.vhosts.get('/')!.queues.get('stuck')!;
    expect(q.messageCount + q.unackedCount).toBe(total);
    await subConn.close();
    await pubConn.close();
  });

  it('holds a publisher back while a consumed queue has a backlog, then lets everything through', async () => {
    b = await startBroker({ port: 0 });
    const pubConn = await new AMQPClient(b.url).connect();
    const subConn = await new AMQPClient(b.url).connect();
    const pub = await pubConn.channel();
    const sub = await subConn.channel();
    await pub.queueDeclare('backlog');
    await sub.basicQos(1);
    // a slow consumer: one message at a time, acked a moment later
    await sub.basicConsume('backlog', { noAck: false }, (m) => {
      setTimeout(() => void m.ack().catch(() => {}), 2);
    });
    const total = QUEUE_FLOW_HIGH * 5;
    const body = 'x'.repeat(16);
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        const p = pub.basicPublish('', 'backlog', body);
        if (i % 500 === 0) await p;
      }
    })();
    const q = b.broker.vhosts.get('/')!.queues.get('backlog')!;
    let maxBacklog = 0;
    let sawFlow = false;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      maxBacklog = Math.max(maxBacklog, q.messageCount);
      sawFlow ||= [...b.broker.connections].some((c) => c.inFlow);
    }
    // the publisher could have sent everything by now; flow kept the backlog near the limit instead
    expect(sawFlow).toBe(true);
    expect(maxBacklog).toBeLessThan(QUEUE_FLOW_HIGH * 3);
    // the consumer goes away: the backlog no longer holds the publisher, and every message is there
    await subConn.close();
    await publishing;
    for (let i = 0; i < 100 && q.messageCount + q.ackCount < total; i++) await new Promise((r) => setTimeout(r, 50));
    expect(q.messageCount + q.ackCount).toBe(total);
    expect([...b.broker.connections].some((c) => c.inFlow)).toBe(false);
    await pubConn.close();
  });
});
