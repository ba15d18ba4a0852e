// The publisher-confirm rule (confirm-rule.ts) over real queues: what a message's confirm waits for from each queue
// it reaches, by delivery mode, durability, where the queue lives and whether it is mirrored.
import { describe, expect, it } from 'vitest';
import { Queue, type QueueHost, type QueueMirror } from '../queue/queue.ts';
import { MemoryStore } from '../store/memory-store.ts';
import type { DurableWaiter } from '../store/message-store.ts';
import { WAIT_DISC, WAIT_MIRRORS, WAIT_NONE, WAIT_REMOTE, confirmWaits, pendingConfirmations } from './confirm-rule.ts';

const host: QueueHost = { now: () => 0, deadLetter: () => {}, queueAutoDeleted: () => {}, log: () => {} };
const store = new MemoryStore();
let queues = 0;

/** A queue as VHost.declareQueue makes it: a durable queue mastered here gets a store; elsewhere, none. */
function queue(durable: boolean, local = true): Queue {
  const s = durable && local ? store.openQueue('/', `q${++queues}`) : null;
  return new Queue('/', 'q', { durable, exclusive: false, autoDelete: false, arguments: {}, owner: 0, node: local ? 'rabbit@here' : 'rabbit@there' }, host, s);
}

/** The master's end of a mirrored queue (cluster/mirrors.ts's MasterMirror), as far as the rule sees it. */
const mirror: QueueMirror = {
  track: (_w: DurableWaiter, _t: number) => 1,
  added: () => {},
  delivered: () => {},
  removed: () => {},
  holdsDispatch: () => false,
};

function mirrored(durable: boolean): Queue {
  const q = queue(durable);
  q.mirror = mirror;
  return q;
}

describe('what a confirm waits for, per queue a message reaches', () => {
  it('a persistent message in a durable queue on this node waits for the disc', () => {
    expect(confirmWaits(true, queue(true), true)).toBe(WAIT_DISC);
  });

  it('a transient message, or a non-durable queue, waits for nothing', () => {
    expect(confirmWaits(false, queue(true), true)).toBe(WAIT_NONE);
    expect(confirmWaits(true, queue(false), true)).toBe(WAIT_NONE);
    expect(confirmWaits(false, queue(false), true)).toBe(WAIT_NONE);
  });

  it('a mirrored queue waits for its mirrors whatever the delivery mode, and for the disc too when both apply', () => {
    expect(confirmWaits(false, mirrored(false), true)).toBe(WAIT_MIRRORS);
    expect(confirmWaits(true, mirrored(false), true)).toBe(WAIT_MIRRORS);
    expect(confirmWaits(false, mirrored(true), true)).toBe(WAIT_MIRRORS);
    expect(confirmWaits(true, mirrored(true), true)).toBe(WAIT_DISC | WAIT_MIRRORS);
  });

  it('a queue with no store here (a durable queue record whose messages live elsewhere) has no disc to wait for', () => {
    const q = queue(true);
    q.store = null;
    expect(confirmWaits(true, q, true)).toBe(WAIT_NONE);
  });

  it('a queue on another node: the forwarded persistent message in a durable queue waits for that node', () => {
    expect(confirmWaits(true, queue(true, false), false)).toBe(WAIT_REMOTE);
    expect(confirmWaits(false, queue(true, false), false)).toBe(WAIT_NONE);
    expect(confirmWaits(true, queue(false, false), false)).toBe(WAIT_NONE);
  });
});

describe('what a publish waits for in all', () => {
  it('one wait for the disc, however many queues need it, plus one per mirror wait and queue elsewhere', () => {
    expect(pendingConfirmations(false, 0)).toBe(0);
    expect(pendingConfirmations(true, 0)).toBe(1);
    expect(pendingConfirmations(false, 3)).toBe(3);
    expect(pendingConfirmations(true, 2)).toBe(3);
  });
});
