// Definitions export and import (GET/POST /api/definitions[/{vhost}]), in the file format of RabbitMQ 3.10, so a
// file exported from RabbitMQ imports into Warren and back.
import type { Broker } from '../server/broker.ts';
import { VERSION } from '../server/version.ts';
import type { VHost } from '../server/vhost.ts';
import { hashPassword } from '../auth/users.ts';
import { PolicyError, validatePolicy, type ApplyTo, type PolicyDef } from '../policy/policy.ts';
import type { FieldTable } from '../amqp/reader.ts';
import { AmqpError } from '../amqp/errors.ts';
import { tableToJson, jsonToTable } from './convert.ts';
import { ApiError, badRequest } from './http.ts';
import * as C from './changes.ts';
import { change } from './changes.ts';
import { parameterList, putParameter } from './parameters.ts';

type Obj = Record<string, unknown>;

// RabbitMQ 3.10 exports every queue that is not exclusive and every exchange but the default and amq.* ones, durable
// or not (an import declares them as they were), and every binding to an exported object (from amq.* too).

function exportedExchanges(vh: VHost): Obj[] {
  const out: Obj[] = [];
  for (const ex of vh.exchanges.values()) {
    if (ex.name === '' || ex.name.startsWith('amq.')) continue;
    out.push({ name: ex.name, vhost: vh.name, type: ex.type, durable: ex.durable, auto_delete: ex.autoDelete, internal: ex.internal, arguments: tableToJson(ex.arguments) });
  }
  return out;
}

function exportedQueues(vh: VHost): Obj[] {
  const out: Obj[] = [];
  for (const q of vh.queues.values()) {
    if (q.exclusive) continue;
    out.push({ name: q.name, vhost: vh.name, durable: q.durable, auto_delete: q.autoDelete, arguments: tableToJson(q.arguments) });
  }
  return out;
}

function exportedBindings(vh: VHost): Obj[] {
  const out: Obj[] = [];
  for (const b of vh.listBindings()) {
    const dest = b.destination as { exclusive?: boolean };
    if (b.source === '' || dest.exclusive === true) continue;
    out.push({ source: b.source, vhost: vh.name, destination: b.destination.name, destination_type: b.destination.kind, routing_key: b.routingKey, arguments: tableToJson(b.arguments) });
  }
  return out;
}

function exportedPolicies(vh: VHost): Obj[] {
  return [...vh.policies.values()].map((p) => ({ vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p['apply-to'], definition: tableToJson(p.definition), priority: p.priority }));
}

export function exportAll(b: Broker): Obj {
  const vhosts = [...b.vhosts.values()];
  return {
    rabbit_version: VERSION,
    rabbitmq_version: VERSION,
    product_name: 'RabbitMQ',
    product_version: VERSION,
    users: [...b.users.values()].map((u) => ({ name: u.name, password_hash: u.passwordHash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: u.tags, limits: {} })),
    vhosts: vhosts.map((v) => ({ name: v.name, limits: [], metadata: { description: '', tags: [] } })),
    permissions: [...b.permissions.values()].map((p) => ({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read })),
    topic_permissions: [],
    parameters: parameterList(b),
    global_parameters: [{ name: 'cluster_name', value: b.clusterName }],
    policies: vhosts.flatMap(exportedPolicies),
    queues: vhosts.flatMap(exportedQueues),
    exchanges: vhosts.flatMap(exportedExchanges),
    bindings: vhosts.flatMap(exportedBindings),
  };
}

/** One vhost's definitions, without the vhost fields (RabbitMQ's per-vhost export). */
export function exportVhost(b: Broker, vh: VHost): Obj {
  const strip = (o: Obj): Obj => {
    const c = { ...o };
    delete c['vhost'];
    return c;
  };
  return {
    rabbit_version: VERSION,
    rabbitmq_version: VERSION,
    parameters: parameterList(b).filter((p) => p['vhost'] === vh.name).map(strip),
    policies: exportedPolicies(vh).map(strip),
    queues: exportedQueues(vh).map(strip),
    exchanges: exportedExchanges(vh).map(strip),
    bindings: exportedBindings(vh).map(strip),
  };
}

function list(defs: Obj, k: string): Obj[] {
  const v = defs[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badRequest(`'${k}' must be a list`);
  for (const x of v) if (typeof x !== 'object' || x === null || Array.isArray(x)) throw badRequest(`every item of '${k}' must be an object`);
  return v as Obj[];
}

function str(o: Obj, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw badRequest(`${what}: '${k}' must be a string`);
  return v;
}

function bool(o: Obj, k: string, dflt: boolean): boolean {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw badRequest(`'${k}' must be a boolean`);
}

export function parseTags(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String).map((s) => s.trim()).filter((s) => s !== '');
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  throw badRequest('tags must be a string or a list of strings');
}

export function checkHashingAlgorithm(alg: unknown): void {
  if (alg === undefined || alg === null || alg === 'rabbit_password_hashing_sha256') return;
  throw badRequest(`unsupported hashing algorithm '${String(alg)}': Warren stores rabbit_password_hashing_sha256 only`);
}

/**
 * Imports a definitions document. With `into`, the document is one vhost's (no vhost fields; objects go there).
 * Everything is validated first where it can be, then applied in RabbitMQ's order.
 */
export async function importDefinitions(b: Broker, defs: Obj, into?: string): Promise<void> {
  const vhostOf = (o: Obj, what: string): VHost => {
    const name = into ?? str(o, 'vhost', what);
    const vh = b.vhosts.get(name);
    if (!vh) throw badRequest(`${what}: vhost '${name}' does not exist`);
    return vh;
  };
  // every change goes through broker.change (replicated in a cluster); errors name the object
  const wrap = async (what: string, fn: () => void | Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError(err.status, err.error, `${what}: ${err.message}`);
      if (err instanceof AmqpError || err instanceof PolicyError) throw badRequest(`${what}: ${err.message}`);
      if (err instanceof Error) throw badRequest(`${what}: ${err.message}`);
      throw err;
    }
  };
  if (into === undefined) {
    for (const u of list(defs, 'users')) {
      const name = str(u, 'name', 'user');
      checkHashingAlgorithm(u['hashing_algorithm']);
      if (typeof u['password_hash'] === 'string' && u['password_hash'] !== '' && Buffer.from(u['password_hash'], 'base64').length !== 36) {
        throw badRequest(`user '${name}': password_hash is not a rabbit_password_hashing_sha256 hash (exports from RabbitMQ before 3.6 use MD5, which Warren does not check)`);
      }
      const hash = typeof u['password_hash'] === 'string' ? u['password_hash'] : typeof u['password'] === 'string' ? hashPassword(u['password']) : '';
      await wrap(`user '${name}'`, () => change(b, { op: 'user.put', user: { name, passwordHash: hash, tags: parseTags(u['tags']) } }));
    }
    for (const v of list(defs, 'vhosts')) {
      const name = str(v, 'name', 'vhost');
      if (!b.vhosts.has(name)) await wrap(`vhost '${name}'`, () => change(b, { op: 'vhost.add', name }));
    }
    for (const p of list(defs, 'permissions')) {
      const user = str(p, 'user', 'permission');
      const vhost = str(p, 'vhost', 'permission');
      if (!b.users.has(user)) throw badRequest(`permission: user '${user}' does not exist`);
      if (!b.vhosts.has(vhost)) throw badRequest(`permission: vhost '${vhost}' does not exist`);
      const perm = { user, vhost, configure: str(p, 'configure', 'permission'), write: str(p, 'write', 'permission'), read: str(p, 'read', 'permission') };
      await wrap('permission', () => {
        for (const re of [perm.configure, perm.write, perm.read]) new RegExp(re);
        return change(b, { op: 'permission.set', permission: perm });
      });
    }
    for (const g of list(defs, 'global_parameters')) {
      const v = g['value'];
      if (g['name'] === 'cluster_name' && typeof v === 'string') await wrap('cluster_name', () => change(b, { op: 'cluster.name', name: v }));
    }
  }
  for (const p of list(defs, 'parameters')) {
    const vh = vhostOf(p, 'parameter');
    putParameter(b, str(p, 'component', 'parameter'), vh.name, str(p, 'name', 'parameter'), p['value']);
  }
  for (const p of list(defs, 'policies')) {
    const vh = vhostOf(p, 'policy');
    const pol: PolicyDef = {
      vhost: vh.name,
      name: str(p, 'name', 'policy'),
      pattern: str(p, 'pattern', 'policy'),
      'apply-to': (typeof p['apply-to'] === 'string' ? p['apply-to'] : 'all') as ApplyTo,
      priority: Number(p['priority'] ?? 0),
      definition: jsonToTable(p['definition'], 'policy definition'),
    };
    await wrap(`policy '${pol.name}'`, () => {
      validatePolicy(pol);
      return change(b, { op: 'policy.set', policy: pol });
    });
  }
  for (const q of list(defs, 'queues')) {
    const vh = vhostOf(q, 'queue');
    const name = str(q, 'name', 'queue');
    const args: FieldTable = jsonToTable(q['arguments'], 'queue arguments');
    await wrap(`queue '${name}'`, () => C.declareQueue(b, vh, name, bool(q, 'durable', true), bool(q, 'auto_delete', false), args));
  }
  for (const e of list(defs, 'exchanges')) {
    const vh = vhostOf(e, 'exchange');
    const name = str(e, 'name', 'exchange');
    if (name === '' || name.startsWith('amq.')) continue;
    const args = jsonToTable(e['arguments'], 'exchange arguments');
    await wrap(`exchange '${name}'`, () => C.declareExchange(b, vh, name, str(e, 'type', 'exchange'), bool(e, 'durable', true), bool(e, 'auto_delete', false), bool(e, 'internal', false), args));
  }
  for (const bd of list(defs, 'bindings')) {
    const vh = vhostOf(bd, 'binding');
    const source = str(bd, 'source', 'binding');
    const destination = str(bd, 'destination', 'binding');
    const type = str(bd, 'destination_type', 'binding');
    const src = vh.exchanges.get(source);
    const dest = type === 'queue' ? vh.queues.get(destination) : type === 'exchange' ? vh.exchanges.get(destination) : undefined;
    if (!src) throw badRequest(`binding: source exchange '${source}' does not exist in vhost '${vh.name}'`);
    if (!dest) throw badRequest(`binding: destination ${type} '${destination}' does not exist in vhost '${vh.name}'`);
    const rk = typeof bd['routing_key'] === 'string' ? bd['routing_key'] : '';
    await wrap('binding', () => C.bind(b, vh, false, src, dest, rk, jsonToTable(bd['arguments'], 'binding arguments')));
  }
}
