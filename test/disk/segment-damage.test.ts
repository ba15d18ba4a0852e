// A byte flipped in the middle of a message segment between two runs of a broker process: at the restart the damaged
// message is dropped and logged (file and offset), never delivered, and every other message comes back whole.
import { afterEach, describe, expect, it } from 'vitest';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEnv, freePort, kill9 } from '../helpers/broker-process.ts';

let env: TestEnv | null = null;
afterEach(async () => {
  await env?.cleanup();
  env = null;
});

function body(i: number): Buffer {
  return Buffer.from(`m${i};`.padEnd(500, String.fromCharCode(97 + (i % 26))));
}

describe('a damaged segment', () => {
  it('drops only the record whose byte was flipped, logs file and offset, and delivers every other message', { timeout: 120_000 }, async () => {
    env = new TestEnv();
    const port = await freePort();
    const dist = await freePort();
    const data = join(env.dir, 'data');
    const args = ['--data-dir', data, '--node-name', 'rabbit@damage', '--dist-port', String(dist)];
    const broker = await env.startBroker(args, port);
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const c = new AMQPClient(url);
    await c.connect();
    const ch = await c.channel();
    await ch.queueDeclare('dq', { durable: true });
    await ch.confirmSelect();
    const N = 2000;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) pending.push(ch.basicPublish('', 'dq', body(i), { deliveryMode: 2 }));
    await Promise.all(pending);
    await kill9(broker);

    const msgs = join(data, 'msgs');
    const qdir = join(msgs, readdirSync(msgs)[0]!);
    const seg = join(qdir, readdirSync(qdir).filter((f) => f.startsWith('seg.')).sort()[0]!);
    const bytes = readFileSync(seg);
    const at = bytes.indexOf('m1000;');
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] = bytes[at + 100]! ^ 0x01;
    writeFileSync(seg, bytes);

    const again = await env.startBroker(args, port);
    const c2 = new AMQPClient(url);
    await c2.connect();
    const ch2 = await c2.channel();
    const got: Buffer[] = [];
    for (;;) {
      const m = await ch2.basicGet('dq', { noAck: true });
      if (m === null) break;
      got.push(Buffer.from(m.body!));
    }
    expect(got.length).toBe(N - 1);
    const expected = Array.from({ length: N }, (_, i) => i).filter((i) => i !== 1000);
    expect(got.every((b, k) => b.equals(body(expected[k]!)))).toBe(true);
    expect(again.output()).toContain(`${seg}: offset `);
    expect(again.output()).toMatch(/fail their checksum: dropped; the records after it are kept/);
    await c2.close();
  });
});
