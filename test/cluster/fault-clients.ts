// The fault test's clients: a producer of persistent messages with publisher confirms and an acking consumer, each
// moving to the next node when theirs dies or hangs, and recording what the broker promised (confirms) and what it
// gave (deliveries). Message bodies are their ids.
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import { sleep } from '../vrrp/lab.ts';

/** How long connecting may take before the next node is tried (a cut node never answers the SYN). */
const CONNECT_TIMEOUT_MS = 3000;
/** A batch of publishes not settled by then means a hung node or a lost link: reconnect elsewhere. */
const CONFIRM_STALL_MS = 10_000;
/** Confirms outstanding at once, and the pause between batches (keeps the load modest on a shared 2-core box). */
const PUBLISH_WINDOW = 20;
const PUBLISH_PAUSE_MS = 15;
const CONSUMER_PREFETCH = 100;
const RETRY_PAUSE_MS = 300;

export type Log = (line: string) => void;

async function connectTo(url: string): Promise<AMQPClient> {
  const c = new AMQPClient(url);
  c.onerror = () => {};
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.connect(),
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('connect timeout')), CONNECT_TIMEOUT_MS))),
    ]);
  } catch (e) {
    drop(c);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return c;
}

/** Tear a connection down without waiting for the broker (which may be hung or unreachable). */
function drop(c: AMQPClient): void {
  const s = (c as unknown as { socket?: { destroy(): void } }).socket;
  s?.destroy();
}

/** Cycles through the nodes' URLs, starting at `first`. */
class Rotor {
  private i: number;
  constructor(private readonly urls: string[], first: number) {
    this.i = first % urls.length;
  }
  next(): string {
    const u = this.urls[this.i]!;
    this.i = (this.i + 1) % this.urls.length;
    return u;
  }
}

export class Producer {
  readonly confirmed = new Set<string>();
  /** [published at, confirmed at] of every confirm, in order: promotion times are read from here */
  readonly confirmTimes: [number, number][] = [];
  /** for the report on lost ids: id -> [published at, confirmed at, the node's address] */
  readonly confirmInfo = new Map<string, [number, number, string]>();
  published = 0;
  nacked = 0;
  reconnects = 0;
  private seq = 0;
  private stopping = false;
  private running: Promise<void> | null = null;
  private readonly rotor: Rotor;

  constructor(urls: string[], first: number, private readonly queue: string, private readonly log: Log) {
    this.rotor = new Rotor(urls, first);
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const url = this.rotor.next();
      let c: AMQPClient | undefined;
      try {
        c = await connectTo(url);
        const ch = await c.channel();
        await ch.confirmSelect();
        this.log(`producer: connected to ${new URL(url).hostname}`);
        const host = new URL(url).hostname;
        while (!this.stopping) await this.batch(c, ch, host);
        await c.close().catch(() => {});
      } catch (e) {
        if (c) drop(c);
        if (!this.stopping) {
          this.reconnects++;
          this.log(`producer: ${new URL(url).hostname}: ${(e as Error).message}; reconnecting`);
          await sleep(RETRY_PAUSE_MS);
        }
      }
    }
  }

  private async batch(c: AMQPClient, ch: AMQPChannel, host: string): Promise<void> {
    const batch: Promise<void>[] = [];
    for (let k = 0; k < PUBLISH_WINDOW; k++) {
      const id = `m${this.seq++}`;
      const at = Date.now();
      this.published++;
      batch.push(
        ch.basicPublish('', this.queue, id, { deliveryMode: 2 }).then(
          () => {
            const now = Date.now();
            this.confirmed.add(id);
            this.confirmTimes.push([at, now]);
            this.confirmInfo.set(id, [at, now, host]);
          },
          () => void this.nacked++,
        ),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.all(batch).then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), CONFIRM_STALL_MS))),
    ]);
    clearTimeout(timer);
    if (!settled) {
      drop(c);
      throw new Error(`no confirm for ${CONFIRM_STALL_MS} ms`);
    }
    if (c.closed) throw new Error('connection closed');
    await sleep(PUBLISH_PAUSE_MS);
  }
}

export class Consumer {
  /** id -> how many times it was delivered */
  readonly delivered = new Map<string, number>();
  deliveries = 0;
  lastDeliveryAt = 0;
  reconnects = 0;
  private stopping = false;
  private running: Promise<void> | null = null;
  private current: AMQPClient | undefined;
  private readonly rotor: Rotor;

  constructor(urls: string[], first: number, private readonly queue: string, private readonly log: Log) {
    this.rotor = new Rotor(urls, first);
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.current) await this.current.close().catch(() => drop(this.current!));
    await this.running;
  }

  record(id: string): void {
    this.delivered.set(id, (this.delivered.get(id) ?? 0) + 1);
    this.deliveries++;
    this.lastDeliveryAt = Date.now();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const url = this.rotor.next();
      let c: AMQPClient | undefined;
      try {
        c = await connectTo(url);
        this.current = c;
        const ch = await c.channel();
        await ch.basicQos(CONSUMER_PREFETCH);
        const sub = await ch.basicConsume(this.queue, { noAck: false }, (m) => {
          this.record(m.bodyToString() ?? '');
          void m.ack().catch(() => {});
        });
        this.log(`consumer: consuming through ${new URL(url).hostname}`);
        // resolves on a clean close, rejects on basic.cancel (failover, queue down) or a lost connection
        await sub.wait();
        if (!this.stopping) throw new Error('consumer ended');
      } catch (e) {
        if (c) drop(c);
        if (!this.stopping) {
          this.reconnects++;
          this.log(`consumer: ${new URL(url).hostname}: ${(e as Error).message}; reconnecting`);
          await sleep(RETRY_PAUSE_MS);
        }
      } finally {
        this.current = undefined;
      }
    }
  }
}

/**
 * Empties the queue with basic.get (no ack) through the first node that can serve it, recording into `into`;
 * it is empty when a get comes back empty twice, a second apart. Returns the node's URL it drained through.
 */
export async function drain(urls: string[], queue: string, into: Consumer, timeoutMs: number, log: Log): Promise<string | undefined> {
  const until = Date.now() + timeoutMs;
  let i = 0;
  while (Date.now() < until) {
    const url = urls[i++ % urls.length]!;
    let c: AMQPClient | undefined;
    try {
      c = await connectTo(url);
      const ch = await c.channel();
      let empties = 0;
      let n = 0;
      while (empties < 2) {
        const m = await ch.basicGet(queue, { noAck: true });
        if (m) {
          into.record(m.bodyToString() ?? '');
          n++;
          empties = 0;
        } else {
          empties++;
          if (empties < 2) await sleep(1000);
        }
      }
      await c.close().catch(() => {});
      log(`drain: ${n} messages through ${new URL(url).hostname}`);
      return url;
    } catch (e) {
      if (c) drop(c);
      log(`drain: ${new URL(url).hostname}: ${(e as Error).message}`);
      await sleep(1000);
    }
  }
  return undefined;
}
