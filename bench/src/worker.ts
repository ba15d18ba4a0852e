/**
 * One load-generator process: a group of producers, consumers or idle connections, driven by perf.ts over the IPC
 * channel. Configuration comes as JSON in BENCH_WORKER. Counters are cumulative; perf.ts asks for snapshots and
 * computes rates from their differences.
 */
import { AMQPClient, type AMQPChannel, type AMQPMessage, type AMQPProperties } from '@cloudamqp/amqp-client';
import type { Socket } from 'node:net';
import { Histogram } from './hist.ts';
import type { Counters, ParentMsg, WorkerConfig, WorkerMsg } from './types.ts';

const cfg = JSON.parse(process.env['BENCH_WORKER'] ?? '{}') as WorkerConfig;
const send = (m: WorkerMsg): void => {
  if (process.connected) process.send?.(m);
};

let sent = 0;
let confirmed = 0;
let nacked = 0;
let received = 0;
let stopped = false;
let producersDone = 0;
const hist = new Histogram();
let recordLatency = false;
const clients: AMQPClient[] = [];

function counters(): Counters {
  const u = process.cpuUsage();
  return {
    sent,
    confirmed,
    nacked,
    received,
    cpuSec: (u.user + u.system) / 1e6,
    at: Number(process.hrtime.bigint()) / 1e9,
  };
}

async function connect(): Promise<{ client: AMQPClient; ch: AMQPChannel }> {
  const client = new AMQPClient(cfg.uri);
  await client.connect();
  // Like PerfTest (the Java client's default), disable Nagle: small publishes and acks must not wait for an ACK.
  (client as unknown as { socket?: Socket }).socket?.setNoDelay(true);
  clients.push(client);
  const ch = await client.channel();
  return { client, ch };
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---------------------------------------------------------------------------------------------- producers

interface Producer {
  start(): void;
  /** Resolves when the producer has stopped and every outstanding confirm has arrived (or 3 s passed). */
  finish(): Promise<void>;
}

async function makeProducer(n: number): Promise<Producer> {
  const { client, ch } = await connect();
  if (cfg.confirm > 0) await ch.confirmSelect();
  const socket = (client as unknown as { socket: Socket }).socket;
  const body = Buffer.alloc(Math.max(16, cfg.size), 0x61);
  const props: AMQPProperties = cfg.persistent ? { deliveryMode: 2 } : {};
  const keys = cfg.topicKeys > 0 ? Array.from({ length: cfg.topicKeys }, (_, i) => `k.${i}.x`) : cfg.routingKeys;
  let keyIdx = n;
  let published = 0;
  let outstanding = 0;
  let done = false;
  let fillScheduled = false;
  let waiting: (() => void) | undefined;
  const limit = cfg.pmessages;

  const onConfirm = (): void => {
    outstanding--;
    confirmed++;
    if (waiting && outstanding === 0) waiting();
    scheduleFill();
  };
  const onNack = (): void => {
    outstanding--;
    nacked++;
    if (waiting && outstanding === 0) waiting();
    scheduleFill();
  };
  const ignore = (): void => {};

  const publishOne = (): void => {
    body.writeBigInt64LE(process.hrtime.bigint(), 0);
    const key = keys.length === 1 ? keys[0]! : keys[(keyIdx = (keyIdx * 1103515245 + 12345) & 0x7fffffff) % keys.length]!;
    const p = ch.basicPublish(cfg.exchange, key, body, props);
    published++;
    sent++;
    if (cfg.confirm > 0) {
      outstanding++;
      p.then(onConfirm, onNack);
    } else {
      p.catch(ignore);
    }
  };

  const canPublish = (): boolean =>
    !stopped &&
    !done &&
    client.blocked === undefined &&
    (limit === 0 || published < limit) &&
    (cfg.confirm === 0 || outstanding < cfg.confirm);
  // connection.blocked (the broker's memory or disk alarm): publishes would be refused, so wait for unblocked.
  client.onunblocked = (): void => scheduleFill();

  // Unlimited rate: fill the confirm window (or a batch) with the socket corked, so frames leave in one writev.
  const fill = (): void => {
    fillScheduled = false;
    if (client.blocked !== undefined) return;
    if (!canPublish()) return checkDone();
    socket.cork();
    let i = 0;
    while (i < 200 && canPublish()) {
      publishOne();
      i++;
    }
    socket.uncork();
    if (cfg.confirm > 0) return checkDone(); // confirms call scheduleFill
    if (!canPublish()) return checkDone();
    if (socket.writableNeedDrain) socket.once('drain', scheduleFill);
    else scheduleFill();
  };
  function scheduleFill(): void {
    if (fillScheduled || cfg.ratePerProducer > 0) return;
    fillScheduled = true;
    setImmediate(fill);
  }
  function checkDone(): void {
    if (!done && limit > 0 && published >= limit && outstanding === 0) {
      done = true;
      // The process reports done when all its producers are.
      if (++producersDone === cfg.count) send({ type: 'done', counters: counters() });
    }
  }

  // Fixed rate: a 1 ms timer publishes whatever the schedule says is due (bounded by the confirm window).
  let timer: NodeJS.Timeout | undefined;
  const startRate = (): void => {
    let t0 = performance.now();
    let base = 0;
    const perMs = cfg.ratePerProducer / 1000;
    timer = setInterval(() => {
      if (stopped || done || client.blocked !== undefined) return;
      // A broker that stops reading makes the socket buffer grow: wait instead of queueing in this process.
      if (socket.writableNeedDrain) return;
      const now = performance.now();
      let due = Math.floor((now - t0) * perMs) - (published - base);
      // More than 100 ms behind (the broker or this process stalled): drop the backlog rather than burst it out.
      if (due > perMs * 100) {
        t0 = now;
        base = published;
        due = Math.ceil(perMs);
      }
      if (due <= 0) return;
      socket.cork();
      for (let i = 0; i < due && canPublish(); i++) publishOne();
      socket.uncork();
      checkDone();
    }, 1);
  };

  return {
    start() {
      if (cfg.ratePerProducer > 0) startRate();
      else scheduleFill();
    },
    async finish() {
      if (timer) clearInterval(timer);
      if (outstanding === 0) return;
      await Promise.race([
        new Promise<void>((r) => (waiting = r)),
        new Promise<void>((r) => setTimeout(r, 3000)),
      ]);
    },
  };
}

// ---------------------------------------------------------------------------------------------- consumers

async function makeConsumer(queue: string): Promise<() => Promise<unknown>> {
  const { ch } = await connect();
  if (cfg.prefetch > 0) await ch.basicQos(cfg.prefetch);
  const multi = Math.max(1, cfg.multiAck);
  let unacked = 0;
  const ignore = (): void => {};
  const onMessage = (msg: AMQPMessage): void => {
    received++;
    if (recordLatency) {
      const b = msg.body;
      if (b && b.byteLength >= 8) {
        const sentAt = new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
        hist.record(Number(process.hrtime.bigint() - sentAt) / 1000);
      }
    }
    if (!cfg.autoack && ++unacked >= multi) {
      ch.basicAck(msg.deliveryTag, multi > 1).catch(ignore);
      unacked = 0;
    }
  };
  return () => ch.basicConsume(queue, { noAck: cfg.autoack }, onMessage);
}

// ---------------------------------------------------------------------------------------------- idle

async function openIdle(count: number): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < count) {
      next++;
      await connect();
    }
  };
  await Promise.all(Array.from({ length: Math.min(25, count) }, one));
}

// ---------------------------------------------------------------------------------------------- main

async function closeAll(): Promise<void> {
  await Promise.race([
    Promise.allSettled(clients.map((c) => c.close())),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
}

function fail(e: unknown): void {
  send({ type: 'error', message: `${cfg.role}#${cfg.index}: ${(e as Error).message}` });
}

async function main(): Promise<void> {
  const producers: Producer[] = [];
  const consumeStarters: (() => Promise<unknown>)[] = [];
  try {
    if (cfg.role === 'producer') {
      for (let i = 0; i < cfg.count; i++) producers.push(await makeProducer(cfg.index * 1000 + i));
    } else if (cfg.role === 'consumer') {
      for (const q of cfg.queues) consumeStarters.push(await makeConsumer(q));
      if (!cfg.deferConsume) for (const start of consumeStarters) await start();
    } else {
      await openIdle(cfg.count);
    }
  } catch (e) {
    send({ type: 'error', message: `${cfg.role}#${cfg.index}: ${(e as Error).message}` });
    process.exit(1);
  }
  for (const c of clients) {
    c.onerror = (err) => send({ type: 'error', message: `${cfg.role}#${cfg.index}: ${err.message}` });
  }

  process.on('message', (raw) => {
    const m = raw as ParentMsg;
    if (m.type === 'go') {
      for (const p of producers) p.start();
      if (cfg.deferConsume) for (const start of consumeStarters) void start().catch(fail);
    } else if (m.type === 'snap') {
      const c = counters();
      if (m.hist === 'reset') {
        hist.reset();
        recordLatency = true;
        send({ type: 'snap', id: m.id, counters: c });
      } else if (m.hist === 'take') {
        recordLatency = false;
        send({ type: 'snap', id: m.id, counters: c, hist: hist.toJSON() });
      } else {
        send({ type: 'snap', id: m.id, counters: c });
      }
    } else if (m.type === 'stop') {
      stopped = true;
      void (async () => {
        await Promise.all(producers.map((p) => p.finish()));
        send({ type: 'final', counters: counters() });
        await closeAll();
        process.exit(0);
      })();
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

void nextTurn().then(main);
