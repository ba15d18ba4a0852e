// A message store that keeps nothing: the embedded default. Messages live only in their queues, so a restart
// forgets them; confirms are immediate.
import type { DurableWaiter, MessageStore, QueueStore, RecoveredMessage } from './message-store.ts';
import type { Message } from '../queue/message.ts';

class MemoryQueueStore implements QueueStore {
  private nextId = 1;
  private readonly live = new Map<number, { msg: Message; delivered: boolean }>();
  private readonly owner: MemoryStore;
  private readonly key: string;

  constructor(owner: MemoryStore, key: string) {
    this.owner = owner;
    this.key = key;
  }

  append(msg: Message): number {
    const id = this.nextId++;
    if (this.owner.keepMessages) this.live.set(id, { msg, delivered: false });
    return id;
  }

  delivered(id: number): void {
    const e = this.live.get(id);
    if (e) e.delivered = true;
  }

  remove(id: number): void {
    this.live.delete(id);
  }

  purge(): void {
    this.live.clear();
  }

  recover(): RecoveredMessage[] {
    const out: RecoveredMessage[] = [];
    for (const [id, e] of this.live) out.push({ id, msg: e.msg, redelivered: e.delivered });
    return out;
  }

  destroy(): void {
    this.live.clear();
    this.tag = null;
    this.owner.queues.delete(this.key);
  }

  tag: string | null = null;

  setTag(tag: string | null): void {
    this.tag = tag;
  }
}

export class MemoryStore implements MessageStore {
  readonly durable = false;
  readonly queues = new Map<string, MemoryQueueStore>();
  /**
   * When true the store keeps appended messages so a broker stopped and started again in the same process (stop_app /
   * start_app) finds them; the broker itself holds them anyway, so this costs only the map entries.
   */
  readonly keepMessages: boolean;
  private waiters: DurableWaiter[] = [];
  private tokens: number[] = [];
  private scheduled = false;

  constructor(opts: { keepMessages?: boolean } = {}) {
    this.keepMessages = opts.keepMessages ?? true;
  }

  hasQueue(vhost: string, name: string): boolean {
    return this.queues.has(`${vhost}\u0000${name}`);
  }

  openQueue(vhost: string, name: string): QueueStore {
    const key = `${vhost}\u0000${name}`;
    let q = this.queues.get(key);
    if (!q) {
      q = new MemoryQueueStore(this, key);
      this.queues.set(key, q);
    }
    return q;
  }

  whenDurable(waiter: DurableWaiter, token: number): void {
    // nothing to wait for, but keep confirms asynchronous and batched like the disk store
    this.waiters.push(waiter);
    this.tokens.push(token);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const waiters = this.waiters;
    const tokens = this.tokens;
    this.waiters = [];
    this.tokens = [];
    for (let i = 0; i < waiters.length; i++) waiters[i]!.onDurable(tokens[i]!);
  }

  storedQueues(): { vhost: string; name: string }[] {
    return [...this.queues.keys()].map((k) => {
      const [vhost = '', name = ''] = k.split('\u0000');
      return { vhost, name };
    });
  }

  async close(): Promise<void> {
    this.flush();
  }
}
