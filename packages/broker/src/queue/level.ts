// One priority level of a queue's ready messages: FIFO, except that messages coming back (requeue, nack, channel
// closed) return to their original position, as RabbitMQ does. A returned message was at the head once, so it is
// older than everything still in the FIFO: returned ones are kept sorted apart and always served first.
import { Deque } from './deque.ts';
import type { QueuedMessage } from './message.ts';

export class Level {
  private readonly fifo = new Deque<QueuedMessage>();
  /** returned messages, ascending by seq */
  private returned: QueuedMessage[] = [];

  get length(): number {
    return this.fifo.length + this.returned.length;
  }

  push(qm: QueuedMessage): void {
    this.fifo.push(qm);
  }

  /** Puts a message back in its place by enqueue order. */
  giveBack(qm: QueuedMessage): void {
    const r = this.returned;
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid]!.seq < qm.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === r.length) r.push(qm);
    else r.splice(lo, 0, qm);
  }

  shift(): QueuedMessage | undefined {
    if (this.returned.length > 0) return this.returned.shift();
    return this.fifo.shift();
  }

  peek(): QueuedMessage | undefined {
    return this.returned.length > 0 ? this.returned[0] : this.fifo.peek();
  }

  clear(): QueuedMessage[] {
    const out = this.toArray();
    this.returned = [];
    this.fifo.clear();
    return out;
  }

  toArray(): QueuedMessage[] {
    return [...this.returned, ...this.fifo.toArray()];
  }
}
