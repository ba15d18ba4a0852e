/**
 * AMQP load through a target port with @cloudamqp/amqp-client: one publishing and one consuming connection.
 * - throughput: publish `count` messages as fast as the socket takes them; msgs/s until the last is consumed.
 * - latency: publish at a fixed rate with a send timestamp in each body; percentiles of consume time - send time.
 */
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';

const BODY_BYTES = 256;

async function open(port: number, queue: string): Promise<{ client: AMQPClient; ch: AMQPChannel }> {
  const client = new AMQPClient(`amqp://guest:guest@127.0.0.1:${port}`);
  const conn = await client.connect();
  const ch = await conn.channel();
  await ch.queueDeclare(queue, { durable: false, autoDelete: false });
  await ch.queuePurge(queue);
  return { client, ch };
}

export async function amqpThroughput(port: number, count: number): Promise<number> {
  const queue = `bench-tput-${port}`;
  const pub = await open(port, queue);
  const sub = await open(port, queue);
  const body = new Uint8Array(BODY_BYTES);
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  await sub.ch.basicConsume(queue, { noAck: true }, () => {
    if (++got === count) done();
  });
  const t0 = performance.now();
  const BATCH = 500;
  for (let i = 0; i < count; i += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++) batch.push(pub.ch.basicPublish('', queue, body));
    await Promise.all(batch);
  }
  await all;
  const s = (performance.now() - t0) / 1000;
  await pub.client.close();
  await sub.client.close();
  return count / s;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  sent: number;
}

export async function amqpLatency(port: number, ratePerS: number, seconds: number): Promise<Latency> {
  const queue = `bench-lat-${port}`;
  const pub = await open(port, queue);
  const sub = await open(port, queue);
  const samples: number[] = [];
  const total = Math.round(ratePerS * seconds);
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  await sub.ch.basicConsume(queue, { noAck: true }, (msg) => {
    const b = msg.body;
    if (!b) return;
    const sent = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readDoubleLE(0);
    samples.push(performance.now() - sent);
    if (samples.length === total) done();
  });
  // Send in 1ms ticks; each tick catches up to the schedule so the offered rate holds even when timers are late.
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * ratePerS));
      while (sent < due) {
        const body = Buffer.alloc(BODY_BYTES);
        body.writeDoubleLE(performance.now(), 0);
        void pub.ch.basicPublish('', queue, body);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
  await pub.client.close();
  await sub.client.close();
  samples.sort((a, b) => a - b);
  const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN;
  return { p50: pct(50), p99: pct(99), max: samples[samples.length - 1] ?? NaN, sent };
}
