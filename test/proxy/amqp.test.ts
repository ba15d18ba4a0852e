// AMQP clients through the proxy, against Warren's broker (@warren/broker startBroker), with option amqp-check.
import { AMQPClient } from '@cloudamqp/amqp-client';
import amqplib from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, startProxy, stats, waitFor } from './helpers.ts';

type StartBroker = (opts: { port?: number; log?: (line: string) => void }) => Promise<{ url: string; port: number; close(): Promise<void> }>;
let startBroker: StartBroker | null = null;
try {
  startBroker = ((await import('../../packages/broker/src/index.ts')) as { startBroker?: StartBroker }).startBroker ?? null;
} catch {
  startBroker = null; // the broker package is not usable in this checkout: these tests are skipped
}

const brokers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await cleanup();
  await Promise.all(brokers.splice(0).map((b) => b.close().catch(() => {})));
});

async function broker(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const b = await (startBroker as StartBroker)({ port: 0, log: () => {} });
  brokers.push(b);
  return b;
}

const config = (ports: number[]) =>
  'defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n option redispatch\n' +
  'listen rabbitmq_cluster\n bind 127.0.0.1:0\n balance roundrobin\n option amqp-check\n option tcpka\n' +
  ports.map((p, i) => ` server rabbit${i + 1} 127.0.0.1:${p} check inter 100 rise 2 fall 2 on-marked-down shutdown-sessions\n`).join('');

describe.skipIf(!startBroker)('AMQP through the proxy', () => {
  it('amqp-client publishes and consumes through the proxy; amqp-check reports L7OK', async () => {
    const b = await broker();
    const { port, lb } = await startProxy(config([b.port]));
    await waitFor(() => stats(lb, 'rabbitmq_cluster', 'rabbit1').check_status === 'L7OK', 5000, 'AMQP check');
    const client = new AMQPClient(`amqp://guest:guest@127.0.0.1:${port('rabbitmq_cluster')}`);
    const conn = await client.connect();
    const ch = await conn.channel();
    await ch.queueDeclare('proxy-test', { durable: false, autoDelete: false });
    const got: string[] = [];
    await ch.basicConsume('proxy-test', { noAck: true }, (msg) => void got.push(msg.bodyToString() ?? ''));
    for (let i = 0; i < 50; i++) await ch.basicPublish('', 'proxy-test', `m${i}`);
    await waitFor(() => got.length === 50, 10_000, '50 messages');
    expect(got[0]).toBe('m0');
    expect(got[49]).toBe('m49');
    await conn.close();
    expect(Number(stats(lb, 'rabbitmq_cluster', 'rabbit1').bin)).toBeGreaterThan(0);
  });

  it('amqplib clients are spread over two brokers; a stopped broker is marked down and new clients go to the other', async () => {
    const [b1, b2] = [await broker(), await broker()];
    const { port, lb } = await startProxy(config([b1.port, b2.port]));
    const p = port('rabbitmq_cluster');
    await waitFor(() => stats(lb, 'rabbitmq_cluster', 'rabbit2').check_status === 'L7OK', 5000, 'AMQP checks');
    const c1 = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${p}`);
    const c2 = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${p}`);
    c1.on('error', () => {});
    c2.on('error', () => {});
    expect(stats(lb, 'rabbitmq_cluster', 'rabbit1').scur).toBe(1);
    expect(stats(lb, 'rabbitmq_cluster', 'rabbit2').scur).toBe(1);
    await b1.close();
    await waitFor(() => stats(lb, 'rabbitmq_cluster', 'rabbit1').status === 'DOWN', 5000, 'rabbit1 DOWN');
    const c3 = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${p}`);
    const ch = await c3.createChannel();
    await ch.assertQueue('after-failover', { durable: false });
    ch.sendToQueue('after-failover', Buffer.from('hello'));
    const msg = await waitForGet(ch, 'after-failover');
    expect(msg).toBe('hello');
    expect(stats(lb, 'rabbitmq_cluster', 'rabbit2').scur).toBe(2);
    await c3.close();
    await c2.close();
  });
});

async function waitForGet(ch: amqplib.Channel, queue: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m) return m.content.toString();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no message');
}
