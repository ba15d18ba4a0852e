// The scenario client: publishes persistent messages with publisher confirms and consumes them with manual acks,
// through the lab's virtual IP, reconnecting whenever its connection goes (as the seeds' .NET client is told to).
// It counts what matters to a user: confirmed messages never received (lost), messages received twice (duplicates),
// and the longest time without a confirm (the outage the application sees).
import { AMQPClient, type AMQPChannel } from '@cloudamqp/amqp-client';

export interface ClientStats {
  sent: number;
  confirmed: number;
  received: number;
  lost: number;
  duplicates: number;
  /** longest gap between two confirms while publishing, ms */
  outageMs: number;
  /** when that gap started (epoch ms) */
  outageAt: number;
  reconnects: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TrafficClient {
  readonly confirmed = new Set<number>();
  readonly seen = new Map<number, number>();
  /** epoch ms of each confirm and each delivery, for the timeline */
  readonly confirmTimes: number[] = [];
  readonly receiveTimes: number[] = [];
  private seq = 0;
  private stopPub = false;
  private stopAll = false;
  private pubLoop: Promise<void> | null = null;
  private subLoop: Promise<void> | null = null;
  reconnects = 0;
  private lastConfirm = 0;
  private maxGap = 0;
  private maxGapAt = 0;
  private conns = new Set<AMQPClient>();

  constructor(readonly url: string, readonly queue: string, readonly log: (l: string) => void = () => {}, readonly intervalMs = 10) {}

  start(): void {
    this.lastConfirm = Date.now();
    this.pubLoop = this.publishLoop();
    this.subLoop = this.consumeLoop();
  }

  private async connect(name: string): Promise<AMQPClient> {
    const c = new AMQPClient(`${this.url}?heartbeat=2&name=${name}`);
    c.onerror = () => {};
    const connecting = c.connect();
    // a connect that fails after the timeout must not become an unhandled rejection
    connecting.catch(() => {});
    await Promise.race([connecting, sleep(5000).then(() => Promise.reject(new Error('connect timeout')))]);
    this.conns.add(c);
    return c;
  }

  private async declare(ch: AMQPChannel): Promise<void> {
    await ch.queueDeclare(this.queue, { durable: true });
  }

  private async publishLoop(): Promise<void> {
    while (!this.stopPub) {
      let c: AMQPClient | null = null;
      try {
        c = await this.connect('lab-publisher');
        const ch = await c.channel();
        await this.declare(ch);
        await ch.confirmSelect();
        let broken = false;
        let inFlight = 0;
        while (!this.stopPub && !broken && !c.closed) {
          if (inFlight >= 50) {
            await sleep(5);
            continue;
          }
          const n = this.seq++;
          inFlight++;
          ch.basicPublish('', this.queue, `m${n}`, { deliveryMode: 2 }).then(
            () => {
              inFlight--;
              this.onConfirm(n);
            },
            () => {
              inFlight--;
              broken = true;
            },
          );
          await sleep(this.intervalMs);
        }
        // let the last confirms arrive
        const end = Date.now() + 3000;
        while (inFlight > 0 && !broken && Date.now() < end) await sleep(10);
      } catch {
        // connection refused or closed: try again
      }
      if (c !== null) {
        this.conns.delete(c);
        await c.close().catch(() => {});
      }
      if (!this.stopPub) {
        this.reconnects++;
        await sleep(100);
      }
    }
  }

  private onConfirm(n: number): void {
    const now = Date.now();
    if (now - this.lastConfirm > this.maxGap) {
      this.maxGap = now - this.lastConfirm;
      this.maxGapAt = this.lastConfirm;
    }
    this.lastConfirm = now;
    this.confirmed.add(n);
    this.confirmTimes.push(now);
  }

  private async consumeLoop(): Promise<void> {
    while (!this.stopAll) {
      let c: AMQPClient | null = null;
      try {
        c = await this.connect('lab-consumer');
        const ch = await c.channel();
        await this.declare(ch);
        await ch.basicQos(200);
        const sub = await ch.basicConsume(this.queue, { noAck: false }, (m) => {
          const n = Number((m.bodyToString() ?? '').slice(1));
          this.seen.set(n, (this.seen.get(n) ?? 0) + 1);
          this.receiveTimes.push(Date.now());
          void m.ack().catch(() => {});
        });
        const done = sub.wait().then(
          () => undefined,
          () => undefined,
        );
        while (!this.stopAll && !c.closed) {
          const r = await Promise.race([done.then(() => 'cancelled'), sleep(100).then(() => 'tick')]);
          if (r === 'cancelled') break;
        }
      } catch {
        // try again
      }
      if (c !== null) {
        this.conns.delete(c);
        await c.close().catch(() => {});
      }
      if (!this.stopAll) await sleep(100);
    }
  }

  /** Stops publishing, waits (up to `drainMs`) until every confirmed message has been received, stops. */
  async stop(drainMs = 30_000): Promise<ClientStats> {
    const stoppedAt = Date.now();
    this.stopPub = true;
    await this.pubLoop;
    // the gap still open when publishing stopped counts too
    if (stoppedAt - this.lastConfirm > this.maxGap) {
      this.maxGap = stoppedAt - this.lastConfirm;
      this.maxGapAt = this.lastConfirm;
    }
    const end = Date.now() + drainMs;
    while (Date.now() < end && [...this.confirmed].some((n) => !this.seen.has(n))) await sleep(100);
    this.stopAll = true;
    for (const c of this.conns) await c.close().catch(() => {});
    await this.subLoop;
    let lost = 0;
    for (const n of this.confirmed) if (!this.seen.has(n)) lost++;
    let dup = 0;
    for (const k of this.seen.values()) if (k > 1) dup++;
    return { sent: this.seq, confirmed: this.confirmed.size, received: this.seen.size, lost, duplicates: dup, outageMs: this.maxGap, outageAt: this.maxGapAt, reconnects: this.reconnects };
  }

  /** The longest gap between confirms inside [from, to] (epoch ms), and when it began. */
  gapBetween(from: number, to: number): { ms: number; at: number } {
    let prev = from;
    let best = { ms: 0, at: from };
    for (const t of this.confirmTimes) {
      if (t < from) continue;
      if (t > to) break;
      if (t - prev > best.ms) best = { ms: t - prev, at: prev };
      prev = t;
    }
    if (to - prev > best.ms) best = { ms: to - prev, at: prev };
    return best;
  }
}
