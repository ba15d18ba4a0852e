// The operations of a differential sequence and the seeded generator that makes them. An operation is plain JSON, so a
// sequence can be printed, shrunk and pasted into a test as it is.
//
// Names come from small pools (q0..q4, x0..x3, the amq.* exchanges, the default exchange), so operations run into
// each other: a bind finds the queue declared before it, a redeclare meets different arguments, a delete meets a
// consumer. Connections c0..c2 hold channels 1..3; a channel or connection that was closed (by the client or by an
// error) is opened again by the next operation that uses it.

export type Args = Record<string, unknown>;

export interface Props {
  contentType?: string;
  headers?: Args;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  appId?: string;
  userId?: string;
  expiration?: string;
  messageId?: string;
  type?: string;
}

/** logical channel: connection index and channel number on it */
export interface Ch {
  c: number;
  ch: number;
}

export type Op =
  | ({ t: 'qdecl'; q: string; durable: boolean; exclusive: boolean; autoDelete: boolean; passive: boolean; args: Args } & Ch)
  | ({ t: 'xdecl'; x: string; type: string; durable: boolean; autoDelete: boolean; internal: boolean; passive: boolean; args: Args } & Ch)
  | ({ t: 'qbind' | 'qunbind'; q: string; x: string; rk: string; args: Args } & Ch)
  | ({ t: 'xbind' | 'xunbind'; dst: string; src: string; rk: string; args: Args } & Ch)
  | ({ t: 'pub'; x: string; rk: string; body: string; props: Props; mandatory: boolean; immediate?: boolean } & Ch)
  | ({ t: 'get'; q: string; noAck: boolean } & Ch)
  | ({ t: 'consume'; q: string; tag: string; noAck: boolean; exclusive: boolean; args: Args } & Ch)
  | ({ t: 'cancel'; tag: string } & Ch)
  | ({ t: 'ack'; which: number; multiple: boolean } & Ch)
  | ({ t: 'nack'; which: number; multiple: boolean; requeue: boolean } & Ch)
  | ({ t: 'reject'; which: number; requeue: boolean } & Ch)
  | ({ t: 'recover'; requeue: boolean } & Ch)
  | ({ t: 'qos'; count: number; global: boolean; size?: number } & Ch)
  | ({ t: 'tx'; what: 'select' | 'commit' | 'rollback' } & Ch)
  | ({ t: 'confirm' } & Ch)
  | ({ t: 'flow'; active: boolean } & Ch)
  | ({ t: 'purge'; q: string } & Ch)
  | ({ t: 'qdel'; q: string; ifUnused: boolean; ifEmpty: boolean } & Ch)
  | ({ t: 'xdel'; x: string; ifUnused: boolean } & Ch)
  | ({ t: 'count'; q: string } & Ch)
  | ({ t: 'chclose' } & Ch)
  | { t: 'connclose'; c: number }
  | { t: 'wait'; ms: number };

/** mulberry32: small, fast, and the same on every platform */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export const QUEUES = ['q0', 'q1', 'q2', 'q3', 'q4'];
export const EXCHANGES = ['x0', 'x1', 'x2', 'x3'];
const BUILTIN = ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers'];
const TYPES = ['direct', 'fanout', 'topic', 'headers'];
const KEYS = ['', 'a', 'b', 'a.b', 'a.*', '#', '*.b', 'q0', 'q1', 'q2'];
const TAGS = ['t0', 't1', 't2', 't3'];

function queueArgs(r: Rng): Args {
  const a: Args = {};
  if (r.chance(0.25)) a['x-message-ttl'] = r.pick([0, 0, 60_000, 150]);
  if (r.chance(0.05)) a['x-expires'] = r.pick([60_000, 1]);
  if (r.chance(0.3)) a['x-max-length'] = r.pick([0, 1, 2, 3]);
  if (r.chance(0.1)) a['x-max-length-bytes'] = r.pick([0, 5, 20]);
  if (r.chance(0.3)) a['x-overflow'] = r.pick(['drop-head', 'reject-publish', 'reject-publish-dlx']);
  if (r.chance(0.35)) a['x-dead-letter-exchange'] = r.pick([...EXCHANGES, '', 'amq.fanout', 'nowhere']);
  if (r.chance(0.2)) a['x-dead-letter-routing-key'] = r.pick(QUEUES);
  if (r.chance(0.15)) a['x-max-priority'] = r.pick([1, 5, 10]);
  if (r.chance(0.1)) a['x-single-active-consumer'] = r.chance(0.8);
  if (r.chance(0.05)) a['x-queue-mode'] = r.pick(['lazy', 'default']);
  if (r.chance(0.03)) a['x-queue-type'] = 'classic';
  // deliberate errors: a value of the wrong type or out of range
  if (r.chance(0.03)) a[r.pick(['x-max-length', 'x-message-ttl', 'x-expires'])] = r.pick([-1, 'ten']);
  if (r.chance(0.02)) a['x-overflow'] = 'sometimes';
  if (r.chance(0.01)) a['x-max-priority'] = r.pick([256, -1]);
  if (r.chance(0.01)) a['x-queue-mode'] = 'eager';
  if (r.chance(0.01)) a['x-single-active-consumer'] = 'yes';
  return a;
}

function headersArgs(r: Rng): Args {
  const a: Args = { 'x-match': r.pick(['any', 'all']) };
  if (r.chance(0.7)) a['h1'] = r.pick(['a', 'b']);
  if (r.chance(0.5)) a['h2'] = r.pick([1, 2]);
  return a;
}

function props(r: Rng, i: number): Props {
  const p: Props = {};
  if (r.chance(0.3)) p.contentType = r.pick(['text/plain', 'application/json']);
  if (r.chance(0.4)) {
    const h: Args = {};
    if (r.chance(0.7)) h['h1'] = r.pick(['a', 'b']);
    if (r.chance(0.5)) h['h2'] = r.pick([1, 2]);
    if (r.chance(0.1)) h['CC'] = [r.pick(KEYS)];
    if (r.chance(0.05)) h['BCC'] = [r.pick(KEYS)];
    p.headers = h;
  }
  if (r.chance(0.3)) p.deliveryMode = r.pick([1, 2]);
  if (r.chance(0.3)) p.priority = r.int(12);
  if (r.chance(0.2)) p.expiration = r.pick(['0', '60000', '150']);
  if (r.chance(0.2)) p.messageId = `m${i}`;
  if (r.chance(0.1)) p.correlationId = 'corr';
  if (r.chance(0.05)) p.replyTo = r.pick(['q0', 'amq.rabbitmq.reply-to']);
  if (r.chance(0.05)) p.appId = 'app';
  if (r.chance(0.05)) p.type = 'kind';
  // user_id must name the connection's user (guest): another is refused (406)
  if (r.chance(0.04)) p.userId = r.pick(['guest', 'guest', 'mallory']);
  return p;
}

function ch(r: Rng): Ch {
  return { c: r.int(3), ch: 1 + r.int(3) };
}

/** A sequence of `length` operations from `seed`. */
export function generate(seed: number, length = 30): Op[] {
  const r = new Rng(seed);
  const ops: Op[] = [];
  const anyExchange = (): string => (r.chance(0.7) ? r.pick(EXCHANGES) : r.pick(BUILTIN));
  for (let i = 0; i < length; i++) {
    const c = ch(r);
    const w = r.int(100);
    if (w < 14) {
      ops.push({ t: 'qdecl', ...c, q: r.pick(QUEUES), durable: r.chance(0.3), exclusive: r.chance(0.15), autoDelete: r.chance(0.1), passive: r.chance(0.08), args: queueArgs(r) });
    } else if (w < 21) {
      const args: Args = {};
      if (r.chance(0.25)) args['alternate-exchange'] = r.pick([...EXCHANGES, 'amq.fanout']);
      ops.push({ t: 'xdecl', ...c, x: r.chance(0.95) ? r.pick(EXCHANGES) : r.pick(['amq.direct', 'amq.x', '']), type: r.chance(0.97) ? r.pick(TYPES) : 'x-unknown', durable: r.chance(0.3), autoDelete: r.chance(0.1), internal: r.chance(0.08), passive: r.chance(0.05), args });
    } else if (w < 30) {
      const x = anyExchange();
      ops.push({ t: r.chance(0.9) ? 'qbind' : 'qunbind', ...c, q: r.pick(QUEUES), x, rk: r.pick(KEYS), args: r.chance(0.3) ? headersArgs(r) : {} });
    } else if (w < 33) {
      ops.push({ t: r.chance(0.85) ? 'xbind' : 'xunbind', ...c, dst: r.pick(EXCHANGES), src: anyExchange(), rk: r.pick(KEYS), args: r.chance(0.3) ? headersArgs(r) : {} });
    } else if (w < 55) {
      const x = anyExchange();
      ops.push({ t: 'pub', ...c, x, rk: x === '' ? r.pick(QUEUES) : r.pick(KEYS), body: `b${i}${r.chance(0.2) ? 'x'.repeat(r.int(30)) : ''}`, props: props(r, i), mandatory: r.chance(0.3), ...(r.chance(0.01) ? { immediate: true } : {}) });
    } else if (w < 60) {
      ops.push({ t: 'get', ...c, q: r.pick(QUEUES), noAck: r.chance(0.4) });
    } else if (w < 66) {
      ops.push({ t: 'consume', ...c, q: r.pick(QUEUES), tag: r.pick(TAGS), noAck: r.chance(0.3), exclusive: r.chance(0.1), args: r.chance(0.15) ? { 'x-priority': r.int(3) } : {} });
    } else if (w < 68) {
      ops.push({ t: 'cancel', ...c, tag: r.pick(TAGS) });
    } else if (w < 73) {
      ops.push({ t: 'ack', ...c, which: r.int(3), multiple: r.chance(0.3) });
    } else if (w < 76) {
      ops.push({ t: 'nack', ...c, which: r.int(3), multiple: r.chance(0.3), requeue: r.chance(0.5) });
    } else if (w < 79) {
      ops.push({ t: 'reject', ...c, which: r.int(3), requeue: r.chance(0.5) });
    } else if (w < 80) {
      ops.push({ t: 'recover', ...c, requeue: r.chance(0.85) });
    } else if (w < 82) {
      ops.push({ t: 'qos', ...c, count: r.int(4), global: r.chance(0.3), ...(r.chance(0.05) ? { size: 1000 } : {}) });
    } else if (w < 84) {
      ops.push({ t: 'tx', ...c, what: r.pick(['select', 'select', 'commit', 'rollback'] as const) });
    } else if (w < 86) {
      ops.push({ t: 'confirm', ...c });
    } else if (w < 87) {
      ops.push({ t: 'purge', ...c, q: r.pick(QUEUES) });
    } else if (w < 89) {
      ops.push({ t: 'qdel', ...c, q: r.pick(QUEUES), ifUnused: r.chance(0.3), ifEmpty: r.chance(0.3) });
    } else if (w < 91) {
      ops.push({ t: 'xdel', ...c, x: r.chance(0.9) ? r.pick(EXCHANGES) : 'amq.direct', ifUnused: r.chance(0.4) });
    } else if (w < 95) {
      ops.push({ t: 'count', ...c, q: r.pick(QUEUES) });
    } else if (w < 97) {
      ops.push({ t: 'chclose', ...c });
    } else if (w < 98) {
      ops.push({ t: 'connclose', c: c.c });
    } else if (w < 99) {
      ops.push({ t: 'flow', ...c, active: r.chance(0.5) });
    } else {
      ops.push({ t: 'wait', ms: 400 });
    }
  }
  // the end state: every queue's counts
  for (const q of QUEUES) ops.push({ t: 'count', c: 0, ch: 1, q });
  return ops;
}
