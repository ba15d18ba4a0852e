// Header values a publisher may send reach code that runs from timers (message TTL, dead-lettering into the store):
// the node must route them as RabbitMQ 3.10 does and stay up, also when the durable message expires only after a
// restart (a crash there would be a crash loop, since the message expires again at every boot).
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { join } from 'node:path';
import { TestEnv, freePort, kill9, type BrokerProcess } from '../helpers/broker-process.ts';

let env: TestEnv;
afterEach(async () => {
  await env?.cleanup();
});

const TTL_MS = 3000;
const double = (value: number): unknown => ({ '!': 'double', value });

async function waitFor(what: string, cond: () => Promise<boolean>, node: BrokerProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`broker died while waiting for ${what}:\n${node.output()}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The queue's message count, or -1 while the node cannot answer (still booting). */
async function count(url: string, queue: string): Promise<number> {
  try {
    const c = await amqp.connect(url);
    c.on('error', () => {});
    try {
      const ch = await c.createChannel();
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await c.close().catch(() => {});
    }
  } catch {
    return -1;
  }
}

async function setup(name: string): Promise<{ args: string[]; port: number; url: string }> {
  env = new TestEnv();
  const port = await freePort();
  const dist = await freePort();
  const args = ['--data-dir', join(env.dir, 'data'), '--node-name', `rabbit@${name}`, '--dist-port', String(dist), '--quiet'];
  return { args, port, url: `amqp://guest:guest@127.0.0.1:${port}` };
}

describe('header values in timer-driven work', () => {
  it('dead-letters doubles into a headers exchange by value, across a restart (int 1 and double 1.0 match 1, 1.5 does not)', async () => {
    const { args, port, url } = await setup('hdrttl');
    let node = await env.startBroker(args, port);
    const c = await amqp.connect(url);
    const ch = await c.createConfirmChannel();
    await ch.assertExchange('dlx-h', 'headers', { durable: true });
    await ch.assertQueue('matched', { durable: true });
    await ch.bindQueue('matched', 'dlx-h', '', { 'x-match': 'all', n: 1 });
    await ch.assertQueue('src', { durable: true, arguments: { 'x-message-ttl': TTL_MS, 'x-dead-letter-exchange': 'dlx-h' } });
    const pub = (body: string, n: unknown): void => void ch.sendToQueue('src', Buffer.from(body), { persistent: true, headers: { n } });
    pub('fraction', double(1.5));
    pub('double-one', double(1));
    pub('int-one', 1);
    await ch.waitForConfirms();
    await c.close();
    // the messages expire only after the restart
    await kill9(node);
    node = await env.startBroker(args, port);
    await waitFor('the expired messages to be dead-lettered', async () => (await count(url, 'src')) === 0 && (await count(url, 'matched')) === 2, node);
    await new Promise((r) => setTimeout(r, 300));
    expect(node.child.exitCode).toBeNull();
    const c2 = await amqp.connect(url);
    const ch2 = await c2.createChannel();
    const bodies: string[] = [];
    for (let m = await ch2.get('matched', { noAck: true }); m !== false; m = await ch2.get('matched', { noAck: true })) bodies.push(m.content.toString());
    expect(bodies.sort()).toEqual(['double-one', 'int-one']);
    await c2.close();
    // and it comes back up again
    await kill9(node);
    node = await env.startBroker(args, port);
    expect(await count(url, 'src')).toBe(0);
    await kill9(node);
  }, 90_000);

  it('stores a dead-lettered double beyond a long as a double, and delivers it after a restart', async () => {
    const { args, port, url } = await setup('bigdbl');
    let node = await env.startBroker(args, port);
    const c = await amqp.connect(url);
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('dead', { durable: true });
    await ch.assertQueue('src', { durable: true, arguments: { 'x-message-ttl': TTL_MS, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead' } });
    ch.sendToQueue('src', Buffer.from('huge'), { persistent: true, headers: { big: double(1e96), one: double(1), neg: double(-(2 ** 70)) } });
    await ch.waitForConfirms();
    await c.close();
    await waitFor('the message to be dead-lettered', async () => (await count(url, 'dead')) === 1, node);
    const c2 = await amqp.connect(url);
    let closed = false;
    c2.on('close', () => (closed = true));
    c2.on('error', () => {});
    const ch2 = await c2.createChannel();
    const m = await ch2.get('dead', { noAck: false });
    expect(m).not.toBe(false);
    const headers = (m as amqp.GetMessage).properties.headers!;
    expect(headers['big']).toBe(1e96);
    expect(headers['one']).toBe(1);
    expect(headers['neg']).toBe(-(2 ** 70));
    expect(closed).toBe(false);
    await c2.close();
    // kept in the store as it was sent: read back after a restart
    await kill9(node);
    node = await env.startBroker(args, port);
    const c3 = await amqp.connect(url);
    const ch3 = await c3.createChannel();
    const again = await ch3.get('dead', { noAck: true });
    expect(again).not.toBe(false);
    expect((again as amqp.GetMessage).properties.headers!['big']).toBe(1e96);
    await c3.close();
    expect(node.child.exitCode).toBeNull();
    await kill9(node);
  }, 90_000);
});
