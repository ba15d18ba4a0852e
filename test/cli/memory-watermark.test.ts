// brokerctl set_vm_memory_high_watermark drives the memory alarm at run time, as rabbitmqctl does in clients' test
// suites: a threshold below the node's memory raises the alarm at once (publishers get connection.blocked), a high
// one clears it (connection.unblocked), and bad arguments are refused with rabbitmqctl's messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { TestEnv, freePort, type BrokerProcess } from '../helpers/broker-process.ts';
import { parseWatermarkArgs } from '../../packages/broker/src/cli/memory-watermark.ts';

let env: TestEnv;
let url: string;
let _node: BrokerProcess;
const NODE = 'rabbit@wmtest';
const ctl = (...args: string[]) => env.ctl(['-n', NODE, ...args]);

beforeAll(async () => {
  env = new TestEnv();
  const port = await freePort();
  _node = await env.startBroker(['--memory', '--node-name', NODE, '--dist-port', String(await freePort())], port);
  url = `amqp://guest:guest@127.0.0.1:${port}`;
}, 60_000);
afterAll(async () => {
  await env.cleanup();
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('set_vm_memory_high_watermark', () => {
  it('absolute and fraction thresholds raise and clear the alarm, and publishers hear connection.blocked/unblocked', async () => {
    const conn = await new AMQPClient(url).connect();
    const events: string[] = [];
    conn.onblocked = (reason) => events.push(`blocked:${reason}`);
    conn.onunblocked = () => events.push('unblocked');
    const ch = await conn.channel();
    const q = await ch.queueDeclare('wm-q');
    await ch.basicPublish('', q.name, 'before');

    const set = await ctl('set_vm_memory_high_watermark', 'absolute', '1MB');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(`Setting memory threshold on ${NODE} to 1MB bytes ...\n`);
    // a publisher's connection is told it is blocked (amqp-client then refuses further publishes until unblocked)
    await until(() => events.includes('blocked:low on memory'), 10_000, 'connection.blocked');
    expect((await ctl('status')).stdout).toContain(`Memory alarm on node ${NODE}`);

    expect((await ctl('set_vm_memory_high_watermark', '0.99')).code).toBe(0);
    await until(() => events.includes('unblocked'), 10_000, 'connection.unblocked');
    await ch.basicPublish('', q.name, 'after');
    const conn2 = await new AMQPClient(url).connect();
    const ch2 = await conn2.channel();
    expect((await ch2.queueDeclare('wm-q', { passive: true })).messageCount).toBe(2);
    await conn2.close();
    await conn.close();
  }, 60_000);

  it('refuses bad arguments as rabbitmqctl does (exit 64)', async () => {
    const r = await ctl('set_vm_memory_high_watermark', '1.5');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('The threshold should be a fraction between 0.0 and 1.0');
    const u = await ctl('set_vm_memory_high_watermark', 'absolute', '10XB');
    expect(u.code).toBe(64);
    expect(u.stderr).toContain('Invalid units.');
  }, 60_000);

  it('parses RabbitMQ\'s memory units', () => {
    expect(parseWatermarkArgs(['absolute', '2GB'])).toMatchObject({ ok: true, value: 2e9, absolute: true });
    expect(parseWatermarkArgs(['absolute', '512MiB'])).toMatchObject({ ok: true, value: 512 * 1024 * 1024 });
    expect(parseWatermarkArgs(['absolute', '1048576'])).toMatchObject({ ok: true, value: 1048576 });
    expect(parseWatermarkArgs(['0.4'])).toMatchObject({ ok: true, value: 0.4, absolute: false });
    expect(parseWatermarkArgs(['abc'])).toMatchObject({ ok: false });
    expect(parseWatermarkArgs(['absolute'])).toEqual({ ok: false, error: 'not enough arguments.' });
  });
});
