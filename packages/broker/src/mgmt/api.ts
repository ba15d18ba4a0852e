// The HTTP API under /api: RabbitMQ 3.10's paths, bodies and status codes, over Warren's broker state.
import type { IncomingMessage } from 'node:http';
import type { Broker } from '../server/broker.ts';
import type { VHost } from '../server/vhost.ts';
import type { Queue } from '../queue/queue.ts';
import type { Exchange } from '../routing/exchange.ts';
import type { User } from '../auth/users.ts';
import { hashPassword } from '../auth/users.ts';
import { Message } from '../queue/message.ts';
import { validatePolicy, type ApplyTo, type PolicyDef } from '../policy/policy.ts';
import { badRequest, boolField, notAuthorised, notFound, parseJsonBody, strField } from './http.ts';
import {
  canSeeVhost, checkResource, requireAdmin, requireMonitor, requirePolicymaker, vhostForRead, vhostForWrite, visibleVhosts,
} from './access.ts';
import * as F from './format.ts';
import * as C from './changes.ts';
import { amqp, change, fromMaster } from './changes.ts';
import { getMessages, parseGetRequest } from './messages.ts';
import { consumerJson, localListing, viewerOf, visibleConnections, type ListingKind } from './listings.ts';
import { jsonToProperties, jsonToTable, tableToJson } from './convert.ts';
import { checkHashingAlgorithm, exportAll, exportVhost, importDefinitions, parseTags } from './definitions.ts';
import { deleteParameter, getParameter, parameterList, putParameter } from './parameters.ts';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RequestContext {
  req: IncomingMessage;
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  user: User;
  body(): Promise<Record<string, unknown>>;
  rawBody(): Promise<Buffer>;
}

type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

interface Route {
  pattern: string[];
  methods: Partial<Record<'GET' | 'PUT' | 'POST' | 'DELETE', Handler>>;
}

const ok = (body: unknown): Reply => ({ status: 200, body });
const noContent: Reply = { status: 204 };
const createdOrUpdated = (created: boolean): Reply => ({ status: created ? 201 : 204 });

/** The default exchange is "amq.default" in URLs. */
const exName = (n: string): string => (n === 'amq.default' ? '' : n);

export class Api {
  readonly routes: Route[] = [];
  readonly f: F.FormatContext;
  readonly b: Broker;

  constructor(f: F.FormatContext) {
    this.f = f;
    this.b = f.broker;
    this.define();
  }

  /** Finds the route for segments after /api; returns the handler map and the bound parameters. */
  match(segs: string[]): { route: Route; params: Record<string, string> } | null {
    for (const route of this.routes) {
      if (route.pattern.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let okk = true;
      for (let i = 0; i < segs.length; i++) {
        const p = route.pattern[i]!;
        const s = segs[i]!;
        if (p.startsWith(':')) params[p.slice(1)] = s;
        else if (p !== s) {
          okk = false;
          break;
        }
      }
      if (okk) return { route, params };
    }
    return null;
  }

  private on(path: string, methods: Route['methods']): void {
    this.routes.push({ pattern: path === '' ? [] : path.split('/'), methods });
  }

  // ---- helpers

  /** This node's rows and, in a cluster, every other member's (listings.ts). */
  private async listing(u: User, what: ListingKind, vhost?: string): Promise<Record<string, unknown>[]> {
    const v = viewerOf(u);
    const local = localListing(this.f, what, v, vhost);
    const others = (await this.f.cluster.gather?.(what, v, vhost)) ?? [];
    return others.length === 0 ? local : [...local, ...others];
  }

  /** A connection the user may see, on this node or another. */
  private async connectionJson(u: User, name: string): Promise<Record<string, unknown>> {
    const local = visibleConnections(this.b, viewerOf(u)).find((x) => x.name === name);
    if (local !== undefined) return F.connectionJson(this.f, local);
    const c = (await this.listing(u, 'connections')).find((x) => x['name'] === name);
    if (!c) throw notFound();
    return c;
  }

  private vhostsFor(u: User, vhost: string | undefined): VHost[] {
    if (vhost !== undefined) return [vhostForRead(this.b, u, vhost)];
    return visibleVhosts(this.b, u).map((n) => this.b.vhosts.get(n)!).filter(Boolean);
  }

  private queue(vh: VHost, name: string): Queue {
    const q = vh.queues.get(name);
    if (!q) throw notFound();
    return q;
  }

  /** An exclusive queue belongs to its connection: management may look but not touch (RESOURCE_LOCKED, 400). */
  private unlocked(vh: VHost, q: Queue): Queue {
    amqp(() => vh.checkExclusive(q, 0));
    return q;
  }

  private exchange(vh: VHost, name: string): Exchange {
    const ex = vh.exchanges.get(exName(name));
    if (!ex) throw notFound();
    return ex;
  }

  private bindingsOf(vh: VHost): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const q of vh.queues.values()) out.push(F.defaultBindingJson(vh.name, q));
    for (const b of vh.listBindings()) out.push(F.bindingJson(vh.name, b));
    return out;
  }

  // ---- routes

  private define(): void {
    const b = this.b;
    const f = this.f;

    this.on('overview', {
      GET: async ({ user }) => {
        const vhosts = visibleVhosts(b, user);
        const counts = await f.cluster.queueCounts(vhosts.flatMap((v) => [...(b.vhosts.get(v)?.queues.values() ?? [])]));
        const others = (await f.cluster.gather?.('connections', viewerOf(user))) ?? [];
        return ok(F.overview(f, vhosts, visibleConnections(b, viewerOf(user)), counts, others));
      },
    });
    this.on('cluster-name', {
      GET: () => ok({ name: b.clusterName }),
      PUT: async ({ user, body }) => {
        requireAdmin(user);
        const name = strField(await body(), 'name');
        if (!name) throw badRequest('name is required');
        await change(b, { op: 'cluster.name', name });
        return noContent;
      },
    });
    this.on('whoami', { GET: ({ user }) => ok({ name: user.name, tags: user.tags }) });

    // nodes
    this.on('nodes', {
      GET: ({ user }) => {
        requireMonitor(user);
        return ok(F.nodes(f));
      },
    });
    this.on('nodes/:node', {
      GET: ({ user, params }) => {
        requireMonitor(user);
        const n = f.cluster.nodes().find((x) => x.name === params['node']);
        if (!n) throw notFound();
        return ok(F.nodeJson(f, n));
      },
    });

    // connections, channels and consumers: the whole cluster's (listings.ts)
    const reasonOf = (req: IncomingMessage): string => {
      const r = req.headers['x-reason'];
      return typeof r === 'string' && r !== '' ? r : 'Closed via management plugin';
    };
    this.on('connections', { GET: async ({ user }) => ok(await this.listing(user, 'connections')) });
    this.on('vhosts/:vhost/connections', {
      GET: async ({ user, params }) => {
        vhostForRead(b, user, params['vhost']!);
        return ok(await this.listing(user, 'connections', params['vhost']));
      },
    });
    this.on('connections/:name', {
      GET: async ({ user, params }) => ok(await this.connectionJson(user, params['name']!)),
      DELETE: async ({ user, params, req }) => {
        const name = params['name']!;
        const local = visibleConnections(b, viewerOf(user)).find((x) => x.name === name);
        if (local !== undefined) await local.forceClose(reasonOf(req));
        else {
          // on another node: that node closes it
          const node = (await this.connectionJson(user, name))['node'] as string;
          if (f.cluster.closeConnection === undefined || !(await f.cluster.closeConnection(node, name, reasonOf(req), viewerOf(user)))) throw notFound();
        }
        return noContent;
      },
    });
    this.on('connections/:name/channels', {
      GET: async ({ user, params }) => {
        const name = params['name']!;
        await this.connectionJson(user, name);
        return ok((await this.listing(user, 'channels')).filter((ch) => (ch['connection_details'] as { name: string }).name === name));
      },
    });
    this.on('channels', { GET: async ({ user }) => ok(await this.listing(user, 'channels')) });
    this.on('vhosts/:vhost/channels', {
      GET: async ({ user, params }) => {
        vhostForRead(b, user, params['vhost']!);
        return ok(await this.listing(user, 'channels', params['vhost']));
      },
    });
    this.on('channels/:name', {
      GET: async ({ user, params }) => {
        const ch = (await this.listing(user, 'channels')).find((x) => x['name'] === params['name']);
        if (!ch) throw notFound();
        const details = (await this.listing(user, 'consumers', ch['vhost'] as string)).filter((c) => (c['channel_details'] as { name?: string }).name === params['name']);
        return ok({ ...ch, consumer_details: details });
      },
    });
    this.on('consumers', { GET: async ({ user }) => ok(await this.listing(user, 'consumers')) });
    this.on('consumers/:vhost', {
      GET: async ({ user, params }) => {
        vhostForRead(b, user, params['vhost']!);
        return ok(await this.listing(user, 'consumers', params['vhost']));
      },
    });
    /** A queue's consumers, as its master holds them: those on other nodes with the details their node sent. */
    const consumersOf = (user: User, vhost: string, q: Queue): Record<string, unknown>[] => {
      const v = viewerOf(user);
      const out: Record<string, unknown>[] = [];
      for (const c of q.consumers) {
        const d = c.channel.describe?.() ?? null;
        if (v.monitor || d?.user === v.name) out.push(consumerJson(c, vhost, d));
      }
      return out;
    };

    // exchanges
    const exchanges = (user: User, vhost?: string): Record<string, unknown>[] =>
      this.vhostsFor(user, vhost).flatMap((vh) => [...vh.exchanges.values()].map((ex) => F.exchangeJson(f, ex, vh.policies.values())));
    this.on('exchanges', { GET: ({ user }) => ok(exchanges(user)) });
    this.on('exchanges/:vhost', { GET: ({ user, params }) => ok(exchanges(user, params['vhost'])) });
    this.on('exchanges/:vhost/:name', {
      GET: ({ user, params }) => {
        const vh = vhostForRead(b, user, params['vhost']!);
        return ok(F.exchangeJson(f, this.exchange(vh, params['name']!), vh.policies.values()));
      },
      PUT: async ({ user, params, body }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const name = exName(params['name']!);
        const d = await body();
        const type = strField(d, 'type');
        if (!type) throw badRequest("Key 'type' is mandatory");
        checkResource(b, user, vh.name, 'configure', 'exchange', name);
        const created = !vh.exchanges.has(name);
        await C.declareExchange(b, vh, name, type, boolField(d, 'durable', true), boolField(d, 'auto_delete', false), boolField(d, 'internal', false), jsonToTable(d['arguments'], 'arguments'));
        return createdOrUpdated(created);
      },
      DELETE: async ({ user, params, query }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const name = exName(params['name']!);
        if (!vh.exchanges.has(name)) throw notFound();
        checkResource(b, user, vh.name, 'configure', 'exchange', name);
        await C.deleteExchange(b, vh, name, query.get('if-unused') === 'true');
        return noContent;
      },
    });
    this.on('exchanges/:vhost/:name/publish', {
      POST: async ({ user, params, body }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const name = exName(params['name']!);
        const ex = this.exchange(vh, params['name']!);
        checkResource(b, user, vh.name, 'write', 'exchange', name);
        if (ex.internal) throw notAuthorised(`ACCESS_REFUSED - cannot publish to internal exchange '${name}' in vhost '${vh.name}'`);
        const d = await body();
        const rk = d['routing_key'];
        if (typeof rk !== 'string') throw badRequest("Key 'routing_key' is mandatory and must be a string");
        const payload = d['payload'];
        if (typeof payload !== 'string') throw badRequest("Key 'payload' is mandatory and must be a string");
        const enc = d['payload_encoding'] ?? 'string';
        if (enc !== 'string' && enc !== 'base64') throw badRequest(`payload_encoding must be string or base64, got ${JSON.stringify(enc)}`);
        const props = jsonToProperties(d['properties'] ?? d['props']);
        if (props.userId !== undefined && props.userId !== user.name) throw badRequest(`user_id property set to '${props.userId}' but authenticated user was '${user.name}'`);
        const bytes = enc === 'base64' ? Buffer.from(payload, 'base64') : Buffer.from(payload, 'utf8');
        const r = vh.publish(ex, new Message(ex.name, rk, props, null, bytes, b.now()));
        return ok({ routed: r.routed > 0 });
      },
    });
    this.on('exchanges/:vhost/:name/bindings/source', {
      GET: ({ user, params }) => {
        const vh = vhostForRead(b, user, params['vhost']!);
        const ex = this.exchange(vh, params['name']!);
        if (ex.name === '') return ok([...vh.queues.values()].map((q) => F.defaultBindingJson(vh.name, q)));
        return ok([...ex.bindings.values()].map((x) => F.bindingJson(vh.name, x)));
      },
    });
    this.on('exchanges/:vhost/:name/bindings/destination', {
      GET: ({ user, params }) => {
        const vh = vhostForRead(b, user, params['vhost']!);
        const ex = this.exchange(vh, params['name']!);
        return ok(vh.listBindings().filter((x) => x.destination === ex).map((x) => F.bindingJson(vh.name, x)));
      },
    });

    // queues
    // (a queue mastered on another node shows the master's counts)
    const queues = async (user: User, vhost?: string): Promise<Record<string, unknown>[]> => {
      const list = this.vhostsFor(user, vhost).flatMap((vh) => [...vh.queues.values()]);
      const counts = await f.cluster.queueCounts(list);
      return list.map((q) => F.queueJson(f, q, counts.get(q) ?? null));
    };
    this.on('queues', { GET: async ({ user }) => ok(await queues(user)) });
    this.on('queues/:vhost', { GET: async ({ user, params }) => ok(await queues(user, params['vhost'])) });
    this.on('queues/:vhost/:name', {
      GET: async ({ user, params }) => {
        const vh = vhostForRead(b, user, params['vhost']!);
        const q = this.queue(vh, params['name']!);
        const counts = await f.cluster.queueCounts([q]);
        // one queue also lists its consumers, as RabbitMQ's queue page does
        const details = consumersOf(user, vh.name, q);
        return ok({ ...F.queueJson(f, q, counts.get(q) ?? null), consumer_details: details });
      },
      PUT: async ({ user, params, body }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const name = params['name']!;
        if (name === '') throw badRequest('queue name must not be empty');
        const d = await body();
        checkResource(b, user, vh.name, 'configure', 'queue', name);
        const args = jsonToTable(d['arguments'], 'arguments');
        const created = !vh.queues.has(name);
        await C.declareQueue(b, vh, name, boolField(d, 'durable', true), boolField(d, 'auto_delete', false), args);
        return createdOrUpdated(created);
      },
      DELETE: async ({ user, params, query }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const q = this.unlocked(vh, this.queue(vh, params['name']!));
        checkResource(b, user, vh.name, 'configure', 'queue', q.name);
        await C.deleteQueue(b, vh, q, query.get('if-unused') === 'true', query.get('if-empty') === 'true');
        return noContent;
      },
    });
    this.on('queues/:vhost/:name/contents', {
      DELETE: async ({ user, params }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const q = this.unlocked(vh, this.queue(vh, params['name']!));
        checkResource(b, user, vh.name, 'read', 'queue', q.name);
        const remote = b.elsewhere(q);
        if (remote !== null) await fromMaster(remote.purge(q));
        else q.purge();
        return noContent;
      },
    });
    this.on('queues/:vhost/:name/bindings', {
      GET: ({ user, params }) => {
        const vh = vhostForRead(b, user, params['vhost']!);
        const q = this.queue(vh, params['name']!);
        return ok([F.defaultBindingJson(vh.name, q), ...vh.listBindings().filter((x) => x.destination === q).map((x) => F.bindingJson(vh.name, x))]);
      },
    });
    this.on('queues/:vhost/:name/actions', {
      POST: async ({ user, params, body }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const q = this.queue(vh, params['name']!);
        const action = (await body())['action'];
        if (action !== 'sync' && action !== 'cancel_sync') throw badRequest(`unknown action ${JSON.stringify(action)}`);
        // brokerctl sync_queue / cancel_sync_queue (a single node has no mirrors to synchronise)
        if (f.cluster.syncQueue !== undefined) await fromMaster(f.cluster.syncQueue(q, action === 'cancel_sync'));
        return noContent;
      },
    });
    this.on('queues/:vhost/:name/get', {
      POST: async ({ user, params, body }) => {
        const vh = vhostForWrite(b, user, params['vhost']!);
        const q = this.unlocked(vh, this.queue(vh, params['name']!));
        checkResource(b, user, vh.name, 'read', 'queue', q.name);
        const r = parseGetRequest(await body());
        const remote = b.elsewhere(q);
        return ok(remote !== null ? await fromMaster(remote.mgmtGet(q, r)) : getMessages(q, r));
      },
    });

    // bindings
    this.on('bindings', { GET: ({ user }) => ok(this.vhostsFor(user, undefined).flatMap((vh) => this.bindingsOf(vh))) });
    this.on('bindings/:vhost', { GET: ({ user, params }) => ok(this.bindingsOf(vhostForRead(b, user, params['vhost']!))) });
    for (const dc of ['q', 'e'] as const) {
      const destOf = (vh: VHost, name: string): Queue | Exchange => {
        const d = dc === 'q' ? vh.queues.get(name) : vh.exchanges.get(exName(name));
        if (!d) throw notFound();
        return d;
      };
      const between = (vh: VHost, src: Exchange, dest: Queue | Exchange): Record<string, unknown>[] => {
        const list = vh.listBindings().filter((x) => x.source === src.name && x.destination === dest).map((x) => F.bindingJson(vh.name, x));
        if (src.name === '' && dest.kind === 'queue') list.unshift(F.defaultBindingJson(vh.name, dest as Queue));
        return list;
      };
      this.on(`bindings/:vhost/e/:source/${dc}/:dest`, {
        GET: ({ user, params }) => {
          const vh = vhostForRead(b, user, params['vhost']!);
          return ok(between(vh, this.exchange(vh, params['source']!), destOf(vh, params['dest']!)));
        },
        POST: async ({ user, params, body }) => {
          const vh = vhostForWrite(b, user, params['vhost']!);
          const src = this.exchange(vh, params['source']!);
          const dest = destOf(vh, params['dest']!);
          checkResource(b, user, vh.name, 'read', 'exchange', src.name);
          checkResource(b, user, vh.name, 'write', dest.kind, dest.name);
          const d = await body();
          const rk = d['routing_key'] === undefined || d['routing_key'] === null ? '' : d['routing_key'];
          if (typeof rk !== 'string') throw badRequest('routing_key must be a string');
          const args = jsonToTable(d['arguments'], 'arguments');
          await C.bind(b, vh, false, src, dest, rk, args);
          return { status: 201, headers: { location: F.propertiesKey(rk, tableToJson(args)) } };
        },
      });
      this.on(`bindings/:vhost/e/:source/${dc}/:dest/:props`, {
        GET: ({ user, params }) => {
          const vh = vhostForRead(b, user, params['vhost']!);
          const found = between(vh, this.exchange(vh, params['source']!), destOf(vh, params['dest']!)).find((x) => x['properties_key'] === params['props']);
          if (!found) throw notFound();
          return ok(found);
        },
        DELETE: async ({ user, params }) => {
          const vh = vhostForWrite(b, user, params['vhost']!);
          const src = this.exchange(vh, params['source']!);
          const dest = destOf(vh, params['dest']!);
          const bd = vh.listBindings().find((x) => x.source === src.name && x.destination === dest && F.propertiesKey(x.routingKey, tableToJson(x.arguments)) === params['props']);
          if (!bd) throw notFound();
          checkResource(b, user, vh.name, 'read', 'exchange', src.name);
          checkResource(b, user, vh.name, 'write', dest.kind, dest.name);
          await C.bind(b, vh, true, src, dest, bd.routingKey, bd.arguments);
          return noContent;
        },
      });
    }

    // vhosts
    const vhostJson = async (vh: VHost): Promise<Record<string, unknown>> => {
      let ready = 0;
      let unacked = 0;
      for (const c of (await f.cluster.queueCounts(vh.queues.values())).values()) {
        if (c === null) continue;
        ready += c.ready;
        unacked += c.unacked;
      }
      return {
        name: vh.name, description: '', tags: [], metadata: { description: '', tags: [] }, tracing: vh.tracing, default_queue_type: 'classic',
        messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked,
        cluster_state: Object.fromEntries(f.cluster.nodes().map((n) => [n.name, n.running ? 'running' : 'stopped'])),
      };
    };
    this.on('vhosts', { GET: async ({ user }) => ok(await Promise.all(this.vhostsFor(user, undefined).map(vhostJson))) });
    this.on('vhosts/:vhost', {
      GET: async ({ user, params }) => ok(await vhostJson(vhostForRead(b, user, params['vhost']!))),
      PUT: async ({ user, params, body }) => {
        requireAdmin(user);
        const name = params['vhost']!;
        const d = await body();
        const created = !b.vhosts.has(name);
        if (created) {
          await change(b, { op: 'vhost.add', name });
          // RabbitMQ grants the user who created a vhost full permissions in it
          await change(b, { op: 'permission.set', permission: { user: user.name, vhost: name, configure: '.*', write: '.*', read: '.*' } });
        }
        const tracing = d['tracing'];
        if (tracing !== undefined) b.vhosts.get(name)!.tracing = boolField(d, 'tracing', false);
        return createdOrUpdated(created);
      },
      DELETE: async ({ user, params }) => {
        requireAdmin(user);
        if (!b.vhosts.has(params['vhost']!)) throw notFound();
        await change(b, { op: 'vhost.delete', name: params['vhost']! });
        return noContent;
      },
    });
    this.on('vhosts/:vhost/permissions', {
      GET: ({ user, params }) => {
        requireAdmin(user);
        if (!b.vhosts.has(params['vhost']!)) throw notFound();
        return ok([...b.permissions.values()].filter((p) => p.vhost === params['vhost']).map(permJson));
      },
    });

    // users
    const userJson = (u: User): Record<string, unknown> => ({ name: u.name, password_hash: u.passwordHash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: u.tags, limits: {} });
    this.on('users', {
      GET: ({ user }) => {
        requireAdmin(user);
        return ok([...b.users.values()].map(userJson));
      },
    });
    this.on('users/without-permissions', {
      GET: ({ user }) => {
        requireAdmin(user);
        const withPerms = new Set([...b.permissions.values()].map((p) => p.user));
        return ok([...b.users.values()].filter((u) => !withPerms.has(u.name)).map(userJson));
      },
    });
    this.on('users/bulk-delete', {
      POST: async ({ user, body }) => {
        requireAdmin(user);
        const names = (await body())['users'];
        if (!Array.isArray(names)) throw badRequest("Key 'users' must be a list of user names");
        for (const n of names) if (typeof n === 'string' && b.users.has(n)) await change(b, { op: 'user.delete', name: n });
        return noContent;
      },
    });
    this.on('users/:user', {
      GET: ({ user, params }) => {
        requireAdmin(user);
        const u = b.users.get(params['user']!);
        if (!u) throw notFound();
        return ok(userJson(u));
      },
      PUT: async ({ user, params, body }) => {
        requireAdmin(user);
        const name = params['user']!;
        if (name === '') throw badRequest('user name must not be empty');
        const d = await body();
        const existing = b.users.get(name);
        let hash: string;
        if (typeof d['password'] === 'string') hash = hashPassword(d['password']);
        else if (typeof d['password_hash'] === 'string') {
          checkHashingAlgorithm(d['hashing_algorithm']);
          hash = d['password_hash'];
          if (hash !== '' && Buffer.from(hash, 'base64').length !== 36) throw badRequest('password_hash must be a base64 salted SHA-256 hash (rabbit_password_hashing_sha256)');
        } else if (existing) hash = existing.passwordHash;
        else throw badRequest('password or password_hash must be set');
        await change(b, { op: 'user.put', user: { name, passwordHash: hash, tags: d['tags'] === undefined && existing ? existing.tags : parseTags(d['tags']) } });
        return createdOrUpdated(existing === undefined);
      },
      DELETE: async ({ user, params }) => {
        requireAdmin(user);
        if (!b.users.has(params['user']!)) throw notFound();
        await change(b, { op: 'user.delete', name: params['user']! });
        return noContent;
      },
    });
    this.on('users/:user/permissions', {
      GET: ({ user, params }) => {
        requireAdmin(user);
        if (!b.users.has(params['user']!)) throw notFound();
        return ok([...b.permissions.values()].filter((p) => p.user === params['user']).map(permJson));
      },
    });

    // permissions
    this.on('permissions', {
      GET: ({ user }) => {
        requireAdmin(user);
        return ok([...b.permissions.values()].map(permJson));
      },
    });
    this.on('permissions/:vhost/:user', {
      GET: ({ user, params }) => {
        requireAdmin(user);
        const p = [...b.permissions.values()].find((x) => x.vhost === params['vhost'] && x.user === params['user']);
        if (!p) throw notFound();
        return ok(permJson(p));
      },
      PUT: async ({ user, params, body }) => {
        requireAdmin(user);
        const vhost = params['vhost']!;
        const name = params['user']!;
        if (!b.vhosts.has(vhost)) throw notFound();
        if (!b.users.has(name)) throw badRequest(`user '${name}' does not exist`);
        const d = await body();
        const get = (k: string): string => {
          const v = d[k];
          if (typeof v !== 'string') throw badRequest(`Key '${k}' is mandatory and must be a string`);
          return v;
        };
        const created = b.permissionFor(name, vhost) === null;
        const perm = { user: name, vhost, configure: get('configure'), write: get('write'), read: get('read') };
        for (const re of [perm.configure, perm.write, perm.read]) {
          try {
            new RegExp(re);
          } catch (err) {
            throw badRequest(`invalid regular expression: ${(err as Error).message}`);
          }
        }
        await change(b, { op: 'permission.set', permission: perm });
        return createdOrUpdated(created);
      },
      DELETE: async ({ user, params }) => {
        requireAdmin(user);
        if (b.permissionFor(params['user']!, params['vhost']!) === null) throw notFound();
        await change(b, { op: 'permission.clear', user: params['user']!, vhost: params['vhost']! });
        return noContent;
      },
    });
    this.on('topic-permissions', {
      GET: ({ user }) => {
        requireAdmin(user);
        return ok([]);
      },
    });

    // policies
    const policies = (user: User, vhost?: string): Record<string, unknown>[] => {
      requirePolicymaker(user);
      return this.vhostsFor(user, vhost).flatMap((vh) => [...vh.policies.values()].map(F.policyJson));
    };
    this.on('policies', { GET: ({ user }) => ok(policies(user)) });
    this.on('policies/:vhost', { GET: ({ user, params }) => ok(policies(user, params['vhost'])) });
    this.on('policies/:vhost/:name', {
      GET: ({ user, params }) => {
        requirePolicymaker(user);
        const vh = vhostForRead(b, user, params['vhost']!);
        const p = vh.policies.get(params['name']!);
        if (!p) throw notFound();
        return ok(F.policyJson(p));
      },
      PUT: async ({ user, params, body }) => {
        requirePolicymaker(user);
        const vh = vhostForWrite(b, user, params['vhost']!);
        const d = await body();
        const pattern = d['pattern'];
        if (typeof pattern !== 'string') throw badRequest("Key 'pattern' is mandatory and must be a string");
        const def = d['definition'];
        if (typeof def !== 'object' || def === null || Array.isArray(def)) throw badRequest("Key 'definition' is mandatory and must be a JSON object");
        const prio = d['priority'] === undefined || d['priority'] === null || d['priority'] === '' ? 0 : Number(d['priority']);
        if (!Number.isInteger(prio)) throw badRequest('priority must be an integer');
        const applyTo = (d['apply-to'] ?? 'all') as ApplyTo;
        const created = !vh.policies.has(params['name']!);
        const policy: PolicyDef = { vhost: vh.name, name: params['name']!, pattern, 'apply-to': applyTo, priority: prio, definition: jsonToTable(def, 'definition') };
        amqp(() => validatePolicy(policy)); // a clear 400 before anything is proposed to the cluster
        await change(b, { op: 'policy.set', policy });
        return createdOrUpdated(created);
      },
      DELETE: async ({ user, params }) => {
        requirePolicymaker(user);
        const vh = vhostForWrite(b, user, params['vhost']!);
        if (!vh.policies.has(params['name']!)) throw notFound();
        await change(b, { op: 'policy.clear', vhost: vh.name, name: params['name']! });
        return noContent;
      },
    });
    for (const p of ['operator-policies', 'operator-policies/:vhost']) this.on(p, { GET: ({ user }) => (requirePolicymaker(user), ok([])) });

    // parameters
    const params = (user: User, component?: string, vhost?: string): Record<string, unknown>[] => {
      requirePolicymaker(user);
      if (vhost !== undefined) vhostForRead(b, user, vhost);
      return parameterList(b).filter((p) => (component === undefined || p['component'] === component) && (vhost === undefined || p['vhost'] === vhost) && canSeeVhost(b, user, String(p['vhost'])));
    };
    this.on('parameters', { GET: ({ user }) => ok(params(user)) });
    this.on('parameters/:component', { GET: ({ user, params: p }) => ok(params(user, p['component'])) });
    this.on('parameters/:component/:vhost', { GET: ({ user, params: p }) => ok(params(user, p['component'], p['vhost'])) });
    this.on('parameters/:component/:vhost/:name', {
      GET: ({ user, params: p }) => {
        requirePolicymaker(user);
        vhostForRead(b, user, p['vhost']!);
        const r = getParameter(b, p['component']!, p['vhost']!, p['name']!);
        if (!r) throw notFound();
        return ok({ vhost: r.vhost, component: r.component, name: r.name, value: r.value });
      },
      PUT: async ({ user, params: p, body }) => {
        requirePolicymaker(user);
        vhostForWrite(b, user, p['vhost']!);
        const d = await body();
        if (!('value' in d)) throw badRequest("Key 'value' is mandatory");
        return createdOrUpdated(putParameter(b, p['component']!, p['vhost']!, p['name']!, d['value']));
      },
      DELETE: ({ user, params: p }) => {
        requirePolicymaker(user);
        vhostForWrite(b, user, p['vhost']!);
        if (!deleteParameter(b, p['component']!, p['vhost']!, p['name']!)) throw notFound();
        return noContent;
      },
    });
    this.on('global-parameters', {
      GET: ({ user }) => {
        requireAdmin(user);
        return ok([{ name: 'cluster_name', value: b.clusterName }]);
      },
    });
    this.on('global-parameters/:name', {
      GET: ({ user, params: p }) => {
        requireAdmin(user);
        if (p['name'] !== 'cluster_name') throw notFound();
        return ok({ name: 'cluster_name', value: b.clusterName });
      },
    });

    // definitions
    this.on('definitions', {
      GET: ({ user, query }) => {
        requireAdmin(user);
        // the web UI's "download" link: ?download=<file name>
        const dl = query.get('download');
        const headers: Record<string, string> = dl ? { 'content-disposition': `attachment; filename="${dl.replace(/["\\\r\n]/g, '_')}"` } : {};
        return { status: 200, body: exportAll(b), headers };
      },
      POST: async ({ user, rawBody, req }) => {
        requireAdmin(user);
        await importDefinitions(b, definitionsBody(await rawBody(), req));
        return noContent;
      },
    });
    this.on('definitions/:vhost', {
      GET: ({ user, params: p }) => {
        requireAdmin(user);
        const vh = b.vhosts.get(p['vhost']!);
        if (!vh) throw notFound();
        return ok(exportVhost(b, vh));
      },
      POST: async ({ user, params: p, rawBody, req }) => {
        requireAdmin(user);
        if (!b.vhosts.has(p['vhost']!)) throw notFound();
        await importDefinitions(b, definitionsBody(await rawBody(), req), p['vhost']!);
        return noContent;
      },
    });

    // health
    this.on('aliveness-test/:vhost', {
      GET: async ({ user, params: p }) => {
        const vh = vhostForWrite(b, user, p['vhost']!);
        await C.declareQueue(b, vh, 'aliveness-test', false, false, {});
        const q = vh.queues.get('aliveness-test');
        if (!q) return { status: 503, body: { status: 'failed', reason: 'the aliveness-test queue could not be declared' } };
        q.purge();
        vh.publish(vh.getExchange(''), new Message('', 'aliveness-test', {}, null, Buffer.from('test_message'), b.now()));
        const got = q.get(true);
        if (!got || got.msg.body.toString() !== 'test_message') return { status: 503, body: { status: 'failed', reason: 'aliveness test message did not come back' } };
        return ok({ status: 'ok' });
      },
    });
    const healthOk = { status: 'ok' };
    const alarmCheck = (): Reply => {
      const a = F.alarms(f);
      if (a.length === 0) return ok(healthOk);
      return { status: 503, body: { status: 'failed', reason: 'There are alarms in effect in the cluster', alarms: a } };
    };
    this.on('health/checks/alarms', { GET: alarmCheck });
    this.on('health/checks/local-alarms', {
      GET: () => {
        const a = F.alarms(f);
        if (a.length === 0) return ok(healthOk);
        return { status: 503, body: { status: 'failed', reason: 'There are alarms in effect on the node', alarms: a } };
      },
    });
    this.on('health/checks/node-is-quorum-critical', { GET: () => ok(healthOk) });
    this.on('health/checks/node-is-mirror-sync-critical', {
      GET: () => {
        // queues whose only synchronised copy is this node while it has mirrors that are not in sync
        const critical: Record<string, unknown>[] = [];
        for (const vh of b.vhosts.values()) {
          for (const q of vh.queues.values()) {
            const loc = f.cluster.queueLocation(vh.name, q.name);
            if (loc.mirrors.length > 0 && loc.synchronisedMirrors.length === 0) critical.push({ name: q.name, virtual_host: vh.name, type: 'classic' });
          }
        }
        if (critical.length === 0) return ok(healthOk);
        return { status: 503, body: { status: 'failed', reason: 'There are classic mirrored queues without online synchronised mirrors present', queues: critical } };
      },
    });
    this.on('health/checks/virtual-hosts', {
      GET: () => (b.running ? ok(healthOk) : { status: 503, body: { status: 'failed', reason: 'Some virtual hosts are down', 'virtual-hosts': [...b.vhosts.keys()] } }),
    });
    this.on('health/checks/port-listener/:port', {
      GET: ({ params: p }) => {
        const port = Number(p['port']);
        if (!Number.isInteger(port) || port <= 0 || port > 65535) throw badRequest(`invalid port '${p['port']}'`);
        const ports = b.running ? [b.port, f.httpPort] : [f.httpPort];
        if (ports.includes(port)) return ok({ status: 'ok', port });
        return { status: 503, body: { status: 'failed', reason: `No active listener on port ${port}`, missing: port, ports } };
      },
    });
    this.on('health/checks/protocol-listener/:protocol', {
      GET: ({ params: p }) => {
        const proto = p['protocol']!.toLowerCase();
        const have = [...(b.running ? ['amqp', 'amqp091', 'amqp0-9-1'] : []), 'http', 'management', 'prometheus'];
        if (have.includes(proto)) return ok({ status: 'ok', protocol: p['protocol'] });
        return { status: 503, body: { status: 'failed', reason: `No active listener for protocol ${p['protocol']}`, missing: p['protocol'], protocols: ['amqp', 'http'] } };
      },
    });
    this.on('health/checks/ready-to-serve-clients', {
      GET: () => (b.running ? ok(healthOk) : { status: 503, body: { status: 'failed', reason: 'the node is not running the rabbit application' } }),
    });
    this.on('health/checks/certificate-expiration/:within/:unit', { GET: () => ok(healthOk) });
    this.on('extensions', { GET: () => ok([]) });
    this.on('auth', { GET: () => ok({ oauth_enabled: false }) });
    this.on('vhost-limits', { GET: () => ok([]) });
    this.on('vhost-limits/:vhost', { GET: ({ user, params: p }) => (vhostForRead(b, user, p['vhost']!), ok([])) });
    this.on('vhost-limits/:vhost/:name', {
      PUT: ({ user, params: p }) => {
        requireAdmin(user);
        vhostForRead(b, user, p['vhost']!);
        throw badRequest(`vhost limit '${p['name']}' is not supported: Warren enforces no per-vhost limits (max-connections, max-queues)`);
      },
      DELETE: ({ user, params: p }) => {
        requireAdmin(user);
        vhostForRead(b, user, p['vhost']!);
        throw notFound();
      },
    });
    this.on('feature-flags', { GET: ({ user }) => (requireAdmin(user), ok([])) });
  }
}

function permJson(p: { user: string; vhost: string; configure: string; write: string; read: string }): Record<string, unknown> {
  return { user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read };
}

/** The body of a definitions import: JSON, or a multipart form with a "file" field (the web UI's upload). */
function definitionsBody(raw: Buffer, req: IncomingMessage): Record<string, unknown> {
  const ct = req.headers['content-type'] ?? '';
  const m = /boundary=("?)([^";]+)\1/.exec(ct);
  if (ct.startsWith('multipart/form-data') && m) {
    const text = raw.toString('utf8');
    for (const part of text.split(`--${m[2]}`)) {
      const i = part.indexOf('\r\n\r\n');
      if (i < 0) continue;
      const head = part.slice(0, i);
      if (/name="file"/.test(head)) return parseJsonBody(Buffer.from(part.slice(i + 4).replace(/\r\n$/, '')));
    }
    throw badRequest('multipart body without a "file" part');
  }
  return parseJsonBody(raw);
}


