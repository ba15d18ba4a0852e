// A virtual host: its exchanges, queues, bindings and policies, and routing of published messages to queues.
import type { FieldTable, FieldValue } from '../amqp/reader.ts';
import { ChannelError, ConnectionError, REPLY, accessRefused, notFound, preconditionFailed, resourceLocked } from '../amqp/errors.ts';
import { bindingKey, Exchange, type Binding, type Destination, type ExchangeOptions } from '../routing/exchange.ts';
import { DirectExchange } from '../routing/direct.ts';
import { FanoutExchange } from '../routing/fanout.ts';
import { TopicExchange } from '../routing/topic.ts';
import { HeadersExchange } from '../routing/headers.ts';
import { EnqueueResult, Queue, type DeadLetterReason, type QueueHost } from '../queue/queue.ts';
import { Message } from '../queue/message.ts';
import { matchPolicy, type PolicyDef } from '../policy/policy.ts';
import type { DefinitionsStore } from '../store/definitions-store.ts';
import type { MessageStore } from '../store/message-store.ts';
import { randomBytes } from 'node:crypto';
import type { MetaCommand } from '../cluster/metadata.ts';

const EXCHANGE_TYPES: Record<string, new (vhost: string, name: string, opts: ExchangeOptions) => Exchange> = {
  direct: DirectExchange,
  fanout: FanoutExchange,
  topic: TopicExchange,
  headers: HeadersExchange,
};

/** The broker-wide services a vhost uses. */
export interface VHostContext {
  readonly messageStore: MessageStore;
  readonly definitions: DefinitionsStore;
  now(): number;
}

export interface QueueDeclare {
  name: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  passive: boolean;
  owner: number;
}

export interface PublishResult {
  /** queues that took the message */
  routed: number;
  /** queues that refused it (x-overflow reject-publish) */
  rejected: number;
  /** routed to at least one durable queue as a persistent message: the confirm waits for the disk */
  needsDisk: boolean;
  /** a queue it went to is over its flow limit: the publisher should be held back */
  congested: Queue | null;
}

export class VHost implements QueueHost {
  readonly name: string;
  readonly ctx: VHostContext;
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  readonly policies = new Map<string, PolicyDef>();
  tracing = false;
  /** set by the broker to learn about auto-deleted queues (to cancel consumers on channels) */
  onQueueDeleted: ((q: Queue) => void) | null = null;
  // reused per publish: no allocation on the routing path
  private readonly destinations = new Set<Destination>();
  private readonly visited = new Set<Exchange>();
  private readonly result: PublishResult = { routed: 0, rejected: 0, needsDisk: false, congested: null };
  private deadLetterDepth = 0;

  constructor(name: string, ctx: VHostContext) {
    this.name = name;
    this.ctx = ctx;
    for (const [n, type] of [
      ['', 'direct'], ['amq.direct', 'direct'], ['amq.fanout', 'fanout'], ['amq.topic', 'topic'],
      ['amq.headers', 'headers'], ['amq.match', 'headers'], ['amq.rabbitmq.trace', 'topic'],
    ] as const) {
      this.exchanges.set(n, new EXCHANGE_TYPES[type]!(name, n, { durable: true, autoDelete: false, internal: n === 'amq.rabbitmq.trace', arguments: {} }));
    }
  }

  now(): number {
    return this.ctx.now();
  }

  // ---- exchanges

  declareExchange(name: string, type: string, durable: boolean, autoDelete: boolean, internal: boolean, args: FieldTable, passive: boolean): Exchange {
    const existing = this.exchanges.get(name);
    if (passive) {
      if (!existing) throw notFound(`no exchange '${name}' in vhost '${this.name}'`);
      return existing;
    }
    // an existing exchange (amq.* included) is checked for equivalence; only new names are checked (RabbitMQ)
    if (!existing) this.checkNewExchange(name, type);
    const ctor = EXCHANGE_TYPES[type]!;
    if (existing) {
      const diff = (what: string, got: unknown, cur: unknown): ChannelError =>
        preconditionFailed(`inequivalent arg '${what}' for exchange '${name}' in vhost '${this.name}': received '${String(got)}' but current is '${String(cur)}'`);
      if (existing.type !== type) throw diff('type', type, existing.type);
      if (existing.durable !== durable) throw diff('durable', durable, existing.durable);
      if (existing.autoDelete !== autoDelete) throw diff('auto_delete', autoDelete, existing.autoDelete);
      if (existing.internal !== internal) throw diff('internal', internal, existing.internal);
      return existing;
    }
    const ex = new ctor(this.name, name, { durable, autoDelete, internal, arguments: args });
    this.exchanges.set(name, ex);
    this.applyExchangePolicy(ex);
    if (durable) this.ctx.definitions.put('exchange', key(this.name, name), { vhost: this.name, name, type, durable, auto_delete: autoDelete, internal, arguments: args });
    return ex;
  }

  /** The checks a new exchange passes before it is created (or proposed to the cluster). */
  checkNewExchange(name: string, type: string): void {
    if (name === '' || name.startsWith('amq.')) throw accessRefused(`exchange name '${name}' contains reserved prefix 'amq.*'`);
    if (!EXCHANGE_TYPES[type]) throw new ConnectionError(REPLY.COMMAND_INVALID, `invalid exchange type '${type}'`);
  }

  checkDeleteExchange(name: string, ifUnused: boolean): Exchange | undefined {
    if (name === '') throw accessRefused('operation not permitted on the default exchange');
    if (name.startsWith('amq.')) throw accessRefused(`exchange '${name}' in vhost '${this.name}' is a system exchange and cannot be deleted`);
    const ex = this.exchanges.get(name);
    if (ex && ifUnused && (ex.bindings.size > 0 || this.hasBindingsTo(ex))) throw preconditionFailed(`exchange '${name}' in vhost '${this.name}' in use`);
    return ex;
  }

  getExchange(name: string): Exchange {
    const ex = this.exchanges.get(name);
    if (!ex) throw notFound(`no exchange '${name}' in vhost '${this.name}'`);
    return ex;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    const ex = this.checkDeleteExchange(name, ifUnused);
    if (!ex) return; // idempotent, as RabbitMQ 3.x
    this.removeExchange(ex);
  }

  private hasBindingsTo(dest: Destination): boolean {
    for (const ex of this.exchanges.values()) for (const b of ex.bindings.values()) if (b.destination === dest) return true;
    return false;
  }

  private removeExchange(ex: Exchange): void {
    this.exchanges.delete(ex.name);
    for (const b of [...ex.bindings.values()]) this.removeBinding(ex, b, false);
    // bindings with this exchange as destination
    for (const src of [...this.exchanges.values()]) {
      for (const b of [...src.bindings.values()]) if (b.destination === ex) this.removeBinding(src, b, true);
    }
    if (ex.durable) this.ctx.definitions.remove('exchange', key(this.name, ex.name));
  }

  // ---- queues

  declareQueue(d: QueueDeclare): Queue {
    let name = d.name;
    const existing = name === '' ? undefined : this.queues.get(name);
    if (d.passive) {
      if (!existing) throw notFound(`no queue '${name}' in vhost '${this.name}'`);
      this.checkExclusive(existing, d.owner);
      return existing;
    }
    if (existing) {
      this.checkExclusive(existing, d.owner);
      const diff = (what: string, got: unknown, cur: unknown): ChannelError =>
        preconditionFailed(`inequivalent arg '${what}' for queue '${name}' in vhost '${this.name}': received '${String(got)}' but current is '${String(cur)}'`);
      if (existing.durable !== d.durable) throw diff('durable', d.durable, existing.durable);
      if (existing.exclusive !== d.exclusive) throw diff('exclusive', d.exclusive, existing.exclusive);
      if (existing.autoDelete !== d.autoDelete) throw diff('auto_delete', d.autoDelete, existing.autoDelete);
      for (const k of EQUIVALENCE_ARGS) {
        const a = d.arguments[k];
        const b = existing.arguments[k];
        if (a !== undefined && !sameValue(a, b)) {
          throw preconditionFailed(`inequivalent arg '${k}' for queue '${name}' in vhost '${this.name}': received ${describe(a)} but current is ${describe(b)}`);
        }
      }
      existing.touch();
      return existing;
    }
    name = this.checkNewQueue(d);
    const store = d.durable ? this.ctx.messageStore.openQueue(this.name, name) : null;
    const q = new Queue(this.name, name, { durable: d.durable, exclusive: d.exclusive, autoDelete: d.autoDelete, arguments: d.arguments, owner: d.exclusive ? d.owner : 0 }, this, store);
    this.queues.set(name, q);
    this.applyQueuePolicy(q);
    if (d.durable && !d.exclusive) {
      this.ctx.definitions.put('queue', key(this.name, name), { vhost: this.name, name, durable: true, auto_delete: d.autoDelete, arguments: d.arguments });
    }
    // AMQP 0-9-1 §3.1.3.1: every queue is bound to the default exchange by its name (implicit, not listed as a
    // removable binding); routing to it is resolved directly in route().
    return q;
  }

  /** The checks a new queue passes; returns its name (generated for a server-named queue). */
  checkNewQueue(d: QueueDeclare): string {
    let name = d.name;
    if (name === '') name = `amq.gen-${randomBytes(16).toString('base64url').slice(0, 22)}`;
    else if (name.startsWith('amq.')) throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    validateQueueArgs(name, this.name, d.arguments);
    return name;
  }

  checkDeleteQueue(q: Queue, ifUnused: boolean, ifEmpty: boolean): void {
    if (ifUnused && q.consumerCount > 0) throw preconditionFailed(`queue '${q.name}' in vhost '${this.name}' in use`);
    if (ifEmpty && q.messageCount > 0) throw preconditionFailed(`queue '${q.name}' in vhost '${this.name}' is not empty`);
  }

  checkExclusive(q: Queue, owner: number): void {
    if (q.exclusive && q.owner !== owner) {
      throw resourceLocked(`cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`);
    }
  }

  getQueue(name: string, owner: number): Queue {
    const q = this.queues.get(name);
    if (!q) throw notFound(`no queue '${name}' in vhost '${this.name}'`);
    this.checkExclusive(q, owner);
    return q;
  }

  deleteQueue(q: Queue, ifUnused: boolean, ifEmpty: boolean): number {
    this.checkDeleteQueue(q, ifUnused, ifEmpty);
    return this.removeQueue(q);
  }

  removeQueue(q: Queue): number {
    if (this.queues.get(q.name) !== q) return 0;
    this.queues.delete(q.name);
    for (const src of [...this.exchanges.values()]) {
      for (const b of [...src.bindings.values()]) if (b.destination === q) this.removeBinding(src, b, true);
    }
    const n = q.destroy();
    if (q.durable && !q.exclusive) this.ctx.definitions.remove('queue', key(this.name, q.name));
    this.onQueueDeleted?.(q);
    return n;
  }

  queueAutoDeleted(q: Queue): void {
    // deferred: called from inside consumer cancellation or a timer
    queueMicrotask(() => this.removeQueue(q));
  }

  // ---- bindings

  bind(source: Exchange, destination: Queue | Exchange, routingKey: string, args: FieldTable): void {
    if (source.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    const k = bindingKey(destination, routingKey, args);
    const b: Binding = { source: source.name, destination, routingKey, arguments: args, key: k };
    if (source.bind(b) && source.durable && destination.durable) {
      this.ctx.definitions.put('binding', key(this.name, source.name, k), bindingRecord(this.name, b));
    }
  }

  unbind(source: Exchange, destination: Queue | Exchange, routingKey: string, args: FieldTable): void {
    if (source.name === '') throw accessRefused(`operation not permitted on the default exchange`);
    const k = bindingKey(destination, routingKey, args);
    const b = source.bindings.get(k);
    if (b) this.removeBinding(source, b, true);
  }

  private removeBinding(source: Exchange, b: Binding, autoDeleteSource: boolean): void {
    source.unbind(b.key);
    const dest = b.destination as Queue | Exchange;
    if (source.durable && dest.durable) this.ctx.definitions.remove('binding', key(this.name, source.name, b.key));
    // auto-delete exchanges go when their last binding (as source) goes
    if (autoDeleteSource && source.autoDelete && source.bindings.size === 0 && this.exchanges.get(source.name) === source) this.removeExchange(source);
  }

  listBindings(): Binding[] {
    const out: Binding[] = [];
    for (const ex of this.exchanges.values()) for (const b of ex.bindings.values()) out.push(b);
    return out;
  }

  // ---- policies

  applyExchangePolicy(ex: Exchange): void {
    const p = matchPolicy(this.policies.values(), 'exchange', ex.name);
    const ae = ex.arguments['alternate-exchange'];
    const pae = p?.definition['alternate-exchange'];
    ex.alternateExchange = typeof ae === 'string' ? ae : typeof pae === 'string' ? pae : undefined;
  }

  applyQueuePolicy(q: Queue): void {
    const p = matchPolicy(this.policies.values(), 'queue', q.name);
    q.applyPolicy(p ? { name: p.name, definition: p.definition } : null);
  }

  reapplyPolicies(): void {
    for (const ex of this.exchanges.values()) this.applyExchangePolicy(ex);
    for (const q of this.queues.values()) this.applyQueuePolicy(q);
  }

  // ---- publishing

  /**
   * Routes a message to queues (AMQP 0-9-1 §3.1.3) through exchange-to-exchange bindings and alternate exchanges.
   * The returned object is reused by the next call.
   */
  publish(exchange: Exchange, msg: Message): PublishResult {
    const r = this.result;
    r.routed = 0;
    r.rejected = 0;
    r.needsDisk = false;
    r.congested = null;
    const dests = this.destinations;
    dests.clear();
    this.collect(exchange, msg, dests);
    if (dests.size === 0) return r;
    const persistent = msg.properties.deliveryMode === 2;
    for (const d of dests) {
      if (d.kind !== 'queue') continue;
      const q = d as Queue;
      if (q.enqueue(msg) === EnqueueResult.Accepted) {
        r.routed++;
        if (persistent && q.durable && q.store !== null) r.needsDisk = true;
        if (q.overFlowLimit) r.congested = q;
      } else r.rejected++;
    }
    dests.clear();
    return r;
  }

  private collect(exchange: Exchange, msg: Message, out: Set<Destination>): void {
    const headers = msg.properties.headers;
    if (exchange.name === '') {
      const q = this.queues.get(msg.routingKey);
      if (q) out.add(q);
    } else {
      exchange.route(msg.routingKey, headers, out);
    }
    // sender-selected distribution (RabbitMQ): CC and BCC headers add routing keys
    if (headers !== undefined && (headers['CC'] !== undefined || headers['BCC'] !== undefined)) {
      for (const h of ['CC', 'BCC']) {
        const list = headers[h];
        if (!Array.isArray(list)) continue;
        for (const rk of list) {
          if (typeof rk !== 'string') continue;
          if (exchange.name === '') {
            const q = this.queues.get(rk);
            if (q) out.add(q);
          } else exchange.route(rk, headers, out);
        }
      }
    }
    let hasExchange = false;
    for (const d of out) if (d.kind === 'exchange') hasExchange = true;
    if (hasExchange) this.expandExchanges(exchange, msg, out);
    if (out.size === 0 && exchange.alternateExchange !== undefined) {
      const ae = this.exchanges.get(exchange.alternateExchange);
      if (ae && ae !== exchange && !this.visited.has(ae)) {
        this.visited.add(exchange);
        this.collect(ae, msg, out);
        this.visited.delete(exchange);
      }
    }
  }

  /** Replaces exchange destinations by what they route to (exchange-to-exchange bindings), guarding cycles. */
  private expandExchanges(source: Exchange, msg: Message, out: Set<Destination>): void {
    const seen = new Set<Exchange>([source]);
    const stack: Exchange[] = [];
    for (const d of out) if (d.kind === 'exchange') stack.push(d as Exchange);
    while (stack.length > 0) {
      const ex = stack.pop()!;
      out.delete(ex);
      if (seen.has(ex)) continue;
      seen.add(ex);
      const next = new Set<Destination>();
      ex.route(msg.routingKey, msg.properties.headers, next);
      for (const d of next) {
        if (d.kind === 'exchange') stack.push(d as Exchange);
        else out.add(d);
      }
    }
  }

  // ---- dead-lettering (RabbitMQ: x-dead-letter-exchange, x-death header)

  deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason, exchange: string, routingKey: string | undefined): void {
    const ex = this.exchanges.get(exchange);
    if (!ex) return; // a missing dead-letter exchange drops the message, as RabbitMQ does
    const headers: FieldTable = { ...(msg.properties.headers ?? {}) };
    const deaths = Array.isArray(headers['x-death']) ? [...(headers['x-death'] as FieldTable[])] : [];
    // a cycle without a rejection in it would loop forever: drop (RabbitMQ)
    if (reason !== 'rejected' && deaths.some((d) => d['queue'] === queue.name) && deaths.every((d) => d['reason'] !== 'rejected')) return;
    const idx = deaths.findIndex((d) => d['queue'] === queue.name && d['reason'] === reason);
    const rks: FieldValue[] = [msg.routingKey];
    const cc = msg.properties.headers?.['CC'];
    if (Array.isArray(cc)) rks.push(...cc);
    let entry: FieldTable;
    if (idx >= 0) {
      const prev = deaths.splice(idx, 1)[0]!;
      entry = { ...prev, count: (typeof prev['count'] === 'number' ? prev['count'] : 1) + 1, time: new Date(Math.floor(this.now() / 1000) * 1000) };
    } else {
      entry = { count: 1, reason, queue: queue.name, time: new Date(Math.floor(this.now() / 1000) * 1000), exchange: msg.exchange, 'routing-keys': rks };
      if (msg.properties.expiration !== undefined && reason === 'expired') entry['original-expiration'] = msg.properties.expiration;
    }
    deaths.unshift(entry);
    headers['x-death'] = deaths;
    if (headers['x-first-death-reason'] === undefined) {
      headers['x-first-death-reason'] = reason;
      headers['x-first-death-queue'] = queue.name;
      headers['x-first-death-exchange'] = msg.exchange;
    }
    delete headers['CC'];
    delete headers['BCC'];
    const props = { ...msg.properties, headers };
    delete props.expiration;
    const copy = new Message(exchange, routingKey ?? msg.routingKey, props, null, msg.body, this.now());
    if (this.deadLetterDepth > 16) return;
    this.deadLetterDepth++;
    try {
      this.publish(ex, copy);
    } finally {
      this.deadLetterDepth--;
    }
  }

  /** Applies a replicated exchange/queue/binding command (see cluster/metadata.ts). */
  applyMeta(cmd: MetaCommand): void {
    switch (cmd.op) {
      case 'exchange.declare':
        this.declareExchange(cmd.name, cmd.type, cmd.durable, cmd.autoDelete, cmd.internal, cmd.args, false);
        return;
      case 'exchange.delete':
        this.deleteExchange(cmd.name, false);
        return;
      case 'queue.declare':
        this.declareQueue({ name: cmd.name, durable: cmd.durable, exclusive: cmd.exclusive, autoDelete: cmd.autoDelete, arguments: cmd.args, passive: false, owner: cmd.owner });
        return;
      case 'queue.delete': {
        const q = this.queues.get(cmd.name);
        if (q) this.removeQueue(q);
        return;
      }
      case 'bind':
      case 'unbind': {
        const src = this.getExchange(cmd.source);
        const dest = cmd.destKind === 'queue' ? this.queues.get(cmd.dest) : this.exchanges.get(cmd.dest);
        if (!dest) throw notFound(`no ${cmd.destKind} '${cmd.dest}' in vhost '${this.name}'`);
        if (cmd.op === 'bind') this.bind(src, dest, cmd.routingKey, cmd.args);
        else this.unbind(src, dest, cmd.routingKey, cmd.args);
        return;
      }
      default:
        throw new Error(`not a vhost command: ${cmd.op}`);
    }
  }

  /** Stops queue timers (node shutdown); data stays. */
  stop(): void {
    for (const q of this.queues.values()) q.stop();
  }
}

export function key(...parts: string[]): string {
  return parts.join('\u0000');
}

function bindingRecord(vhost: string, b: Binding): object {
  return {
    vhost,
    source: b.source,
    destination: b.destination.name,
    destination_type: b.destination.kind,
    routing_key: b.routingKey,
    arguments: b.arguments,
  };
}

const EQUIVALENCE_ARGS = ['x-message-ttl', 'x-expires', 'x-max-length', 'x-max-length-bytes', 'x-overflow', 'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-max-priority', 'x-queue-type'];

function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (typeof a === 'number' && typeof b === 'bigint') return BigInt(a) === b;
  if (typeof b === 'number' && typeof a === 'bigint') return BigInt(b) === a;
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function describe(v: FieldValue | undefined): string {
  if (v === undefined) return 'none';
  if (typeof v === 'number') return `the value '${v}' of type 'long'`;
  if (typeof v === 'string') return `the value '${v}' of type 'longstr'`;
  return `the value '${String(v)}'`;
}

/** RabbitMQ validates queue x-arguments at declare: 406 PRECONDITION_FAILED naming the argument. */
function validateQueueArgs(queue: string, vhost: string, args: FieldTable): void {
  const bad = (arg: string, why: string): ChannelError =>
    preconditionFailed(`invalid arg '${arg}' for queue '${queue}' in vhost '${vhost}': ${why}`);
  const intArg = (k: string, min: number): void => {
    const v = args[k];
    if (v === undefined) return;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(k, `{unacceptable_type,${typeof v}}`);
    if (n < min) throw bad(k, `{value_negative,${n}}`.replace('value_negative', min > 0 ? 'value_zero' : 'value_negative'));
  };
  intArg('x-message-ttl', 0);
  intArg('x-expires', 1);
  intArg('x-max-length', 0);
  intArg('x-max-length-bytes', 0);
  intArg('x-max-priority', 0);
  const p = args['x-max-priority'];
  if (typeof p === 'number' && p > 255) throw bad('x-max-priority', `{value_too_large,${p}}`);
  const o = args['x-overflow'];
  if (o !== undefined && !['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(String(o))) throw bad('x-overflow', `{unacceptable_value,${String(o)}}`);
  for (const k of ['x-dead-letter-exchange', 'x-dead-letter-routing-key']) {
    const v = args[k];
    if (v !== undefined && typeof v !== 'string') throw bad(k, `{unacceptable_type,${typeof v}}`);
  }
  if (args['x-dead-letter-routing-key'] !== undefined && args['x-dead-letter-exchange'] === undefined) {
    throw bad('x-dead-letter-routing-key', 'Key x-dead-letter-exchange should be present');
  }
  const t = args['x-queue-type'];
  if (t !== undefined && t !== 'classic') throw bad('x-queue-type', `only classic queues are supported, got '${String(t)}'`);
}
