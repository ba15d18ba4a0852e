// Metadata changes made by the management API go the way a channel's do (server/channel.ts): on a single node they
// are applied at once with the broker's own checks and errors; in a cluster (broker.replicator set) they are checked
// here, then proposed as commands (cluster/metadata.ts) and applied on every node once committed.
import type { Broker } from '../server/broker.ts';
import type { VHost } from '../server/vhost.ts';
import type { Queue } from '../queue/queue.ts';
import type { Exchange } from '../routing/exchange.ts';
import type { FieldTable } from '../amqp/reader.ts';
import type { MetaCommand } from '../cluster/metadata.ts';
import { AmqpError, REPLY, accessRefused } from '../amqp/errors.ts';
import { PolicyError } from '../policy/policy.ts';
import { ApiError, badRequest, notAuthorised } from './http.ts';

/** An AMQP error as the API reports it: 404 for not found, 401 for access refused, 400 otherwise. */
export function apiErrorOf(err: unknown): unknown {
  if (err instanceof AmqpError) {
    if (err.code === REPLY.NOT_FOUND) return new ApiError(404, 'not_found', err.message);
    if (err.code === REPLY.ACCESS_REFUSED) return notAuthorised(err.message);
    return badRequest(err.message);
  }
  if (err instanceof PolicyError) return badRequest(`Validation failed\n\n${err.message}\n`);
  if (err instanceof ApiError) return err;
  if (err instanceof Error && err.message.startsWith('metadata change refused')) return new ApiError(503, 'service_unavailable', err.message);
  return err;
}

/** Runs a broker operation, turning its errors into API errors. */
export function amqp<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw apiErrorOf(err);
  }
}

/**
 * A request to a queue's master on another node, with API errors: its failures (that node down, the queue gone or
 * moved) are RabbitMQ's 404s.
 */
export async function fromMaster<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new ApiError(404, 'not_found', (err as Error).message.replace(/^.*?NOT_FOUND - /, ''));
  }
}

/** broker.change with API errors. */
export async function change(b: Broker, cmd: MetaCommand): Promise<void> {
  try {
    await b.change(cmd);
  } catch (err) {
    throw apiErrorOf(err);
  }
}

const clustered = (b: Broker): boolean => b.replicator !== null;

export async function declareExchange(b: Broker, vh: VHost, name: string, type: string, durable: boolean, autoDelete: boolean, internal: boolean, args: FieldTable): Promise<void> {
  if (!clustered(b) || vh.exchanges.has(name)) {
    amqp(() => vh.declareExchange(name, type, durable, autoDelete, internal, args, false));
    return;
  }
  amqp(() => vh.checkNewExchange(name, type));
  await change(b, { op: 'exchange.declare', vhost: vh.name, name, type, durable, autoDelete, internal, args });
}

export async function deleteExchange(b: Broker, vh: VHost, name: string, ifUnused: boolean): Promise<void> {
  if (!clustered(b)) {
    amqp(() => vh.deleteExchange(name, ifUnused));
    return;
  }
  amqp(() => vh.checkDeleteExchange(name, ifUnused));
  await change(b, { op: 'exchange.delete', vhost: vh.name, name });
}

export async function declareQueue(b: Broker, vh: VHost, name: string, durable: boolean, autoDelete: boolean, args: FieldTable): Promise<void> {
  const d = { name, durable, exclusive: false, autoDelete, arguments: args, passive: false, owner: 0 };
  if (!clustered(b) || vh.queues.has(name)) {
    amqp(() => vh.declareQueue(d));
    return;
  }
  const checked = amqp(() => vh.checkNewQueue(d));
  await change(b, { op: 'queue.declare', vhost: vh.name, name: checked, durable, exclusive: false, autoDelete, args, node: b.opts.nodeName, owner: 0 });
}

export async function deleteQueue(b: Broker, vh: VHost, q: Queue, ifUnused: boolean, ifEmpty: boolean): Promise<void> {
  if (!clustered(b)) {
    amqp(() => vh.deleteQueue(q, ifUnused, ifEmpty));
    return;
  }
  // if-unused and if-empty are about the master's consumers and messages, for a queue mastered on another node
  const remote = b.elsewhere(q);
  const counts = remote !== null && (ifUnused || ifEmpty) ? await fromMaster(remote.info(q)) : undefined;
  amqp(() => vh.checkDeleteQueue(q, ifUnused, ifEmpty, counts));
  await change(b, { op: 'queue.delete', vhost: vh.name, name: q.name });
}

export async function bind(b: Broker, vh: VHost, unbind: boolean, src: Exchange, dest: Queue | Exchange, routingKey: string, args: FieldTable): Promise<void> {
  if (!clustered(b)) {
    amqp(() => (unbind ? vh.unbind(src, dest, routingKey, args) : vh.bind(src, dest, routingKey, args)));
    return;
  }
  if (src.name === '') throw apiErrorOf(accessRefused('operation not permitted on the default exchange'));
  await change(b, { op: unbind ? 'unbind' : 'bind', vhost: vh.name, source: src.name, destKind: dest.kind, dest: dest.name, routingKey, args });
}
