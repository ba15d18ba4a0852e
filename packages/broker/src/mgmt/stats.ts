// Message counters and rates. Queues and connections keep running totals; a sampler records them every interval
// and a rate is the difference between the last two samples (RabbitMQ's basic rates mode: {"rate": per second}).
import type { Broker } from '../server/broker.ts';
import { QUEUE_RATED, type Queue, type QueueRates } from '../queue/queue.ts';
import { key } from '../server/vhost.ts';

export interface Totals {
  publish: number;
  deliver: number;
  ack: number;
  redeliver: number;
}

interface Sample {
  t: number;
  values: Map<string, number>;
}

export class Stats {
  private readonly broker: Broker;
  /** counters of queues that are gone, so node totals never go down */
  private readonly retired: Totals = { publish: 0, deliver: 0, ack: 0, redeliver: 0 };
  private prev: Sample | null = null;
  private last: Sample | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly onDeleted: (q: Queue) => void;

  constructor(broker: Broker, intervalMs: number) {
    this.broker = broker;
    this.onDeleted = (q) => {
      this.retired.publish += q.publishCount;
      this.retired.deliver += q.deliverCount;
      this.retired.ack += q.ackCount;
      this.retired.redeliver += q.redeliverCount;
    };
    broker.on('queue-deleted', this.onDeleted);
    broker.queueRates = (q) => this.queueRates(q);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.broker.off('queue-deleted', this.onDeleted);
    this.broker.queueRates = null;
  }

  /** Node-wide message counters (every queue, live or deleted). */
  totals(): Totals {
    const t = { ...this.retired };
    for (const vh of this.broker.vhosts.values()) {
      for (const q of vh.queues.values()) {
        t.publish += q.publishCount;
        t.deliver += q.deliverCount;
        t.ack += q.ackCount;
        t.redeliver += q.redeliverCount;
      }
    }
    return t;
  }

  sample(): void {
    const values = new Map<string, number>();
    const t = this.totals();
    let ready = 0;
    let unacked = 0;
    for (const vh of this.broker.vhosts.values()) {
      for (const q of vh.queues.values()) {
        const k = key('q', vh.name, q.name);
        values.set(`${k}\u0000publish`, q.publishCount);
        values.set(`${k}\u0000deliver_get`, q.deliverCount);
        values.set(`${k}\u0000ack`, q.ackCount);
        values.set(`${k}\u0000redeliver`, q.redeliverCount);
        values.set(`${k}\u0000messages`, q.messageCount + q.unackedCount);
        values.set(`${k}\u0000messages_ready`, q.messageCount);
        values.set(`${k}\u0000messages_unacknowledged`, q.unackedCount);
        ready += q.messageCount;
        unacked += q.unackedCount;
      }
    }
    for (const c of this.broker.connections) {
      values.set(`c\u0000${c.id}\u0000recv_oct`, c.recvOct);
      values.set(`c\u0000${c.id}\u0000send_oct`, c.sendOct);
    }
    values.set('publish', t.publish);
    values.set('deliver_get', t.deliver);
    values.set('ack', t.ack);
    values.set('redeliver', t.redeliver);
    values.set('messages', ready + unacked);
    values.set('messages_ready', ready);
    values.set('messages_unacknowledged', unacked);
    this.prev = this.last;
    this.last = { t: Date.now(), values };
  }

  /** Per-second rate of a sampled series between the last two samples; 0 before there are two. */
  rate(series: string): number {
    const a = this.prev;
    const b = this.last;
    if (!a || !b || b.t <= a.t) return 0;
    const x = a.values.get(series);
    const y = b.values.get(series);
    if (x === undefined || y === undefined) return 0;
    return Math.round(((y - x) * 1000) / (b.t - a.t) * 10) / 10;
  }

  details(series: string): { rate: number } {
    return { rate: this.rate(series) };
  }

  /** Every rated series of a queue, as sampled on this node. */
  queueRates(q: Queue): QueueRates {
    const out = {} as QueueRates;
    for (const what of QUEUE_RATED) out[what] = this.rate(this.queueSeries(q, what));
    return out;
  }

  queueSeries(q: Queue, what: string): string {
    return `${key('q', q.vhost, q.name)}\u0000${what}`;
  }
}
