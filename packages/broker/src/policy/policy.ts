// Policies (RabbitMQ): a regex over queue/exchange names, what they apply to, a priority, and a definition of keys
// (message-ttl, max-length, dead-letter-exchange, alternate-exchange, ha-mode, ...). For each object the matching
// policy with the highest priority applies. The engine knows nothing of the keys: queues and exchanges read them.
import type { FieldTable } from '../amqp/reader.ts';

export type ApplyTo = 'all' | 'queues' | 'exchanges' | 'classic_queues' | 'quorum_queues' | 'streams';

export interface PolicyDef {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': ApplyTo;
  priority: number;
  definition: FieldTable;
}

const KNOWN_KEYS = new Set([
  'message-ttl', 'expires', 'max-length', 'max-length-bytes', 'overflow', 'dead-letter-exchange',
  'dead-letter-routing-key', 'alternate-exchange', 'ha-mode', 'ha-params', 'ha-sync-mode', 'ha-sync-batch-size',
  'ha-promote-on-shutdown', 'ha-promote-on-failure', 'queue-mode', 'max-age', 'delivery-limit', 'queue-master-locator',
]);

export class PolicyError extends Error {}

/** Validates a definition the way rabbitmqctl set_policy does; throws PolicyError with a specific message. */
export function validatePolicy(p: PolicyDef): void {
  try {
    new RegExp(p.pattern);
  } catch {
    throw new PolicyError(`invalid pattern '${p.pattern}'`);
  }
  if (!['all', 'queues', 'exchanges', 'classic_queues', 'quorum_queues', 'streams'].includes(p['apply-to'])) {
    throw new PolicyError(`invalid apply-to '${p['apply-to']}'`);
  }
  const d = p.definition;
  if (typeof d !== 'object' || d === null || Array.isArray(d) || Object.keys(d).length === 0) {
    throw new PolicyError('policy definition must be a non-empty JSON object');
  }
  for (const [k, v] of Object.entries(d)) {
    if (!KNOWN_KEYS.has(k)) throw new PolicyError(`unrecognised policy key '${k}'`);
    const nonNeg = ['message-ttl', 'max-length', 'max-length-bytes', 'delivery-limit'];
    if (nonNeg.includes(k) && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
      throw new PolicyError(`${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    if (k === 'expires' && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
      throw new PolicyError(`expires must be a positive integer, got ${JSON.stringify(v)}`);
    }
    if (k === 'overflow' && !['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(String(v))) {
      throw new PolicyError(`overflow must be drop-head, reject-publish or reject-publish-dlx`);
    }
    if (k === 'ha-mode') {
      if (!['all', 'exactly', 'nodes'].includes(String(v))) throw new PolicyError(`ha-mode must be all, exactly or nodes`);
      if (v === 'exactly' && !(typeof d['ha-params'] === 'number' && d['ha-params'] >= 1)) {
        throw new PolicyError('ha-mode exactly needs ha-params: a positive integer');
      }
      if (v === 'nodes' && !Array.isArray(d['ha-params'])) throw new PolicyError('ha-mode nodes needs ha-params: a list of node names');
      if (v === 'all' && d['ha-params'] !== undefined) throw new PolicyError('ha-mode all takes no ha-params');
    }
    if (k === 'ha-sync-mode' && !['automatic', 'manual'].includes(String(v))) throw new PolicyError('ha-sync-mode must be automatic or manual');
  }
}

function applies(p: PolicyDef, kind: 'queue' | 'exchange'): boolean {
  const a = p['apply-to'];
  if (a === 'all') return true;
  if (kind === 'exchange') return a === 'exchanges';
  return a === 'queues' || a === 'classic_queues';
}

/** The policy that applies to an object: the highest priority among those matching (ties: by name, as RabbitMQ). */
export function matchPolicy(policies: Iterable<PolicyDef>, kind: 'queue' | 'exchange', name: string): PolicyDef | null {
  let best: PolicyDef | null = null;
  for (const p of policies) {
    if (!applies(p, kind)) continue;
    if (!new RegExp(p.pattern).test(name)) continue;
    if (best === null || p.priority > best.priority || (p.priority === best.priority && p.name > best.name)) best = p;
  }
  return best;
}
