// brokerctl commands, executed inside the node. Names, arguments, info lines and columns follow rabbitmqctl 3.10.
import type { BrokerNode } from '../server/node.ts';
import type { Broker } from '../server/broker.ts';
import type { Queue, QueueCounts } from '../queue/queue.ts';
import { PROCESS_CREATION, formatPid, masterPidId, type QueuePids } from '../queue/pids.ts';
import type { FieldTable } from '../amqp/reader.ts';
import { hashPassword } from '../auth/users.ts';
import { localCounts } from '../mgmt/cluster.ts';
import { writeFileSync } from 'node:fs';
import { parseBytes } from '../config/rabbitmq-conf.ts';
import type { DiskFreeLimit } from '../server/disk-monitor.ts';
import type { ApplyTo } from '../policy/policy.ts';
import { PolicyError, validatePolicy } from '../policy/policy.ts';
import { CommandError, type CommandRequest, type CommandResult, type ControlReply } from '../server/control-protocol.ts';
import { parseWatermarkArgs, WATERMARK_USAGE } from './memory-watermark.ts';

export { CommandError, type CommandRequest, type CommandResult };

type Handler = (node: BrokerNode, req: CommandRequest) => CommandResult | Promise<CommandResult>;

function app(node: BrokerNode): Broker {
  const b = node.broker;
  if (!b || !b.running) throw new CommandError(`rabbit application is not running on node ${node.nodeName}.\n * Suggestion: start it with "brokerctl start_app" and try again`, 69);
  return b;
}

/** A request to a queue's master on another node; its failures (that node down, the queue gone or moved) exit 69. */
async function fromMaster<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new CommandError(`Error:\n${(err as Error).message.replace(/^.*?NOT_FOUND - /, '')}`, 69);
  }
}

function argN(req: CommandRequest, n: number, usage: string): string[] {
  if (req.args.length < n) throw new CommandError(`not enough arguments.\nUsage: brokerctl ${req.cmd} ${usage}`, 64);
  if (req.args.length > n && !usage.includes('...')) throw new CommandError(`too many arguments.\nUsage: brokerctl ${req.cmd} ${usage}`, 64);
  return req.args;
}

/** rabbitmqctl's exit code for a user that does not exist (delete_user, change_password, set_user_tags, set_permissions, ...) */
const EX_NOUSER = 67;

/**
 * list_queues, list_exchanges, list_bindings and list_consumers of a vhost that does not exist list nothing (exit 0),
 * as rabbitmqctl 3.10's do (the seeds run `rabbitmqctl list_queues -p hrsystem`).
 */
function listedVhost(b: Broker, name: string): NonNullable<ReturnType<Broker['vhosts']['get']>> | null {
  return b.vhosts.get(name) ?? null;
}

function vhostOf(b: Broker, name: string): NonNullable<ReturnType<Broker['vhosts']['get']>> {
  const vh = b.vhosts.get(name);
  if (!vh) throw new CommandError(`Virtual host '${name}' does not exist`, 65);
  return vh;
}

function fmtArgs(t: FieldTable): string {
  const entries = Object.entries(t);
  return `[${entries.map(([k, v]) => `{"${k}",${JSON.stringify(v)}}`).join(', ')}]`;
}

/** A queue's counts for a listing: its master's (null: the master's node did not answer). */
type Counts = QueueCounts | null;

/** The pids last listed for a queue whose master's node answered: what a listing shows while that node is down. */
const lastPids = new WeakMap<Queue, QueuePids>();

/** A queue's pids as its master's node gives them (queue/pids.ts); null when that node does not answer and never did. */
function pidsOf(q: Queue, b: Broker, c: Counts): QueuePids | null {
  let p = c?.pids ?? b.queuePids?.(q) ?? null;
  if (p === null && (q.node === '' || q.node === b.localNode)) p = { pid: formatPid(b.localNode, PROCESS_CREATION, masterPidId(q)), mirrors: [], synced: [] };
  if (p !== null) lastPids.set(q, p);
  return p ?? lastPids.get(q) ?? null;
}

/** rabbitmqctl prints a mirrored queue's mirror pids as [<rabbit@node2.1796683329.1439.0>, ...] ([] for none), '' for a queue that is not mirrored */
function mirrorPids(q: Queue, b: Broker, c: Counts, which: 'mirrors' | 'synced'): string {
  if (!q.mirroredByPolicy) return '';
  const p = pidsOf(q, b, c);
  return p === null ? '' : `[${p[which].join(', ')}]`;
}

const QUEUE_COLUMNS: Record<string, (q: Queue, b: Broker, c: Counts) => unknown> = {
  name: (q) => q.name,
  durable: (q) => q.durable,
  auto_delete: (q) => q.autoDelete,
  exclusive: (q) => q.exclusive,
  arguments: (q) => fmtArgs(q.arguments),
  policy: (q) => q.policy?.name ?? '',
  pid: (q, b, c) => pidsOf(q, b, c)?.pid ?? '',
  owner_pid: (q, b) => (q.exclusive ? `<${q.node || b.localNode}.${q.owner}>` : ''),
  messages_ready: (_q, _b, c) => c?.ready ?? '',
  messages_unacknowledged: (_q, _b, c) => c?.unacked ?? '',
  messages: (_q, _b, c) => (c === null ? '' : c.ready + c.unacked),
  message_bytes: (_q, _b, c) => c?.readyBytes ?? '',
  message_bytes_ready: (_q, _b, c) => c?.readyBytes ?? '',
  consumers: (_q, _b, c) => c?.consumers ?? '',
  // (a queue whose master's node does not answer is down, as in RabbitMQ)
  state: (_q, _b, c) => (c === null ? 'down' : 'running'),
  type: () => 'classic',
  slave_pids: (q, b, c) => mirrorPids(q, b, c, 'mirrors'),
  synchronised_slave_pids: (q, b, c) => mirrorPids(q, b, c, 'synced'),
  mirror_pids: (q, b, c) => mirrorPids(q, b, c, 'mirrors'),
  synchronised_mirror_pids: (q, b, c) => mirrorPids(q, b, c, 'synced'),
  node: (q) => q.node,
};

function pickColumns(req: CommandRequest, all: Record<string, unknown>, defaults: string[]): string[] {
  const cols = req.args.length > 0 ? req.args : defaults;
  for (const c of cols) if (!(c in all)) throw new CommandError(`Info key ${c} is not recognised. Valid keys: ${Object.keys(all).join(', ')}`, 64);
  return cols;
}

const VERSION = `RabbitMQ 3.10.0 (Warren) on Node.js ${process.version}`;

/** A node's listeners as rabbitmqctl prints them: AMQP, the distribution port (brokerctl and peers), the HTTP API. */
function listeners(node: BrokerNode): string[] {
  const b = node.broker;
  const out: string[] = [];
  if (node.cluster !== null && node.cluster.port > 0) out.push(`interface: [::], port: ${node.cluster.port}, protocol: clustering, purpose: inter-node and CLI tool communication`);
  if (node.running && b) {
    const addr = b.address();
    const i = addr.lastIndexOf(':');
    out.push(`interface: ${addr.slice(0, i)}, port: ${addr.slice(i + 1)}, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1.0`);
  }
  if (node.running && node.managementPort > 0) out.push(`interface: ${node.management?.host ?? '127.0.0.1'}, port: ${node.managementPort}, protocol: http, purpose: HTTP API`);
  return out;
}

const H: Record<string, Handler> = {
  ping: (node) => ({ info: `Will ping ${node.nodeName}. This only checks if the OS process is running and registered with epmd. Timeout: 60000 ms.`, text: 'Ping succeeded' }),

  status: (node) => {
    const b = node.broker;
    const mem = process.memoryUsage();
    const lines = [
      `Status of node ${node.nodeName} ...`,
      'Runtime',
      '',
      `OS PID: ${process.pid}`,
      `OS: Linux`,
      `Uptime (seconds): ${Math.floor((Date.now() - node.startedAt) / 1000)}`,
      `Is under maintenance?: false`,
      `RabbitMQ version: 3.10.0 (Warren)`,
      `Node name: ${node.nodeName}`,
      `Runtime: Node.js ${process.version}`,
      '',
      'Plugins',
      '',
      ...(node.managementPort > 0 ? ['rabbitmq_management', 'rabbitmq_management_agent', 'rabbitmq_web_dispatch', ''] : []),
      'Data directory',
      '',
      `Node data directory: ${node.options.dataDir ?? '(in memory)'}`,
      '',
      'Config files',
      '',
      'Log file(s)',
      '',
      ' * <stdout>',
      '',
      'Alarms',
      '',
      ...alarmLines(b, node.nodeName),
      '',
      'Memory',
      '',
      `Total memory used: ${(mem.rss / 1024 / 1024 / 1024).toFixed(4)} gb`,
      `Calculation strategy: rss`,
      `Memory high watermark setting: ${b?.opts.memoryHighWatermark ?? 0.4} of available memory, computed to: ${((b?.memoryLimit ?? 0) / 1e9).toFixed(4)} gb`,
      '',
      'Disk Space',
      '',
      b?.disk ? `Free disk space low watermark: ${(b.disk.limit / 1e9).toFixed(4)} gb` : 'Free disk space low watermark: (no data directory)',
      b?.disk ? `Free disk space: ${(b.disk.free / 1e9).toFixed(4)} gb` : '',
      '',
      'Listeners',
      '',
      ...listeners(node).map((l) => l.replace(/^i/, 'I')),
      '',
      'Totals',
      '',
      `Connection count: ${b?.connections.size ?? 0}`,
      `Queue count: ${b ? [...b.vhosts.values()].reduce((n, v) => n + v.queues.size, 0) : 0}`,
      `Virtual host count: ${b?.vhosts.size ?? 0}`,
    ];
    return {
      text: lines.join('\n'),
      json: { pid: process.pid, node: node.nodeName, running: node.running, alarms: alarmNames(b), memory: mem, disk_free: b?.disk?.free ?? null, disk_free_limit: b?.disk?.limit ?? null, listeners: node.running ? [b!.address()] : [], version: VERSION, listener_lines: listeners(node) },
    };
  },

  stop: async (node) => {
    await node.stopApp();
    return { info: `Stopping and halting node ${node.nodeName} ...`, exit: true };
  },
  stop_app: async (node) => {
    await node.stopApp();
    return { info: `Stopping rabbit application on node ${node.nodeName} ...` };
  },
  start_app: async (node) => {
    await node.startApp();
    return { info: `Starting node ${node.nodeName} ...` };
  },
  // as rabbitmqctl's: waits for the app to start (a ram node waiting for its disc node, a start_app to come)
  await_startup: async (node, req) => {
    // (answering a little before brokerctl's own --timeout gives up on the request)
    const until = Date.now() + Math.max(0, Number(req.flags['timeout'] ?? 300) * 1000 - 1000);
    while (!node.running && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    app(node);
    return {};
  },
  reset: async (node) => {
    if (node.running) throw new CommandError(`Mnesia is still running on node ${node.nodeName}.\nPlease stop the node with brokerctl stop_app first.`, 69);
    await node.cluster?.leave();
    node.cluster?.partitions.clear();
    node.reset();
    return { info: `Resetting node ${node.nodeName} ...` };
  },
  force_reset: (node) => {
    if (node.running) throw new CommandError(`Mnesia is still running on node ${node.nodeName}.\nPlease stop the node with brokerctl stop_app first.`, 69);
    node.cluster?.forceLeave();
    node.cluster?.partitions.clear();
    node.reset();
    return { info: `Forcefully resetting node ${node.nodeName} ...` };
  },

  join_cluster: async (node, req) => {
    const [target] = argN(req, 1, '[--ram] <existing_cluster_member>');
    if (!node.cluster) throw new CommandError('this node has no distribution port', 69);
    const t = target!.includes('@') ? target! : `rabbit@${target}`;
    await node.cluster.join(t, req.flags['ram'] === true ? 'ram' : 'disc');
    return { info: `Clustering node ${node.nodeName} with ${t}` };
  },
  change_cluster_node_type: async (node, req) => {
    const [type] = argN(req, 1, 'disc|ram');
    if (type !== 'disc' && type !== 'ram') throw new CommandError(`node type must be disc or ram, got '${type}'`, 64);
    if (!node.cluster) throw new CommandError('this node has no distribution port', 69);
    await node.cluster.changeType(type);
    return { info: `Turning ${node.nodeName} into a ${type} node` };
  },
  forget_cluster_node: async (node, req) => {
    const [target] = argN(req, 1, '[--offline] <existing_cluster_member>');
    if (!node.cluster) throw new CommandError('this node has no distribution port', 69);
    await node.cluster.forget(target!, req.flags['offline'] === true);
    return { info: `Removing node ${target} from the cluster` };
  },
  sync_queue: async (node, req) => {
    const [name] = argN(req, 1, '[-p <vhost>] <queue>');
    if (!node.cluster) throw new CommandError('this node is not clustered', 69);
    const text = await node.cluster.syncQueue(req.vhost, name!, false);
    return { info: `Synchronising queue '${name}' in vhost '${req.vhost}' ...`, text };
  },
  cancel_sync_queue: async (node, req) => {
    const [name] = argN(req, 1, '[-p <vhost>] <queue>');
    if (!node.cluster) throw new CommandError('this node is not clustered', 69);
    const text = await node.cluster.syncQueue(req.vhost, name!, true);
    return { info: `Stopping synchronising queue '${name}' in vhost '${req.vhost}' ...`, text };
  },
  force_boot: (node) => {
    const marker = node.cluster?.forceBootMarker() ?? null;
    if (marker === null) throw new CommandError('force_boot needs a disc node with a data directory', 69);
    writeFileSync(marker, `${new Date().toISOString()}\n`);
    return { info: `Ensuring the node ${node.nodeName} boots on its own next time ...` };
  },

  cluster_status: async (node) => {
    const name = node.nodeName;
    const b = node.broker;
    const m = node.cluster?.membership() ?? { voters: [name], learners: [] };
    const running = node.cluster ? await node.cluster.runningNodes() : node.running ? [name] : [];
    const partitions = node.cluster?.partitions.list() ?? [];
    // every running node's version and listeners, as rabbitmqctl lists them (asked of each; one that does not answer
    // in time is left out)
    const others = running.filter((n) => n !== name);
    const statuses = await Promise.all(
      others.map((n) =>
        node.cluster!.runOn(n, { cmd: 'status', args: [], vhost: '/', flags: {} }).then(
          (r) => (r.ok ? (r.result?.json as { version?: string; listener_lines?: string[] } | undefined) : undefined),
          () => undefined,
        ),
      ),
    );
    const versions: [string, string][] = [[name, VERSION]];
    const listenerLines = listeners(node).map((l) => `Node: ${name}, ${l}`);
    others.forEach((n, i) => {
      const st = statuses[i];
      if (st === undefined) return;
      versions.push([n, st.version ?? 'unknown']);
      for (const l of st.listener_lines ?? []) listenerLines.push(`Node: ${n}, ${l}`);
    });
    versions.sort((a, b) => a[0].localeCompare(b[0]));
    // (an app waiting for the cluster has no metadata yet: the name it last knew, not its own node name)
    const clusterName = b?.running !== true && node.cluster?.clustered === true ? (node.cluster.clusterFile()?.name ?? '(not known until this node has the cluster metadata)') : (b?.clusterName ?? name);
    const text = [
      `Cluster status of node ${name} ...`,
      'Basics',
      '',
      `Cluster name: ${clusterName}`,
      '',
      'Disk Nodes',
      '',
      ...m.voters,
      '',
      ...(m.learners.length > 0 ? ['RAM Nodes', '', ...m.learners, ''] : []),
      'Running Nodes',
      '',
      ...running,
      '',
      'Versions',
      '',
      ...versions.map(([n, v]) => `${n}: ${v}`),
      '',
      'Alarms',
      '',
      ...alarmLines(b, name),
      '',
      'Network Partitions',
      '',
      ...(partitions.length > 0 ? partitions.map((p) => `Node ${name} cannot communicate with ${p}`) : ['(none)']),
      '',
      'Listeners',
      '',
      ...listenerLines,
    ].join('\n');
    return {
      text,
      json: {
        cluster_name: clusterName, disk_nodes: m.voters, ram_nodes: m.learners, running_nodes: running, versions: Object.fromEntries(versions),
        alarms: [], partitions: partitions.length > 0 ? { [name]: partitions } : {}, listeners: listenerLines,
      },
    };
  },
  set_cluster_name: async (node, req) => {
    const [name] = argN(req, 1, '<name>');
    await app(node).change({ op: 'cluster.name', name: name! });
    return { info: `Setting cluster name to ${name} ...` };
  },

  // ---- users
  add_user: async (node, req) => {
    const [user, pass] = argN(req, 2, '<username> <password>');
    const b = app(node);
    if (b.users.has(user!)) throw new CommandError(`User "${user}" already exists`, 65);
    await b.change({ op: 'user.put', user: { name: user!, passwordHash: hashPassword(pass!), tags: [] } });
    return { info: `Adding user "${user}" ...` };
  },
  delete_user: async (node, req) => {
    const [user] = argN(req, 1, '<username>');
    const b = app(node);
    if (!b.users.has(user!)) throw new CommandError(`User "${user}" does not exist`, EX_NOUSER);
    await b.change({ op: 'user.delete', name: user! });
    return { info: `Deleting user "${user}" ...` };
  },
  change_password: async (node, req) => {
    const [user, pass] = argN(req, 2, '<username> <password>');
    const b = app(node);
    const u = b.users.get(user!);
    if (!u) throw new CommandError(`User "${user}" does not exist`, EX_NOUSER);
    await b.change({ op: 'user.put', user: { ...u, passwordHash: hashPassword(pass!) } });
    return { info: `Changing password for user "${user}" ...` };
  },
  clear_password: async (node, req) => {
    const [user] = argN(req, 1, '<username>');
    const b = app(node);
    const u = b.users.get(user!);
    if (!u) throw new CommandError(`User "${user}" does not exist`, 65);
    await b.change({ op: 'user.put', user: { ...u, passwordHash: '' } });
    return { info: `Clearing password for user "${user}" ...` };
  },
  authenticate_user: (node, req) => {
    const [user, pass] = argN(req, 2, '<username> <password>');
    const b = app(node);
    const u = b.users.get(user!);
    if (!u || u.passwordHash !== hashPassword(pass!, Buffer.from(u.passwordHash, 'base64').subarray(0, 4))) {
      throw new CommandError(`Error: failed to authenticate user "${user}"\nUser '${user}' - invalid credentials`, 65);
    }
    return { info: `Authenticating user "${user}" ...`, text: 'Success' };
  },
  set_user_tags: async (node, req) => {
    if (req.args.length < 1) throw new CommandError('not enough arguments.\nUsage: brokerctl set_user_tags <username> <tag> [...]', 64);
    const [user, ...tags] = req.args;
    const b = app(node);
    const u = b.users.get(user!);
    if (!u) throw new CommandError(`User "${user}" does not exist`, EX_NOUSER);
    await b.change({ op: 'user.put', user: { ...u, tags } });
    return { info: `Setting tags for user "${user}" to [${tags.join(', ')}] ...` };
  },
  list_users: (node) => {
    const b = app(node);
    return { info: 'Listing users ...', columns: ['user', 'tags'], rows: [...b.users.values()].map((u) => [u.name, `[${u.tags.join(', ')}]`]) };
  },

  // ---- vhosts and permissions
  add_vhost: async (node, req) => {
    const [name] = argN(req, 1, '<vhost>');
    const b = app(node);
    if (b.vhosts.has(name!)) throw new CommandError(`Virtual host '${name}' already exists`, 65);
    await b.change({ op: 'vhost.add', name: name! });
    return { info: `Adding vhost "${name}" ...` };
  },
  delete_vhost: async (node, req) => {
    const [name] = argN(req, 1, '<vhost>');
    const b = app(node);
    vhostOf(b, name!);
    await b.change({ op: 'vhost.delete', name: name! });
    return { info: `Deleting vhost "${name}" ...` };
  },
  list_vhosts: (node, req) => {
    const b = app(node);
    const all = { name: 0, tracing: 0, cluster_state: 0 };
    const cols = pickColumns(req, all, ['name']);
    const rows = [...b.vhosts.values()].map((v) => cols.map((c) => (c === 'name' ? v.name : c === 'tracing' ? v.tracing : `[{${b.opts.nodeName},running}]`)));
    return { info: 'Listing vhosts ...', columns: cols, rows };
  },
  set_permissions: async (node, req) => {
    const [user, conf, write, read] = argN(req, 4, '[-p <vhost>] <username> <conf> <write> <read>');
    const b = app(node);
    if (!b.users.has(user!)) throw new CommandError(`User "${user}" does not exist`, EX_NOUSER);
    vhostOf(b, req.vhost);
    try {
      for (const re of [conf!, write!, read!]) new RegExp(re);
    } catch (err) {
      throw new CommandError(`invalid regular expression: ${(err as Error).message}`, 65);
    }
    await b.change({ op: 'permission.set', permission: { user: user!, vhost: req.vhost, configure: conf!, write: write!, read: read! } });
    return { info: `Setting permissions for user "${user}" in vhost "${req.vhost}" ...` };
  },
  clear_permissions: async (node, req) => {
    const [user] = argN(req, 1, '[-p <vhost>] <username>');
    const b = app(node);
    if (!b.users.has(user!)) throw new CommandError(`User "${user}" does not exist`, EX_NOUSER);
    await b.change({ op: 'permission.clear', user: user!, vhost: req.vhost });
    return { info: `Clearing permissions for user "${user}" in vhost "${req.vhost}" ...` };
  },
  list_permissions: (node, req) => {
    const b = app(node);
    vhostOf(b, req.vhost);
    const rows = [...b.permissions.values()].filter((p) => p.vhost === req.vhost).map((p) => [p.user, p.configure, p.write, p.read]);
    return { info: `Listing permissions for vhost "${req.vhost}" ...`, columns: ['user', 'configure', 'write', 'read'], rows };
  },
  list_user_permissions: (node, req) => {
    const [user] = argN(req, 1, '<username>');
    const b = app(node);
    if (!b.users.has(user!)) throw new CommandError(`User "${user}" does not exist`, 65);
    const rows = [...b.permissions.values()].filter((p) => p.user === user).map((p) => [p.vhost, p.configure, p.write, p.read]);
    return { info: `Listing permissions for user "${user}" ...`, columns: ['vhost', 'configure', 'write', 'read'], rows };
  },

  // ---- policies
  set_policy: async (node, req) => {
    if (req.args.length !== 3) throw new CommandError('wrong number of arguments.\nUsage: brokerctl set_policy [-p <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>', 64);
    const [name, pattern, defText] = req.args;
    const b = app(node);
    vhostOf(b, req.vhost);
    let definition: FieldTable;
    try {
      definition = JSON.parse(defText!) as FieldTable;
    } catch {
      throw new CommandError(`Error: could not parse JSON document: ${defText}`, 65);
    }
    const priority = Number(req.flags['priority'] ?? 0);
    if (!Number.isInteger(priority)) throw new CommandError(`--priority must be an integer`, 64);
    const applyTo = String(req.flags['apply-to'] ?? 'all') as ApplyTo;
    const policy = { vhost: req.vhost, name: name!, pattern: pattern!, 'apply-to': applyTo, priority, definition };
    try {
      validatePolicy(policy);
      await b.change({ op: 'policy.set', policy });
    } catch (err) {
      if (err instanceof PolicyError) throw new CommandError(`Error:\nValidation failed\n\n${err.message}`, 65);
      throw err;
    }
    return { info: `Setting policy "${name}" for pattern "${pattern}" to "${defText}" with priority "${priority}" for vhost "${req.vhost}" ...` };
  },
  clear_policy: async (node, req) => {
    const [name] = argN(req, 1, '[-p <vhost>] <name>');
    const b = app(node);
    if (!b.vhosts.get(req.vhost)?.policies.has(name!)) {
      throw new CommandError(`Error:\nParameter does not exist\npolicy '${name}' not found in vhost '${req.vhost}'`, 65);
    }
    await b.change({ op: 'policy.clear', vhost: req.vhost, name: name! });
    return { info: `Clearing policy "${name}" on vhost "${req.vhost}" ...` };
  },
  list_policies: (node, req) => {
    const b = app(node);
    const vh = vhostOf(b, req.vhost);
    const rows = [...vh.policies.values()].map((p) => [p.vhost, p.name, p.pattern, p['apply-to'], JSON.stringify(p.definition), p.priority]);
    return { info: `Listing policies for vhost "${req.vhost}" ...`, columns: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'], rows };
  },

  // ---- listing
  set_vm_memory_high_watermark: (node, req) => {
    const w = parseWatermarkArgs(req.args);
    if (!w.ok) throw new CommandError(`Error (argument validation): ${w.error}\nUsage: brokerctl ${WATERMARK_USAGE}`, 64);
    app(node).setMemoryHighWatermark(w.value, w.absolute);
    return { info: `Setting memory threshold on ${node.nodeName} to ${w.shown} ...` };
  },
  list_queues: async (node, req) => {
    const b = app(node);
    const vh = listedVhost(b, req.vhost);
    const cols = pickColumns(req, QUEUE_COLUMNS, ['name', 'messages']);
    const queues = [...(vh?.queues.values() ?? [])];
    // a queue mastered on another node: its counts are the master's
    const counts: Map<Queue, Counts> = node.cluster === null ? localCounts(queues) : await node.cluster.remote.countsOf(queues, b.localNode);
    const rows = queues.map((q) => cols.map((c) => QUEUE_COLUMNS[c]!(q, b, counts.get(q) ?? null)));
    return { info: `Timeout: 60.0 seconds ...\nListing queues for vhost ${req.vhost} ...`, columns: cols, rows };
  },
  list_exchanges: (node, req) => {
    const b = app(node);
    const vh = listedVhost(b, req.vhost);
    const all = { name: 0, type: 0, durable: 0, auto_delete: 0, internal: 0, arguments: 0, policy: 0 };
    const cols = pickColumns(req, all, ['name', 'type']);
    const rows = [...(vh?.exchanges.values() ?? [])].map((e) =>
      cols.map((c) => ({ name: e.name, type: e.type, durable: e.durable, auto_delete: e.autoDelete, internal: e.internal, arguments: fmtArgs(e.arguments), policy: '' })[c as 'name']),
    );
    return { info: `Listing exchanges for vhost ${req.vhost} ...`, columns: cols, rows };
  },
  list_bindings: (node, req) => {
    const b = app(node);
    const vh = listedVhost(b, req.vhost);
    const all = { source_name: 0, source_kind: 0, destination_name: 0, destination_kind: 0, routing_key: 0, arguments: 0 };
    const cols = pickColumns(req, all, ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments']);
    const rows: unknown[][] = [];
    if (vh === null) return { info: `Listing bindings for vhost ${req.vhost}...`, columns: cols, rows };
    // the implicit default-exchange bindings are listed first, as RabbitMQ does
    const records: Record<string, unknown>[] = [];
    for (const q of vh.queues.values()) records.push({ source_name: '', source_kind: 'exchange', destination_name: q.name, destination_kind: 'queue', routing_key: q.name, arguments: '[]' });
    for (const bd of vh.listBindings()) {
      records.push({ source_name: bd.source, source_kind: 'exchange', destination_name: bd.destination.name, destination_kind: bd.destination.kind, routing_key: bd.routingKey, arguments: fmtArgs(bd.arguments) });
    }
    for (const r of records) rows.push(cols.map((c) => r[c]));
    return { info: `Listing bindings for vhost ${req.vhost}...`, columns: cols, rows };
  },
  list_connections: (node, req) => {
    const b = app(node);
    const all = { name: 0, user: 0, peer_host: 0, peer_port: 0, state: 0, channels: 0, vhost: 0, recv_oct: 0, send_oct: 0, recv_cnt: 0, send_cnt: 0, timeout: 0, frame_max: 0, client_properties: 0, connected_at: 0, pid: 0, node: 0 };
    const cols = pickColumns(req, all, ['user', 'peer_host', 'peer_port', 'state']);
    const rows = [...b.connections].filter((c) => c.user !== null).map((c) =>
      cols.map((k) => ({
        name: c.name, user: c.user?.name ?? '', peer_host: c.peerHost, peer_port: c.peerPort, state: c.running ? 'running' : 'starting',
        channels: c.channels.size, vhost: c.vhost?.name ?? '', recv_oct: c.recvOct, send_oct: c.sendOct, recv_cnt: c.recvCnt, send_cnt: c.sendCnt,
        timeout: c.heartbeat, frame_max: c.frameMax, client_properties: JSON.stringify(c.clientProperties), connected_at: c.connectedAt, pid: connectionPid(b, c.id), node: b.localNode,
      })[k as 'name']),
    );
    return clusterWide(node, req, { info: 'Listing connections ...', columns: cols, rows });
  },
  list_channels: (node, req) => {
    const b = app(node);
    const all = { pid: 0, connection: 0, name: 0, number: 0, user: 0, vhost: 0, transactional: 0, confirm: 0, consumer_count: 0, messages_unacknowledged: 0, prefetch_count: 0, global_prefetch_count: 0 };
    const cols = pickColumns(req, all, ['pid', 'user', 'consumer_count', 'messages_unacknowledged']);
    const rows: unknown[][] = [];
    for (const c of b.connections) {
      for (const ch of c.channels.values()) {
        const r: Record<string, unknown> = {
          pid: channelPid(b, c.id, ch.id), connection: connectionPid(b, c.id), name: `${c.name} (${ch.id})`, number: ch.id, user: c.user?.name ?? '', vhost: c.vhost?.name ?? '',
          transactional: ch.tx, confirm: ch.confirm, consumer_count: ch.consumers.size, messages_unacknowledged: ch.unackedCount, prefetch_count: ch.prefetchCount, global_prefetch_count: ch.globalPrefetch,
        };
        rows.push(cols.map((k) => r[k]));
      }
    }
    return clusterWide(node, req, { info: 'Listing channels ...', columns: cols, rows });
  },
  list_consumers: (node, req) => {
    const b = app(node);
    const vh = listedVhost(b, req.vhost);
    const all = { queue_name: 0, channel_pid: 0, consumer_tag: 0, ack_required: 0, prefetch_count: 0, active: 0, activity_status: 0, arguments: 0 };
    const cols = pickColumns(req, all, ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'activity_status', 'arguments']);
    const rows: unknown[][] = [];
    // the consumers of this node's channels, on queues here or on other nodes (a queue's consumers on other nodes are
    // listed by those nodes)
    for (const conn of b.connections) {
      if (conn.vhost !== vh) continue;
      for (const ch of conn.channels.values()) {
        for (const c of ch.consumers.values()) {
          const r: Record<string, unknown> = {
            queue_name: c.queue.name, channel_pid: channelPid(b, conn.id, ch.id), consumer_tag: c.tag, ack_required: !c.noAck, prefetch_count: c.prefetch,
            active: true, activity_status: 'up', arguments: fmtArgs(c.arguments),
          };
          rows.push(cols.map((k) => r[k]));
        }
      }
    }
    return clusterWide(node, req, { info: `Listing consumers in vhost ${req.vhost} ...`, columns: cols, rows });
  },

  // ---- queue operations
  purge_queue: async (node, req) => {
    const [name] = argN(req, 1, '[-p <vhost>] <queue>');
    const b = app(node);
    const q = vhostOf(b, req.vhost).queues.get(name!);
    if (!q) throw new CommandError(`Error:\nQueue ${name} in vhost ${req.vhost} not found`, 65);
    const remote = b.elsewhere(q);
    if (remote !== null) await fromMaster(remote.purge(q));
    else q.purge();
    return { info: `Purging queue '${name}' in vhost '${req.vhost}' ...` };
  },
  delete_queue: async (node, req) => {
    const [name] = argN(req, 1, '[-p <vhost>] <queue>');
    const b = app(node);
    const vh = vhostOf(b, req.vhost);
    const q = vh.queues.get(name!);
    if (!q) throw new CommandError(`Error:\nQueue ${name} in vhost ${req.vhost} not found`, 65);
    // a queue mastered on another node: its master's consumers and messages
    const remote = b.elsewhere(q);
    const checked = req.flags['if-unused'] === true || req.flags['if-empty'] === true;
    const c = remote === null ? q.counts() : checked ? await fromMaster(remote.info(q)) : await remote.info(q).catch(() => q.counts());
    if (req.flags['if-unused'] === true && c.consumers > 0) throw new CommandError(`Error:\nQueue ${name} in vhost ${req.vhost} in use`, 65);
    if (req.flags['if-empty'] === true && c.ready > 0) throw new CommandError(`Error:\nQueue ${name} in vhost ${req.vhost} is not empty`, 65);
    const n = c.ready;
    await b.change({ op: 'queue.delete', vhost: req.vhost, name: name! });
    return { info: `Deleting queue '${name}' on vhost '${req.vhost}' ...`, text: `Queue was successfully deleted with ${n} ready messages` };
  },
  close_connection: async (node, req) => {
    const [pid, explanation] = argN(req, 2, '<connection pid> <explanation>');
    const b = app(node);
    const conn = [...b.connections].find((c) => connectionPid(b, c.id) === pid || c.name === pid);
    if (!conn) {
      // a connection to another node: its pid names the node, which closes it
      const owner = /^<(.+)\.\d+>$/.exec(pid!)?.[1];
      if (owner !== undefined && owner !== b.localNode && node.cluster !== null && req.flags['local'] !== true) {
        const reply = await node.cluster.runOn(owner, { ...req, flags: { ...req.flags, local: true } }).catch((e: Error) => {
          throw new CommandError(`connection ${pid}: node ${owner} could not be reached (${e.message})`, 69);
        });
        if (!reply.ok) throw new CommandError(reply.error ?? `connection ${pid} not found`, reply.exitCode ?? 65);
        return reply.result ?? {};
      }
      throw new CommandError(`connection ${pid} not found`, 65);
    }
    await conn.forceClose(explanation!);
    return { info: `Closing connection ${pid}, reason: ${explanation}...` };
  },
  close_all_connections: async (node, req) => {
    const [explanation] = argN(req, 1, '<explanation>');
    const b = app(node);
    await Promise.all([...b.connections].map((c) => c.forceClose(explanation!)));
    return { info: `Closing all connections, reason: ${explanation}` };
  },
  // rabbitmqctl set_disk_free_limit <disk_limit> | mem_relative <fraction>: until the node restarts (the config file
  // sets it for good)
  set_disk_free_limit: (node, req) => {
    const b = app(node);
    if (b.disk === null) throw new CommandError(`node ${node.nodeName} keeps no data on disc: it has no free disk space alarm`, 69);
    let limit: DiskFreeLimit;
    if (req.args[0] === 'mem_relative') {
      const [, f] = argN(req, 2, 'mem_relative <fraction>');
      const n = Number(f);
      if (!/^\d+(\.\d+)?$/.test(f!) || !Number.isFinite(n)) throw new CommandError(`invalid fraction '${f}': expected a number like 1.0 or 1.5`, 64);
      limit = { memRelative: n };
    } else {
      const [v] = argN(req, 1, '<disk_limit>');
      const n = parseBytes(v!);
      if (n === null) throw new CommandError(`invalid disk limit '${v}': expected bytes, or a size like 50MB, 1GB, 2GiB`, 64);
      limit = n;
    }
    b.disk.setLimit(limit);
    return { info: `Setting disk free limit on ${node.nodeName} to ${typeof limit === 'number' ? `${limit} bytes` : `${limit.memRelative} times the total RAM`} ...` };
  },
};

export const COMMANDS: ReadonlySet<string> = new Set(Object.keys(H));

function alarmNames(b: Broker | null | undefined): string[] {
  const out: string[] = [];
  if (b?.memoryAlarm) out.push('memory');
  if (b?.diskAlarm) out.push('disk');
  return out;
}

/** status's Alarms section, as rabbitmqctl prints it */
function alarmLines(b: Broker | null | undefined, name: string): string[] {
  const out: string[] = [];
  if (b?.memoryAlarm) out.push(`Memory alarm on node ${name}`);
  if (b?.diskAlarm) out.push(`Free disk space alarm on node ${name}`);
  return out.length > 0 ? out : ['(none)'];
}

/** A connection's pid, as list_connections shows it and close_connection takes it: its node and its number there. */
function connectionPid(b: Broker, id: number): string {
  return `<${b.localNode}.${id}>`;
}

function channelPid(b: Broker, connection: number, channel: number): string {
  return `<${b.localNode}.${connection}.${channel}>`;
}

/**
 * A listing of what lives on each node (connections, channels, consumers) for the whole cluster, as rabbitmqctl
 * shows it: this node's rows, then those of every other member it can reach, each running the same command with
 * --local. A member that cannot answer (down, app stopped, cut off) is left out with a note, as RabbitMQ leaves out
 * unreachable nodes.
 */
async function clusterWide(node: BrokerNode, req: CommandRequest, local: CommandResult): Promise<CommandResult> {
  const cluster = node.cluster;
  if (cluster === null || req.flags['local'] === true) return local;
  const m = cluster.membership();
  const up = new Set(cluster.reachable());
  const others = [...m.voters, ...m.learners].filter((n) => n !== node.nodeName).sort();
  const forwarded: CommandRequest = { ...req, flags: { ...req.flags, local: true } };
  const failed: ControlReply = { ok: false };
  const replies = await Promise.all(others.map((n) => (up.has(n) ? cluster.runOn(n, forwarded).catch(() => failed) : failed)));
  const rows = [...(local.rows ?? [])];
  const missing: string[] = [];
  replies.forEach((r, i) => {
    if (r.ok) rows.push(...(r.result?.rows ?? []));
    else missing.push(others[i]!);
  });
  const info = missing.length === 0 ? local.info : `${local.info ?? ''}\n(not listed: ${missing.join(', ')} did not answer: down, unreachable or its app stopped)`.trimStart();
  return { ...local, rows, ...(info !== undefined ? { info } : {}) };
}

export async function runCommand(node: BrokerNode, req: CommandRequest): Promise<CommandResult> {
  const cluster = node.cluster;
  const h = H[req.cmd];
  if (!h) throw new CommandError(`Command '${req.cmd}' not found. Run brokerctl help for the list of commands.`, 64);
  return h(node, req);
}
