// GET /metrics: Prometheus text format (version 0.0.4) with the metric names of RabbitMQ's rabbitmq_prometheus
// plugin. Per-queue series carry vhost and queue labels (as with prometheus.return_per_object_metrics = true).
import { VERSION, WARREN_VERSION } from '../server/version.ts';
import type { FormatContext } from './format.ts';

type Labels = Record<string, string>;

export class Family {
  readonly samples: { labels: Labels; value: number }[] = [];
  constructor(readonly name: string, readonly type: 'gauge' | 'counter' | 'untyped', readonly help: string) {}
  add(value: number, labels: Labels = {}): this {
    this.samples.push({ labels, value });
    return this;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmtValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# TYPE ${f.name} ${f.type}`);
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    for (const s of f.samples) {
      const ls = Object.entries(s.labels);
      const l = ls.length === 0 ? '' : `{${ls.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
      lines.push(`${f.name}${l} ${fmtValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function collect(f: FormatContext): string {
  const b = f.broker;
  const fam: Family[] = [];
  const g = (name: string, help: string): Family => {
    const x = new Family(`rabbitmq_${name}`, 'gauge', help);
    fam.push(x);
    return x;
  };
  const c = (name: string, help: string): Family => {
    const x = new Family(`rabbitmq_${name}`, 'counter', help);
    fam.push(x);
    return x;
  };
  const node = b.opts.nodeName;
  g('identity_info', 'RabbitMQ node & cluster identity info').add(1, { rabbitmq_node: node, rabbitmq_cluster: b.clusterName });
  const build = new Family('rabbitmq_build_info', 'untyped', 'RabbitMQ & Erlang/OTP version info');
  build.add(1, { rabbitmq_version: VERSION, prometheus_plugin_version: VERSION, prometheus_client_version: WARREN_VERSION, erlang_version: process.version, warren_version: WARREN_VERSION });
  fam.push(build);

  const mem = process.memoryUsage();
  g('process_resident_memory_bytes', 'Memory used in bytes').add(mem.rss);
  g('resident_memory_limit_bytes', 'Memory high watermark in bytes').add(b.memoryLimit);
  if (b.disk !== null) {
    g('disk_space_available_bytes', 'Disk space available in bytes').add(Math.max(0, b.disk.free));
    g('disk_space_available_limit_bytes', 'Free disk space low watermark in bytes').add(b.disk.limit);
  }
  g('erlang_uptime_seconds', 'Node uptime').add(Math.floor((Date.now() - b.startedAt) / 1000));

  const alarmMem = new Family('rabbitmq_alarms_memory_used_watermark', 'untyped', 'is set to 1 when the memory alarm is in effect');
  alarmMem.add(b.memoryAlarm ? 1 : 0);
  const alarmDisk = new Family('rabbitmq_alarms_free_disk_space_watermark', 'untyped', 'is set to 1 when the free disk space alarm is in effect');
  alarmDisk.add(b.diskAlarm ? 1 : 0);
  const alarmFd = new Family('rabbitmq_alarms_file_descriptor_limit', 'untyped', 'is set to 1 when the file descriptor limit alarm is in effect');
  alarmFd.add(0);
  fam.push(alarmMem, alarmDisk, alarmFd);

  const conns = [...b.connections].filter((x) => x.user !== null);
  let channels = 0;
  let unacked = 0;
  for (const x of conns) {
    channels += x.channels.size;
    for (const ch of x.channels.values()) unacked += ch.unackedCount;
  }
  g('connections', 'Connections currently open').add(conns.length);
  g('channels', 'Channels currently open').add(channels);
  g('channel_messages_unacked', 'Delivered but not yet acknowledged messages').add(unacked);
  c('connection_incoming_bytes_total', 'Total number of bytes received on a connection').add(conns.reduce((n, x) => n + x.recvOct, 0));
  c('connection_outgoing_bytes_total', 'Total number of bytes sent on a connection').add(conns.reduce((n, x) => n + x.sendOct, 0));

  let queueCount = 0;
  let consumerCount = 0;
  const ready = g('queue_messages_ready', 'Messages ready to be delivered to consumers');
  const unack = g('queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged');
  const total = g('queue_messages', 'Sum of ready and unacknowledged messages - total queue depth');
  const readyBytes = g('queue_messages_ready_bytes', 'Size in bytes of ready messages');
  const consumers = g('queue_consumers', 'Consumers on a queue');
  const published = c('queue_messages_published_total', 'Total number of messages published to queues');
  const delivered = c('queue_messages_delivered_total', 'Total number of messages delivered or fetched from a queue (Warren)');
  const acked = c('queue_messages_acked_total', 'Total number of messages acknowledged by consumers on a queue (Warren)');
  const redelivered = c('queue_messages_redelivered_total', 'Total number of messages redelivered from a queue (Warren)');
  for (const vh of b.vhosts.values()) {
    for (const q of vh.queues.values()) {
      // each node reports the queues it masters, as RabbitMQ's nodes do: summed over a cluster's scrapes, every queue
      // counts once (the others' stand-ins of it hold nothing)
      if (b.elsewhere(q) !== null) continue;
      queueCount++;
      consumerCount += q.consumerCount;
      const l = { vhost: vh.name, queue: q.name };
      ready.add(q.messageCount, l);
      unack.add(q.unackedCount, l);
      total.add(q.messageCount + q.unackedCount, l);
      readyBytes.add(q.readyBytes, l);
      consumers.add(q.consumerCount, l);
      published.add(q.publishCount, l);
      delivered.add(q.deliverCount, l);
      acked.add(q.ackCount, l);
      redelivered.add(q.redeliverCount, l);
    }
  }
  g('queues', 'Queues available').add(queueCount);
  g('consumers', 'Consumers currently connected').add(consumerCount);
  const t = f.stats.totals();
  c('channel_messages_published_total', 'Total number of messages published into an exchange on a channel').add(t.publish);
  c('channel_messages_delivered_total', 'Total number of messages delivered to consumers').add(t.deliver);
  c('channel_messages_acked_total', 'Total number of messages acknowledged by consumers').add(t.ack);
  c('channel_messages_redelivered_total', 'Total number of messages redelivered to consumers').add(t.redeliver);
  return render(fam);
}
