// Timer-driven work runs under a last-resort guard: a dead-lettering that throws for one message (from the TTL timer,
// where a throw would end the process) is logged, that message is dropped, and the queue goes on expiring the rest.
import { describe, expect, it } from 'vitest';
import { Queue, type QueueHost } from './queue.ts';
import { Message } from './message.ts';

function host(log: string[], dead: string[]): QueueHost {
  return {
    now: () => Date.now(),
    deadLetter: (_q, msg) => {
      const body = msg.body.toString();
      if (body === 'poison') throw new RangeError('The number 1.5 cannot be converted to a BigInt because it is not an integer');
      dead.push(body);
    },
    queueAutoDeleted: () => {},
    log: (line) => log.push(line),
  };
}

describe('the last-resort guard on timer-driven work', () => {
  it('drops and logs the one message whose dead-lettering throws in the TTL timer, and expires the others', async () => {
    const log: string[] = [];
    const dead: string[] = [];
    const q = new Queue('/', 'ttl-q', { durable: false, exclusive: false, autoDelete: false, owner: 0, node: '', arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': 'dlx' } }, host(log, dead), null);
    for (const body of ['a', 'poison', 'b']) q.enqueue(new Message('', 'ttl-q', {}, null, Buffer.from(body), Date.now()));
    const until = Date.now() + 10_000;
    while (dead.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(dead).toEqual(['a', 'b']);
    expect(q.messageCount).toBe(0);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^queue 'ttl-q': dead-lettering a message \(expired\) failed, message dropped: RangeError: The number 1\.5/);
  });
});
