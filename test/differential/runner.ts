// Runs a sequence of operations against one broker (Warren or RabbitMQ) in a vhost of its own and writes down what a
// client observes, as lines of text that a comparison can line up:
//   - one line per operation: its result (counts, a message got, ok) or its error (reply code and text);
//   - per consumer, the deliveries in order; per channel, the returned messages and its close; per connection, its
//     close (these arrive asynchronously and are listed at the end, each list in its own order);
//   - the management API's view of the vhost's queues, exchanges, bindings and definitions export.
// Everything that legitimately differs between two runs (vhost name, x-death time, timestamps) is normalised.
import { AMQPClient, type AMQPBaseClient, type AMQPChannel, type AMQPMessage, type AMQPProperties, type AMQPTlsOptions } from '@cloudamqp/amqp-client';
import { EXCHANGES, QUEUES, type Args, type Op } from './ops.ts';

export interface Target {
  readonly name: string;
  /** amqp://guest:guest@127.0.0.1:PORT */
  readonly amqpUrl: string;
  /** http://127.0.0.1:PORT */
  readonly mgmtUrl: string;
}

/** passed to net.connect through the client's TLS options (it spreads them into the connect options) */
export const NO_DELAY = { noDelay: true } as unknown as AMQPTlsOptions;

/** How long one operation may take before it is written down as a timeout (a confirm that never comes). */
const OP_TIMEOUT_MS = 5000;

interface ChanState {
  ch: AMQPChannel;
  /** delivery tags not yet settled, in order */
  unacked: number[];
  confirm: boolean;
}

export async function mgmt(t: Target, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const init = {
    method,
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  };
  let res: Response;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(t.mgmtUrl + path, init);
      break;
    } catch (err) {
      // a management listener that is (re)starting refuses for a moment: retry a few times before giving up
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function createVhost(t: Target, vhost: string): Promise<void> {
  const v = encodeURIComponent(vhost);
  const r = await mgmt(t, 'PUT', `/api/vhosts/${v}`, {});
  if (r.status >= 300) throw new Error(`${t.name}: PUT vhost ${vhost}: ${r.status} ${JSON.stringify(r.json)}`);
  const p = await mgmt(t, 'PUT', `/api/permissions/${v}/guest`, { configure: '.*', write: '.*', read: '.*' });
  if (p.status >= 300) throw new Error(`${t.name}: PUT permissions: ${p.status}`);
}

export async function deleteVhost(t: Target, vhost: string): Promise<void> {
  await mgmt(t, 'DELETE', `/api/vhosts/${encodeURIComponent(vhost)}`).catch(() => {});
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), ms);
    }),
  ]);
}

/** Sorted-key JSON, so two equal objects print the same. */
export function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date)) {
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    if (typeof x === 'bigint') return Number(x);
    return x;
  });
}

export const PROF: Record<string, number> = {};

/** operations the broker does not answer */
const UNANSWERED = new Set<Op['t']>(['pub', 'ack', 'nack', 'reject']);

/**
 * Deletes every queue and exchange a sequence can have made (a binding goes with its queue or exchange), on `conn` if
 * it is given and open, then closes the connection; false if something could not be deleted (a queue still held
 * exclusively by a connection that did not close in time). What is left is the vhost as it was created.
 */
export async function emptyVhost(t: Target, vhost: string, conn?: AMQPBaseClient): Promise<boolean> {
  let c: AMQPBaseClient | null = null;
  try {
    c = conn && !conn.closed ? conn : await new AMQPClient(`${t.amqpUrl}/${encodeURIComponent(vhost)}`, NO_DELAY).connect();
    const ch = await c.channel();
    for (const q of QUEUES) await ch.queueDelete(q);
    for (const x of EXCHANGES) await ch.exchangeDelete(x);
    await c.close();
    return true;
  } catch {
    if (c && !c.closed) await c.close().catch(() => {});
    return false;
  }
}

export class Runner {
  /** whether the vhost was emptied after the run (and so can be used again) */
  emptied = false;
  private readonly conns: (AMQPBaseClient | null)[] = [null, null, null];
  private readonly chans = new Map<string, ChanState>();
  private readonly lines: string[] = [];
  /** asynchronous observations, one ordered list per source */
  private readonly streams = new Map<string, string[]>();
  private readonly t: Target;
  private readonly vhost: string;

  /** a pause after every operation (see differ.ts's stableDiff), 0 for none */
  private readonly paceMs: number;

  constructor(t: Target, vhost: string, paceMs = 0) {
    this.paceMs = paceMs;
    this.t = t;
    this.vhost = vhost;
  }

  private norm(s: string): string {
    return s.split(this.vhost).join('VH').replace(/amq\.(ctag|gen)-[\w-]+/g, 'amq.$1-*');
  }

  private stream(key: string, line: string): void {
    let l = this.streams.get(key);
    if (!l) this.streams.set(key, (l = []));
    l.push(line);
  }

  /** "channel 1 closed: NOT_FOUND - no queue 'q' in vhost 'v' (404)" -> "404 NOT_FOUND - no queue 'q' in vhost 'VH'" */
  private errorText(err: unknown): string {
    const msg = this.norm(String((err as Error)?.message ?? err));
    const m = /(?:closed|Closed)[^:]*: (.*?)(?: \((\d{3})\))?$/s.exec(msg);
    if (m && m[2]) return `${m[2]} ${m[1]}`;
    if (/Channel is closed|Connection closed|closed/i.test(msg)) return 'closed';
    return `client: ${msg}`;
  }

  private message(m: AMQPMessage): string {
    const p = { ...m.properties } as Record<string, unknown>;
    delete p['timestamp'];
    const h = p['headers'] as Record<string, unknown> | undefined;
    if (h) {
      const headers = { ...h };
      if (Array.isArray(headers['x-death'])) {
        headers['x-death'] = (headers['x-death'] as Record<string, unknown>[]).map((d) => {
          const c = { ...d };
          delete c['time'];
          return c;
        });
      }
      p['headers'] = headers;
    }
    for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
    return this.norm(`${m.exchange}|${m.routingKey}|${m.bodyToString()}|r=${m.redelivered}|${stable(p)}`);
  }

  private async conn(c: number): Promise<AMQPBaseClient> {
    const cur = this.conns[c];
    if (cur && !cur.closed) return cur;
    // noDelay: without it Nagle holds a write that follows one the broker does not answer (a publish, an ack) until
    // the broker's delayed ACK, 40 ms, and most of a sequence's time went there
    const conn = await new AMQPClient(`${this.t.amqpUrl}/${encodeURIComponent(this.vhost)}`, NO_DELAY).connect();
    conn.onerror = (err) => {
      this.stream(`conn c${c}`, `closed: ${this.errorText(err)}`);
    };
    this.conns[c] = conn;
    return conn;
  }

  private async chan(c: number, n: number): Promise<ChanState> {
    const key = `${c}.${n}`;
    const cur = this.chans.get(key);
    if (cur && !cur.ch.closed && !cur.ch.connection.closed) return cur;
    const conn = await this.conn(c);
    const ch = await conn.channel();
    const st: ChanState = { ch, unacked: [], confirm: false };
    ch.onerror = (reason) => {
      this.stream(`chan c${key}`, `closed: ${this.errorText(new Error(`channel closed: ${reason}`))}`);
    };
    ch.onReturn = (m) => {
      this.stream(`returns c${key}`, `${m.replyCode} ${m.replyText} ${this.message(m)}`);
    };
    this.chans.set(key, st);
    return st;
  }

  /**
   * A round trip on the channel just used if the broker does not answer the operation (a publish, an ack: an error it
   * causes closes the channel asynchronously), and on every channel with consumers, so what the last operation caused
   * (deliveries, a cancel, an asynchronous channel close) has arrived before the next one. An answered operation's
   * reply is that round trip already. The channels are settled side by side.
   */
  private async settle(last: ChanState | undefined): Promise<void> {
    const trips: Promise<unknown>[] = [];
    for (const st of this.chans.values()) {
      if (st.ch.closed || st.ch.connection.closed) continue;
      if (st !== last && st.ch.consumers.size === 0) continue;
      trips.push(withTimeout(st.ch.exchangeDeclare('amq.direct', 'direct', { passive: true }).catch(() => {}), OP_TIMEOUT_MS));
    }
    await Promise.all(trips);
  }

  private settleTag(st: ChanState, which: number, multiple: boolean): number | null {
    if (st.unacked.length === 0) return null;
    const i = Math.min(which, st.unacked.length - 1);
    const tag = st.unacked[i]!;
    if (multiple) st.unacked.splice(0, i + 1);
    else st.unacked.splice(i, 1);
    return tag;
  }

  private async exec(op: Op): Promise<string> {
    if (op.t === 'wait') {
      await new Promise((r) => setTimeout(r, op.ms));
      return 'waited';
    }
    if (op.t === 'connclose') {
      const cur = this.conns[op.c];
      if (!cur || cur.closed) return 'not open';
      await cur.close();
      for (const [k, st] of this.chans) if (st.ch.connection === cur) this.chans.delete(k);
      return 'ok';
    }
    const st = await this.chan(op.c, op.ch);
    const ch = st.ch;
    switch (op.t) {
      case 'qdecl': {
        const r = await ch.queueDeclare(op.q, { durable: op.durable, exclusive: op.exclusive, autoDelete: op.autoDelete, passive: op.passive }, op.args);
        return `m=${r.messageCount} c=${r.consumerCount}`;
      }
      case 'xdecl':
        await ch.exchangeDeclare(op.x, op.type, { durable: op.durable, autoDelete: op.autoDelete, internal: op.internal, passive: op.passive }, op.args);
        return 'ok';
      case 'qbind':
        await ch.queueBind(op.q, op.x, op.rk, op.args);
        return 'ok';
      case 'qunbind':
        await ch.queueUnbind(op.q, op.x, op.rk, op.args);
        return 'ok';
      case 'xbind':
        await ch.exchangeBind(op.dst, op.src, op.rk, op.args);
        return 'ok';
      case 'xunbind':
        await ch.exchangeUnbind(op.dst, op.src, op.rk, op.args);
        return 'ok';
      case 'pub': {
        const seq = await ch.basicPublish(op.x, op.rk, op.body, op.props as AMQPProperties, op.mandatory, op.immediate ?? false);
        return st.confirm ? `confirmed ${seq}` : 'sent';
      }
      case 'get': {
        const m = await ch.basicGet(op.q, { noAck: op.noAck });
        if (m === null) return 'empty';
        if (!op.noAck) st.unacked.push(m.deliveryTag);
        return `got tag=${m.deliveryTag} left=${m.messageCount} ${this.message(m)}`;
      }
      case 'consume': {
        const key = `deliveries c${op.c}.${op.ch} ${op.tag}`;
        const consumer = await ch.basicConsume(op.q, { tag: op.tag, noAck: op.noAck, exclusive: op.exclusive, args: op.args }, (m) => {
          if (!op.noAck) st.unacked.push(m.deliveryTag);
          this.stream(key, `tag=${m.deliveryTag} ${this.message(m)}`);
        });
        consumer.wait().catch((err: unknown) => {
          if (/cancelled by the server/i.test(String((err as Error)?.message))) this.stream(key, 'cancelled by the server');
        });
        return 'ok';
      }
      case 'cancel':
        await ch.basicCancel(op.tag);
        return 'ok';
      case 'ack': {
        const tag = this.settleTag(st, op.which, op.multiple);
        if (tag === null) return 'nothing to ack';
        await ch.basicAck(tag, op.multiple);
        return `acked ${tag}`;
      }
      case 'nack': {
        const tag = this.settleTag(st, op.which, op.multiple);
        if (tag === null) return 'nothing to nack';
        await ch.basicNack(tag, op.requeue, op.multiple);
        return `nacked ${tag}`;
      }
      case 'reject': {
        const tag = this.settleTag(st, op.which, false);
        if (tag === null) return 'nothing to reject';
        await ch.basicReject(tag, op.requeue);
        return `rejected ${tag}`;
      }
      case 'recover':
        await ch.basicRecover(op.requeue);
        st.unacked.length = 0;
        return 'ok';
      case 'qos':
        await ch.basicQos(op.count, op.size ?? 0, op.global);
        return 'ok';
      case 'tx':
        if (op.what === 'select') await ch.txSelect();
        else if (op.what === 'commit') await ch.txCommit();
        else await ch.txRollback();
        return 'ok';
      case 'confirm':
        await ch.confirmSelect();
        st.confirm = true;
        return 'ok';
      case 'flow':
        return `flow-ok ${await ch.basicFlow(op.active)}`;
      case 'purge':
        return `purged ${(await ch.queuePurge(op.q)).messageCount}`;
      case 'qdel':
        return `deleted ${(await ch.queueDelete(op.q, { ifUnused: op.ifUnused, ifEmpty: op.ifEmpty })).messageCount}`;
      case 'xdel':
        await ch.exchangeDelete(op.x, { ifUnused: op.ifUnused });
        return 'ok';
      case 'count': {
        const r = await ch.queueDeclare(op.q, { passive: true });
        return `m=${r.messageCount} c=${r.consumerCount}`;
      }
      case 'chclose':
        await ch.close();
        this.chans.delete(`${op.c}.${op.ch}`);
        return 'ok';
    }
  }

  /** Runs the operations; returns the observation lines. */
  async run(ops: Op[]): Promise<string[]> {
    try {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        let res: string;
        const tA = performance.now();
        try {
          const r = await withTimeout(this.exec(op), OP_TIMEOUT_MS);
          res = r === 'timeout' ? 'timeout' : r;
        } catch (err) {
          res = `error ${this.errorText(err)}`;
        }
        this.lines.push(`${i} ${op.t}: ${res}`);
        const tB = performance.now();
        await this.settle('ch' in op && UNANSWERED.has(op.t) ? this.chans.get(`${op.c}.${op.ch}`) : undefined);
        if (this.paceMs > 0) {
          await new Promise((r) => setTimeout(r, this.paceMs));
          await this.settle(undefined);
        }
        PROF[op.t] = (PROF[op.t] ?? 0) + tB - tA;
        PROF['settle'] = (PROF['settle'] ?? 0) + performance.now() - tB;
      }
      const tC = performance.now();
      await this.mgmtView();
      PROF['mgmtView'] = (PROF['mgmtView'] ?? 0) + performance.now() - tC;
    } finally {
      const tD = performance.now();
      // every connection but one is closed (with them their exclusive queues); the last one empties the vhost
      const open = this.conns.filter((c): c is AMQPBaseClient => c !== null && !c.closed);
      const keep = open.pop();
      for (const c of open) await withTimeout(c.close().catch(() => {}), 2000);
      this.emptied = (await withTimeout(emptyVhost(this.t, this.vhost, keep), OP_TIMEOUT_MS)) === true;
      PROF['close'] = (PROF['close'] ?? 0) + performance.now() - tD;
    }
    const out = [...this.lines];
    for (const k of [...this.streams.keys()].sort()) for (const l of this.streams.get(k)!) out.push(`${k}: ${l}`);
    return out;
  }

  /** The management API's static view of the vhost's objects (counts there are sampled, so they are read over AMQP). */
  private async mgmtView(): Promise<void> {
    const v = encodeURIComponent(this.vhost);
    const pick = (o: Record<string, unknown>, keys: string[]): Record<string, unknown> => Object.fromEntries(keys.map((k) => [k, o[k]]));
    const queues = (await mgmt(this.t, 'GET', `/api/queues/${v}`)).json as Record<string, unknown>[];
    for (const q of [...queues].sort((a, b) => String(a['name']).localeCompare(String(b['name'])))) {
      this.lines.push(this.norm(`mgmt queue: ${stable(pick(q, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments']))}`));
    }
    const exchanges = (await mgmt(this.t, 'GET', `/api/exchanges/${v}`)).json as Record<string, unknown>[];
    for (const x of [...exchanges].sort((a, b) => String(a['name']).localeCompare(String(b['name'])))) {
      this.lines.push(this.norm(`mgmt exchange: ${stable(pick(x, ['name', 'type', 'durable', 'auto_delete', 'internal', 'arguments']))}`));
    }
    const bindings = (await mgmt(this.t, 'GET', `/api/bindings/${v}`)).json as Record<string, unknown>[];
    const bl = bindings.map((b) => this.norm(`mgmt binding: ${stable(pick(b, ['source', 'destination', 'destination_type', 'routing_key', 'arguments']))}`)).sort();
    this.lines.push(...bl);
    const defs = (await mgmt(this.t, 'GET', `/api/definitions/${v}`)).json as Record<string, Args[]>;
    for (const k of ['queues', 'exchanges', 'bindings']) {
      const items = (defs[k] ?? []).map((o) => this.norm(`definitions ${k}: ${stable(o)}`)).sort();
      this.lines.push(...items);
    }
  }
}
