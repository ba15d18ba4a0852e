// A classic queue in process, on a clock the test moves: enqueue/get/ack/requeue order, message TTL (per queue and
// per message, expired from the head only), length limits with each overflow mode, priorities, and dispatch to
// consumers by priority and prefetch. RabbitMQ 3.10's semantics throughout (its "Queues", "TTL", "Queue Length
// Limit" and "Priority Queue Support" guides).
import { afterEach, describe, expect, it } from 'vitest';
import type { FieldTable } from '../amqp/reader.ts';
import { Consumer, type ConsumerChannel } from './consumer.ts';
import { Message, type QueuedMessage } from './message.ts';
import { EnqueueResult, Queue, computeLimits, type DeadLetterReason, type QueueHost } from './queue.ts';

class Host implements QueueHost {
  t = 1_000_000;
  readonly dead: { body: string; reason: DeadLetterReason; exchange: string }[] = [];
  readonly deleted: Queue[] = [];
  now(): number {
    return this.t;
  }
  deadLetter(_q: Queue, msg: Message, reason: DeadLetterReason, exchange: string): void {
    this.dead.push({ body: msg.body.toString(), reason, exchange });
  }
  queueAutoDeleted(q: Queue): void {
    this.deleted.push(q);
  }
  log(): void {}
}

const made: Queue[] = [];
afterEach(() => {
  for (const q of made.splice(0)) q.stop();
});

function queue(args: FieldTable = {}, host = new Host()): { q: Queue; host: Host } {
  const q = new Queue('/', 'q', { durable: false, exclusive: false, autoDelete: false, arguments: args, owner: 0, node: 'rabbit@here' }, host, null);
  made.push(q);
  return { q, host };
}

function msg(body: string, props: Message['properties'] = {}, at = 0): Message {
  return new Message('', 'q', props, null, Buffer.from(body), at);
}

const bodies = (qms: (QueuedMessage | undefined)[]): (string | undefined)[] => qms.map((qm) => qm?.msg.body.toString());

/** Takes every ready message with basic.get (no ack), in order. */
function drain(q: Queue): string[] {
  const out: string[] = [];
  for (let qm = q.get(true); qm !== undefined; qm = q.get(true)) out.push(qm.msg.body.toString());
  return out;
}

describe('order and settlement', () => {
  it('hands messages out in publish order and forgets them once acked', () => {
    const { q } = queue();
    for (const b of ['a', 'b', 'c']) expect(q.enqueue(msg(b))).toBe(EnqueueResult.Accepted);
    expect(q.messageCount).toBe(3);
    const got = [q.get(false), q.get(false)];
    expect(bodies(got)).toEqual(['a', 'b']);
    expect([q.messageCount, q.unackedCount]).toEqual([1, 2]);
    for (const qm of got) q.ack(qm!, null);
    expect([q.messageCount, q.unackedCount, q.ackCount]).toEqual([1, 0, 2]);
  });

  it('puts requeued messages back in their place, ahead of later ones, marked redelivered', () => {
    const { q } = queue();
    for (const b of ['a', 'b', 'c', 'd']) q.enqueue(msg(b));
    const a = q.get(false)!;
    const b = q.get(false)!;
    // requeued in the opposite order: they still come back as a, b
    q.requeue(b, null);
    q.requeue(a, null);
    const again = [q.get(false)!, q.get(false)!, q.get(false)!];
    expect(bodies(again)).toEqual(['a', 'b', 'c']);
    expect(again.map((m) => m.redelivered)).toEqual([true, true, false]);
    expect(again[0]!.deliveryCount).toBe(2);
  });

  it('dead-letters a rejected message to the dead-letter exchange, and drops it without one', () => {
    const { q, host } = queue({ 'x-dead-letter-exchange': 'dlx' });
    q.enqueue(msg('a'));
    q.reject(q.get(false)!, null);
    expect(host.dead).toEqual([{ body: 'a', reason: 'rejected', exchange: 'dlx' }]);
    const plain = queue();
    plain.q.enqueue(msg('b'));
    plain.q.reject(plain.q.get(false)!, null);
    expect([plain.q.messageCount, plain.q.unackedCount, plain.host.dead.length]).toEqual([0, 0, 0]);
  });

  it('purge empties the ready messages, not the unacked ones', () => {
    const { q } = queue();
    for (const b of ['a', 'b', 'c']) q.enqueue(msg(b));
    const held = q.get(false)!;
    expect(q.purge()).toBe(2);
    expect([q.messageCount, q.unackedCount]).toEqual([0, 1]);
    q.requeue(held, null);
    expect(drain(q)).toEqual(['a']);
  });
});

describe('message TTL', () => {
  it('expires by the queue TTL, dead-lettering as expired', () => {
    const { q, host } = queue({ 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx' });
    q.enqueue(msg('old'));
    host.t += 60;
    q.enqueue(msg('new'));
    host.t += 50; // old is 110 ms old, new 50 ms
    expect(drain(q)).toEqual(['new']);
    expect(host.dead).toEqual([{ body: 'old', reason: 'expired', exchange: 'dlx' }]);
  });

  it('takes the smaller of the queue TTL and the message expiration', () => {
    const { q, host } = queue({ 'x-message-ttl': 1000 });
    q.enqueue(msg('short', { expiration: '10' }));
    q.enqueue(msg('long', { expiration: '5000' }));
    host.t += 500;
    expect(drain(q)).toEqual(['long']);
  });

  it('expires from the head only: an expired message behind a live one waits for its turn', () => {
    const { q, host } = queue();
    q.enqueue(msg('forever'));
    q.enqueue(msg('brief', { expiration: '10' }));
    host.t += 100;
    expect(q.messageCount).toBe(2);
    expect(bodies([q.get(true)])).toEqual(['forever']);
    expect(q.get(true)).toBeUndefined();
  });

  it('a message with TTL 0 goes to a consumer ready for it, or is dropped at once', () => {
    const { q, host } = queue({ 'x-message-ttl': 0, 'x-dead-letter-exchange': 'dlx' });
    expect(q.enqueue(msg('nobody'))).toBe(EnqueueResult.Accepted);
    expect(q.messageCount).toBe(0);
    expect(host.dead.map((d) => d.reason)).toEqual(['expired']);
    const ch = channel();
    q.addConsumer(new Consumer('c', q, ch, true, false, 0, {}));
    q.enqueue(msg('taken'));
    expect(ch.got).toEqual(['c:taken']);
    expect(host.dead).toHaveLength(1);
  });
});

describe('length limits', () => {
  it('drop-head (the default) drops the oldest, dead-lettered as maxlen', () => {
    const { q, host } = queue({ 'x-max-length': 2, 'x-dead-letter-exchange': 'dlx' });
    for (const b of ['a', 'b', 'c']) expect(q.enqueue(msg(b))).toBe(EnqueueResult.Accepted);
    expect(host.dead).toEqual([{ body: 'a', reason: 'maxlen', exchange: 'dlx' }]);
    expect(drain(q)).toEqual(['b', 'c']);
  });

  it('reject-publish refuses the new message and keeps the queue as it was, without dead-lettering', () => {
    const { q, host } = queue({ 'x-max-length': 2, 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': 'dlx' });
    q.enqueue(msg('a'));
    q.enqueue(msg('b'));
    expect(q.enqueue(msg('c'))).toBe(EnqueueResult.Rejected);
    expect(host.dead).toEqual([]);
    expect(drain(q)).toEqual(['a', 'b']);
  });

  it('reject-publish-dlx refuses the new message and dead-letters it', () => {
    const { q, host } = queue({ 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'dlx' });
    q.enqueue(msg('a'));
    expect(q.enqueue(msg('b'))).toBe(EnqueueResult.Rejected);
    expect(host.dead).toEqual([{ body: 'b', reason: 'maxlen', exchange: 'dlx' }]);
  });

  it('counts bytes with x-max-length-bytes (bodies only)', () => {
    const { q } = queue({ 'x-max-length-bytes': 10 });
    for (const b of ['aaaa', 'bbbb', 'cccc']) q.enqueue(msg(b));
    expect([q.messageCount, q.readyBytes]).toEqual([2, 8]);
    expect(drain(q)).toEqual(['bbbb', 'cccc']);
  });

  it('holds requeued messages to the limit too, dropping from the head where they went back', () => {
    const { q } = queue({ 'x-max-length': 2 });
    q.enqueue(msg('a'));
    q.enqueue(msg('b'));
    const a = q.get(false)!;
    q.enqueue(msg('c'));
    q.requeue(a, null);
    expect(drain(q)).toEqual(['b', 'c']);
  });

  it('the smaller of the argument and the policy applies', () => {
    expect(computeLimits({ 'x-max-length': 5 }, { 'max-length': 3 }).maxLength).toBe(3);
    expect(computeLimits({ 'x-max-length': 2 }, { 'max-length': 3 }).maxLength).toBe(2);
    expect(computeLimits({}, { 'max-length': 3, overflow: 'reject-publish' })).toMatchObject({ maxLength: 3, overflow: 'reject-publish' });
    expect(computeLimits({ 'x-overflow': 'nonsense' }, undefined).overflow).toBe('drop-head');
  });
});

describe('priorities', () => {
  it('hands out the highest priority first, FIFO within a priority, capped at x-max-priority', () => {
    const { q } = queue({ 'x-max-priority': 5 });
    const sent: [string, number | undefined][] = [
      ['low', 1],
      ['top', 5],
      ['mid', 3],
      ['over', 9],
      ['none', undefined],
      ['mid2', 3],
    ];
    for (const [b, p] of sent) q.enqueue(msg(b, p === undefined ? {} : { priority: p }));
    expect(drain(q)).toEqual(['top', 'over', 'mid', 'mid2', 'low', 'none']);
  });

  it('ignores message priorities on a queue without x-max-priority', () => {
    const { q } = queue();
    q.enqueue(msg('a', { priority: 1 }));
    q.enqueue(msg('b', { priority: 9 }));
    expect(drain(q)).toEqual(['a', 'b']);
  });

  it('returns a requeued message to its place within its priority', () => {
    const { q } = queue({ 'x-max-priority': 2 });
    q.enqueue(msg('h1', { priority: 2 }));
    q.enqueue(msg('h2', { priority: 2 }));
    q.enqueue(msg('l', { priority: 0 }));
    const h1 = q.get(false)!;
    q.requeue(h1, null);
    expect(drain(q)).toEqual(['h1', 'h2', 'l']);
  });
});

/** A channel that records deliveries as `tag:body`. */
function channel(): ConsumerChannel & { got: string[]; open: boolean } {
  return {
    id: 1,
    connectionId: 1,
    got: [],
    open: true,
    canDeliver() {
      return this.open;
    },
    deliver(c: Consumer, qm: QueuedMessage) {
      this.got.push(`${c.tag}:${qm.msg.body.toString()}`);
    },
    consumerCancelledByServer() {},
  };
}

describe('dispatch to consumers', () => {
  it('round-robins among consumers of equal priority, within each prefetch', () => {
    const { q } = queue();
    const ch = channel();
    const a = new Consumer('a', q, ch, false, false, 1, {});
    const b = new Consumer('b', q, ch, false, false, 2, {});
    q.addConsumer(a);
    q.addConsumer(b);
    for (const m of ['1', '2', '3', '4']) q.enqueue(msg(m));
    expect(ch.got.sort()).toEqual(['a:1', 'b:2', 'b:3'].sort());
    expect(q.messageCount).toBe(1);
    expect([a.unacked, b.unacked]).toEqual([1, 2]);
  });

  it('a higher x-priority consumer gets the messages while it has room', () => {
    const { q } = queue();
    const ch = channel();
    q.addConsumer(new Consumer('low', q, ch, true, false, 0, {}));
    q.addConsumer(new Consumer('high', q, ch, false, false, 2, { 'x-priority': 10 }));
    for (const m of ['1', '2', '3']) q.enqueue(msg(m));
    expect(ch.got).toEqual(['high:1', 'high:2', 'low:3']);
  });

  it('keeps messages while the channel cannot take them, and delivers them on dispatch', () => {
    const { q } = queue();
    const ch = channel();
    ch.open = false;
    q.addConsumer(new Consumer('c', q, ch, true, false, 0, {}));
    q.enqueue(msg('x'));
    expect(ch.got).toEqual([]);
    ch.open = true;
    q.dispatch();
    expect(ch.got).toEqual(['c:x']);
  });
});
