// The JSON shapes of RabbitMQ's management API (3.10) for Warren's objects.
import { cpus } from 'node:os';
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import type { Broker } from '../server/broker.ts';
import { VERSION, WARREN_VERSION } from '../server/version.ts';
import type { Connection } from '../server/connection.ts';
import type { Channel } from '../server/channel.ts';
import type { Queue, QueueCounts, QueueRates } from '../queue/queue.ts';
import type { Exchange, Binding } from '../routing/exchange.ts';
import type { PolicyDef } from '../policy/policy.ts';
import type { ClusterNode, ClusterView } from './cluster.ts';
import type { Stats } from './stats.ts';
import { tableToJson } from './convert.ts';

export const MANAGEMENT_VERSION = VERSION;

export interface FormatContext {
  broker: Broker;
  cluster: ClusterView;
  stats: Stats;
  /** the management listener's port and address, for listeners/contexts */
  httpPort: number;
  httpHost: string;
}

export const EXCHANGE_TYPES = [
  { name: 'direct', description: 'AMQP direct exchange, as per the AMQP specification', enabled: true },
  { name: 'fanout', description: 'AMQP fanout exchange, as per the AMQP specification', enabled: true },
  { name: 'headers', description: 'AMQP headers exchange, as per the AMQP specification', enabled: true },
  { name: 'topic', description: 'AMQP topic exchange, as per the AMQP specification', enabled: true },
];

function amqpListener(f: FormatContext): { ip: string; port: number } {
  const a = f.broker.address();
  const i = a.lastIndexOf(':');
  return { ip: a.slice(0, i).replace(/^\[|\]$/g, '') || '::', port: Number(a.slice(i + 1)) || f.broker.port };
}

export function listeners(f: FormatContext): object[] {
  const node = f.broker.opts.nodeName;
  const l = amqpListener(f);
  return [
    { node, protocol: 'amqp', ip_address: l.ip, port: l.port, socket_opts: {} },
    { node, protocol: 'http', ip_address: f.httpHost, port: f.httpPort, socket_opts: { port: f.httpPort } },
  ];
}

function fdCounts(): { used: number; total: number } {
  let used = 0;
  let total = 1024;
  try {
    used = readdirSync('/proc/self/fd').length;
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) total = Number(m[1]);
  } catch {
    // not Linux: leave the defaults
  }
  return { used, total };
}

function diskFree(path: string): number {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** RabbitMQ's default disk_free_limit, shown for a node without a data directory (which has no disk alarm) */
const DISK_FREE_LIMIT = 50_000_000;

/** Figures of this process as RabbitMQ's node object has them. */
function localNodeStats(f: FormatContext): Record<string, unknown> {
  const b = f.broker;
  const fds = fdCounts();
  const mem = process.memoryUsage();
  const free = diskFree(b.opts.dataDir ?? process.cwd());
  return {
    mem_used: mem.rss,
    mem_used_details: { rate: 0 },
    mem_limit: b.memoryLimit,
    mem_alarm: b.memoryAlarm,
    mem_calculation_strategy: 'rss',
    disk_free: free,
    disk_free_limit: b.disk?.limit ?? DISK_FREE_LIMIT,
    disk_free_alarm: b.diskAlarm,
    fd_used: fds.used,
    fd_total: fds.total,
    sockets_used: b.connections.size,
    sockets_total: Math.floor(fds.total * 0.9),
    proc_used: b.connections.size + 1,
    proc_total: 1048576,
    run_queue: 0,
    processors: cpus().length,
    uptime: Date.now() - b.startedAt,
    os_pid: String(process.pid),
    rates_mode: 'basic',
    net_ticktime: 60,
    being_drained: false,
    exchange_types: EXCHANGE_TYPES,
    auth_mechanisms: [
      { name: 'PLAIN', description: 'SASL PLAIN authentication mechanism', enabled: true },
      { name: 'AMQPLAIN', description: 'QPid AMQPLAIN mechanism', enabled: true },
    ],
    applications: [
      { name: 'rabbit', description: 'RabbitMQ (Warren)', version: VERSION },
      { name: 'rabbitmq_management', description: 'RabbitMQ Management Console (Warren)', version: VERSION },
      { name: 'rabbitmq_prometheus', description: 'Prometheus metrics (Warren)', version: VERSION },
    ],
    enabled_plugins: ['rabbitmq_management', 'rabbitmq_prometheus'],
    contexts: [{ description: 'RabbitMQ Management', path: '/', port: String(f.httpPort) }],
    log_files: ['<stdout>'],
    db_dir: b.opts.dataDir ?? '',
    config_files: [],
    erlang_version: `Node.js ${process.version}`,
    warren_version: WARREN_VERSION,
  };
}

export function nodeJson(f: FormatContext, n: ClusterNode): Record<string, unknown> {
  const local = n.name === f.broker.opts.nodeName;
  const base: Record<string, unknown> = local ? localNodeStats(f) : { ...(n.stats ?? {}) };
  return {
    ...base,
    name: n.name,
    type: n.type,
    running: n.running,
    partitions: n.partitions,
    cluster_links: [],
  };
}

export function nodes(f: FormatContext): Record<string, unknown>[] {
  return f.cluster.nodes().map((n) => nodeJson(f, n));
}

/** otherConnections: the other members' connections (listings.ts), counted in object_totals with this node's */
export function overview(f: FormatContext, visibleVhosts: string[], connectionsVisible: Connection[], counts: Map<Queue, QueueCounts | null>, otherConnections: Record<string, unknown>[] = []): Record<string, unknown> {
  const b = f.broker;
  const s = f.stats;
  const t = s.totals();
  let queues = 0;
  let exchanges = 0;
  let consumers = 0;
  let ready = 0;
  let unacked = 0;
  // this node's totals cover the queues it masters; those mastered elsewhere add what their masters counted
  const elsewhere = { publish: 0, deliver: 0, ack: 0, redeliver: 0 };
  const elsewhereRates = { publish: 0, deliver_get: 0, ack: 0, redeliver: 0 };
  for (const name of visibleVhosts) {
    const vh = b.vhosts.get(name);
    if (!vh) continue;
    exchanges += vh.exchanges.size;
    queues += vh.queues.size;
    for (const q of vh.queues.values()) {
      const c = counts.get(q) ?? null;
      if (c === null) continue;
      consumers += c.consumers;
      ready += c.ready;
      unacked += c.unacked;
      if (b.elsewhere(q) === null) continue;
      elsewhere.publish += c.publish;
      elsewhere.deliver += c.deliver;
      elsewhere.ack += c.ack;
      elsewhere.redeliver += c.redeliver;
      if (c.rates === undefined) continue;
      for (const k of ['publish', 'deliver_get', 'ack', 'redeliver'] as const) elsewhereRates[k] += c.rates[k];
    }
  }
  const rate = (what: keyof typeof elsewhereRates): { rate: number } => ({ rate: Math.round((s.rate(what) + elsewhereRates[what]) * 10) / 10 });
  let channels = 0;
  for (const c of connectionsVisible) channels += c.channels.size;
  for (const c of otherConnections) channels += typeof c['channels'] === 'number' ? c['channels'] : 0;
  return {
    management_version: MANAGEMENT_VERSION,
    rates_mode: 'basic',
    sample_retention_policies: { global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] },
    exchange_types: EXCHANGE_TYPES,
    product_version: VERSION,
    product_name: 'RabbitMQ',
    rabbitmq_version: VERSION,
    warren_version: WARREN_VERSION,
    cluster_name: b.clusterName,
    erlang_version: `Node.js ${process.version}`,
    erlang_full_version: `Node.js ${process.version} (Warren ${WARREN_VERSION})`,
    disable_stats: false,
    enable_queue_totals: false,
    message_stats: {
      publish: t.publish + elsewhere.publish,
      publish_details: rate('publish'),
      deliver_get: t.deliver + elsewhere.deliver,
      deliver_get_details: rate('deliver_get'),
      deliver: t.deliver + elsewhere.deliver,
      deliver_details: rate('deliver_get'),
      ack: t.ack + elsewhere.ack,
      ack_details: rate('ack'),
      redeliver: t.redeliver + elsewhere.redeliver,
      redeliver_details: rate('redeliver'),
    },
    churn_rates: {},
    queue_totals: {
      messages: ready + unacked,
      messages_details: s.details('messages'),
      messages_ready: ready,
      messages_ready_details: s.details('messages_ready'),
      messages_unacknowledged: unacked,
      messages_unacknowledged_details: s.details('messages_unacknowledged'),
    },
    object_totals: { channels, connections: connectionsVisible.length + otherConnections.length, consumers, exchanges, queues },
    statistics_db_event_queue: 0,
    node: b.opts.nodeName,
    alarms: alarms(f),
    listeners: listeners(f),
    contexts: [{ node: b.opts.nodeName, description: 'RabbitMQ Management', path: '/', port: String(f.httpPort) }],
  };
}

export function alarms(f: FormatContext): { resource: string; node: string }[] {
  const out: { resource: string; node: string }[] = [];
  if (f.broker.memoryAlarm) out.push({ resource: 'memory', node: f.broker.opts.nodeName });
  if (f.broker.diskAlarm) out.push({ resource: 'disk', node: f.broker.opts.nodeName });
  return out;
}

export function connectionJson(f: FormatContext, c: Connection): Record<string, unknown> {
  const s = f.stats;
  const props = tableToJson(c.clientProperties);
  return {
    name: c.name,
    node: f.broker.opts.nodeName,
    type: 'network',
    protocol: 'AMQP 0-9-1',
    state: c.running ? (c.blocked ? 'blocked' : 'running') : 'starting',
    user: c.user?.name ?? '',
    user_who_performed_action: c.user?.name ?? '',
    vhost: c.vhost?.name ?? '',
    host: c.socket.localAddress ?? '',
    port: c.socket.localPort ?? 0,
    peer_host: c.peerHost,
    peer_port: c.peerPort,
    ssl: false,
    auth_mechanism: 'PLAIN',
    channels: c.channels.size,
    channel_max: c.channelMax,
    frame_max: c.frameMax,
    timeout: c.heartbeat,
    connected_at: c.connectedAt,
    client_properties: props,
    recv_oct: c.recvOct,
    recv_oct_details: s.details(`c\u0000${c.id}\u0000recv_oct`),
    send_oct: c.sendOct,
    send_oct_details: s.details(`c\u0000${c.id}\u0000send_oct`),
    recv_cnt: c.recvCnt,
    send_cnt: c.sendCnt,
    send_pend: c.socket.writableLength,
    garbage_collection: {},
    reductions: 0,
  };
}

export function channelName(c: Connection, ch: Channel): string {
  return `${c.name} (${ch.id})`;
}

export function channelJson(f: FormatContext, c: Connection, ch: Channel): Record<string, unknown> {
  return {
    name: channelName(c, ch),
    number: ch.id,
    node: f.broker.opts.nodeName,
    user: c.user?.name ?? '',
    user_who_performed_action: c.user?.name ?? '',
    vhost: c.vhost?.name ?? '',
    connection_details: { name: c.name, peer_host: c.peerHost, peer_port: c.peerPort },
    state: ch.closing ? 'closing' : ch.flowActive ? 'running' : 'flow',
    consumer_count: ch.consumers.size,
    messages_unacknowledged: ch.unackedCount,
    messages_unconfirmed: 0,
    messages_uncommitted: 0,
    acks_uncommitted: 0,
    prefetch_count: ch.prefetchCount,
    global_prefetch_count: ch.globalPrefetch,
    confirm: ch.confirm,
    transactional: ch.tx,
    idle_since: undefined,
    message_stats: { publish: ch.publishCount, deliver_get: ch.deliverCount, ack: ch.ackCount },
  };
}

/**
 * A queue as the management API shows it. `c` is the queue's counts as its master has them (this node may hold only
 * a stand-in for a queue mastered elsewhere); null when the master cannot be asked: the queue is down, and its
 * message counts are left out, as RabbitMQ does.
 */
export function queueJson(f: FormatContext, q: Queue, c: QueueCounts | null = q.counts()): Record<string, unknown> {
  const s = f.stats;
  const n = c ?? { ...q.counts(), ready: 0, unacked: 0, readyBytes: 0, consumers: 0 };
  // the master's node's samples when it sent them (this node's own samples of a queue mastered elsewhere are zero)
  const rate = (what: keyof QueueRates): { rate: number } => (c?.rates !== undefined ? { rate: c.rates[what] } : s.details(s.queueSeries(q, what)));
  const loc = f.cluster.queueLocation(q.vhost, q.name);
  const mirrored = loc.mirrors.length > 0 || q.mirroredByPolicy;
  const owner = q.exclusive ? [...f.broker.connections].find((c) => c.id === q.owner) : undefined;
  const out: Record<string, unknown> = {
    name: q.name,
    vhost: q.vhost,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusive,
    arguments: tableToJson(q.arguments),
    node: loc.node,
    type: 'classic',
    state: c === null ? 'down' : 'running',
    policy: q.policy?.name ?? null,
    operator_policy: null,
    effective_policy_definition: q.policy ? tableToJson(q.policy.definition) : {},
    consumers: n.consumers,
    consumer_capacity: n.consumers > 0 ? 1 : 0,
    consumer_utilisation: n.consumers > 0 ? 1 : null,
    exclusive_consumer_tag: q.consumers.find((c) => c.exclusive)?.tag ?? null,
    messages: n.ready + n.unacked,
    messages_details: rate('messages'),
    messages_ready: n.ready,
    messages_ready_details: rate('messages_ready'),
    messages_unacknowledged: n.unacked,
    messages_unacknowledged_details: rate('messages_unacknowledged'),
    message_bytes: n.readyBytes,
    message_bytes_ready: n.readyBytes,
    message_bytes_unacknowledged: 0,
    message_bytes_persistent: 0,
    message_stats: {
      publish: n.publish,
      publish_details: rate('publish'),
      deliver_get: n.deliver,
      deliver_get_details: rate('deliver_get'),
      ack: n.ack,
      ack_details: rate('ack'),
      redeliver: n.redeliver,
      redeliver_details: rate('redeliver'),
    },
    head_message_timestamp: null,
    memory: 0,
    recoverable_slaves: null,
  };
  if (c === null) {
    for (const k of Object.keys(out)) if (k.startsWith('messages') || k.startsWith('message_bytes') || k.startsWith('consumer')) delete out[k];
  }
  if (owner) out['owner_pid_details'] = { name: owner.name, peer_host: owner.peerHost, peer_port: owner.peerPort };
  if (mirrored) {
    out['slave_nodes'] = loc.mirrors;
    out['synchronised_slave_nodes'] = loc.synchronisedMirrors;
  }
  return out;
}

export function exchangeJson(f: FormatContext, ex: Exchange, policies: Iterable<PolicyDef>): Record<string, unknown> {
  void f;
  let policy: string | null = null;
  for (const p of policies) if ((p['apply-to'] === 'all' || p['apply-to'] === 'exchanges') && new RegExp(p.pattern).test(ex.name)) {
    if (policy === null) policy = p.name;
  }
  const out: Record<string, unknown> = {
    name: ex.name,
    vhost: ex.vhost,
    type: ex.type,
    durable: ex.durable,
    auto_delete: ex.autoDelete,
    internal: ex.internal,
    arguments: tableToJson(ex.arguments),
    user_who_performed_action: 'rmq-internal',
  };
  if (policy !== null) out['policy'] = policy;
  return out;
}

/** RabbitMQ's properties_key: "~" for no key and no arguments, the quoted routing key, or key~hash with arguments. */
export function propertiesKey(routingKey: string, args: Record<string, unknown>): string {
  const rk = quotePlus(routingKey);
  if (Object.keys(args).length === 0) return routingKey === '' ? '~' : rk;
  return `${rk}~${hashArgs(args)}`;
}

/** RabbitMQ's quote_binding: mochiweb quote_plus (alphanumerics and "._-" kept, space as +), then ~ as %7E. */
function quotePlus(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9._-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function hashArgs(args: Record<string, unknown>): string {
  const text = JSON.stringify(args, Object.keys(args).sort());
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

export function bindingJson(vhost: string, b: Binding): Record<string, unknown> {
  const args = tableToJson(b.arguments);
  return {
    source: b.source,
    vhost,
    destination: b.destination.name,
    destination_type: b.destination.kind,
    routing_key: b.routingKey,
    arguments: args,
    properties_key: propertiesKey(b.routingKey, args),
  };
}

/** The implicit binding of every queue to the default exchange (listed by RabbitMQ, not removable). */
export function defaultBindingJson(vhost: string, q: Queue): Record<string, unknown> {
  return { source: '', vhost, destination: q.name, destination_type: 'queue', routing_key: q.name, arguments: {}, properties_key: propertiesKey(q.name, {}) };
}

export function policyJson(p: PolicyDef): Record<string, unknown> {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p['apply-to'], definition: tableToJson(p.definition), priority: p.priority };
}

