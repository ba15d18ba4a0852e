// A broker process is killed with SIGKILL while a publisher streams confirmed persistent messages: after a restart
// every confirmed message is in the queue, and messages delivered but never acked come back redelivered.
import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { join } from 'node:path';
import { TestEnv, freePort, kill9 } from '../helpers/broker-process.ts';

let env: TestEnv;
afterEach(async () => {
  await env?.cleanup();
});

describe('kill -9 of a disc node', () => {
  it('loses no confirmed persistent message', async () => {
    env = new TestEnv();
    const port = await freePort();
    const dist = await freePort();
    const args = ['--data-dir', join(env.dir, 'data'), '--node-name', 'rabbit@crash', '--dist-port', String(dist), '--quiet'];
    const node = await env.startBroker(args, port);
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const conn = await new AMQPClient(url).connect();
    conn.onerror = () => {};
    const ch = await conn.channel();
    await ch.queueDeclare('durable-q', { durable: true });
    await ch.confirmSelect();
    const confirmed = new Set<number>();
    let stop = false;
    let i = 0;
    const publishing = (async () => {
      const window: Promise<void>[] = [];
      while (!stop) {
        const n = i++;
        window.push(
          ch.basicPublish('', 'durable-q', `m${n}`, { deliveryMode: 2 }).then(
            () => void confirmed.add(n),
            () => {},
          ),
        );
        if (window.length >= 100) {
          await Promise.all(window.splice(0));
          // a dead connection fails publishes synchronously: yield so timers and child exits still run
          await new Promise((r) => setImmediate(r));
        }
      }
      await Promise.allSettled(window);
    })();
    // let a few thousand confirms through, then kill in the middle of the stream
    while (confirmed.size < 3000) await new Promise((r) => setTimeout(r, 20));
    await kill9(node);
    stop = true;
    await publishing;
    expect(confirmed.size).toBeGreaterThanOrEqual(3000);

    const node2 = await env.startBroker(args, port);
    const conn2 = await new AMQPClient(url).connect();
    const ch2 = await conn2.channel();
    const ok = await ch2.queueDeclare('durable-q', { durable: true, passive: true });
    const seen = new Set<number>();
    for (;;) {
      const m = await ch2.basicGet('durable-q', { noAck: true });
      if (!m) break;
      seen.add(Number(m.bodyString()!.slice(1)));
    }
    expect(seen.size).toBe(ok.messageCount);
    const lost = [...confirmed].filter((n) => !seen.has(n));
    expect(lost).toEqual([]);
    await conn2.close();
    await kill9(node2);
  }, 60_000);

  it('brings back delivered but unacknowledged messages with redelivered=true', async () => {
    env = new TestEnv();
    const port = await freePort();
    const dist = await freePort();
    const args = ['--data-dir', join(env.dir, 'data'), '--node-name', 'rabbit@crash2', '--dist-port', String(dist), '--quiet'];
    const node = await env.startBroker(args, port);
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const conn = await new AMQPClient(url).connect();
    conn.onerror = () => {};
    const ch = await conn.channel();
    await ch.queueDeclare('q', { durable: true });
    await ch.confirmSelect();
    for (let n = 0; n < 10; n++) await ch.basicPublish('', 'q', `m${n}`, { deliveryMode: 2 });
    const first = await ch.basicGet('q', { noAck: false });
    expect(first?.redelivered).toBe(false);
    // let the delivered marker reach the store's group write
    await new Promise((r) => setTimeout(r, 200));
    await kill9(node);
    const node2 = await env.startBroker(args, port);
    const conn2 = await new AMQPClient(url).connect();
    const ch2 = await conn2.channel();
    const got: [string, boolean][] = [];
    for (;;) {
      const m = await ch2.basicGet('q', { noAck: true });
      if (!m) break;
      got.push([m.bodyString()!, m.redelivered]);
    }
    expect(got).toHaveLength(10);
    expect(got.find(([b]) => b === 'm0')).toEqual(['m0', true]);
    expect(got.filter(([, r]) => r)).toHaveLength(1);
    await conn2.close();
    await kill9(node2);
  }, 60_000);
});
