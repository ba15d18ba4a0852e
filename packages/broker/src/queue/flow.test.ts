import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../index.ts';
import { QUEUE_FLOW_HIGH } from './queue.ts';

let b: RunningBroker | undefined;
afterEach(async () => {
  await b?.close();
});

describe('flow control', () => {
  it('holds a publisher back while a consumed queue has a backlog, then lets everything through', async () => {
    b = await startBroker({ port: 0 });
    const pubConn = await new AMQPClient(b.url).connect();
    const subConn = await new AMQPClient(b.url).connect();
    const pub = await pubConn.channel();
    const sub = await subConn.channel();
    await pub.queueDeclare('backlog');
    await sub.basicQos(1);
    // a consumer that takes one message and never acks: the queue can only grow
    let first: number | null = null;
    await sub.basicConsume('backlog', { noAck: false }, (m) => {
      first ??= m.deliveryTag;
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
    // wait until the broker stops reading: the backlog stops growing near the flow limit
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (q.messageCount === last && last > 0) break;
      last = q.messageCount;
    }
    const conn = [...b.broker.connections].find((c) => (c.channels.get(1)?.publishCount ?? 0) > 0);
    expect(q.messageCount).toBeGreaterThan(QUEUE_FLOW_HIGH);
    expect(q.messageCount).toBeLessThan(total - 1);
    expect(conn?.inFlow).toBe(true);
    // the consumer goes away: the backlog no longer holds the publisher, every message arrives
    await subConn.close();
    await publishing;
    for (let i = 0; i < 100 && q.messageCount < total; i++) await new Promise((r) => setTimeout(r, 50));
    expect(q.messageCount).toBe(total);
    expect(conn?.inFlow).toBe(false);
    await pubConn.close();
  });
});
