// POST /api/queues/{vhost}/{name}/get: RabbitMQ's basic.get loop with an ack mode. The request is checked on the node
// the API call came to (parseGetRequest); the messages are taken on the queue's master (getMessages), which for a
// queue mastered on another node runs there, over the peer link.
import type { Queue } from '../queue/queue.ts';
import type { QueuedMessage } from '../queue/message.ts';
import { badRequest } from './http.ts';
import { encodePayload, propertiesToJson } from './convert.ts';

const ACKMODES = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'] as const;

export interface GetRequest {
  count: number;
  ackmode: (typeof ACKMODES)[number];
  encoding: 'auto' | 'base64';
  truncate?: number;
}

/** The API body's fields, checked: a bad one is a 400 naming it. */
export function parseGetRequest(d: Record<string, unknown>): GetRequest {
  const count = Number(d['count'] ?? 1);
  if (!Number.isInteger(count) || count < 1) throw badRequest('count must be a positive integer');
  const ackmode = d['ackmode'] ?? (d['requeue'] === false || d['requeue'] === 'false' ? 'ack_requeue_false' : d['requeue'] !== undefined ? 'ack_requeue_true' : undefined);
  if (typeof ackmode !== 'string' || !(ACKMODES as readonly string[]).includes(ackmode)) throw badRequest(`ackmode must be one of ${ACKMODES.join(', ')}`);
  const encoding = d['encoding'] ?? 'auto';
  if (encoding !== 'auto' && encoding !== 'base64') throw badRequest('encoding must be auto or base64');
  const truncate = d['truncate'] === undefined || d['truncate'] === null || d['truncate'] === '' ? undefined : Number(d['truncate']);
  if (truncate !== undefined && (!Number.isInteger(truncate) || truncate < 0)) throw badRequest('truncate must be a non-negative integer');
  return { count, ackmode: ackmode as GetRequest['ackmode'], encoding, ...(truncate !== undefined ? { truncate } : {}) };
}

/** Takes up to r.count messages off the queue (this node must master it), then settles them as r.ackmode says. */
export function getMessages(q: Queue, r: GetRequest): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const taken: QueuedMessage[] = [];
  for (let i = 0; i < r.count; i++) {
    const qm = q.get(false);
    if (!qm) break;
    taken.push(qm);
    const m = qm.msg;
    out.push({
      payload_bytes: m.body.length,
      redelivered: qm.redelivered,
      exchange: m.exchange,
      routing_key: m.routingKey,
      message_count: q.messageCount,
      properties: propertiesToJson(m.properties),
      ...encodePayload(m.body, r.encoding, r.truncate),
    });
  }
  if (r.ackmode === 'ack_requeue_false') for (const qm of taken) q.ack(qm, null);
  else if (r.ackmode === 'reject_requeue_false') for (const qm of taken) q.reject(qm, null);
  else {
    // back to the head in their original order, marked redelivered
    for (let i = taken.length - 1; i >= 0; i--) q.requeue(taken[i]!, null);
    if (taken.length > 0) q.dispatch();
  }
  return out;
}
