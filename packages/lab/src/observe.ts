// One look at the whole lab: each host's processes (running / hung / down, cut off), the node types and partitions
// the cluster reports, the VRRP state of each load balancer and who holds the virtual IP, each proxy's backend
// states, and the queues (master, mirrors, messages, rates). Used by lab status, the live page and the scenarios.
import { request } from 'node:http';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import { BROKERS, HOSTS, LBS, nodeName } from './topology.ts';

export interface HostView {
  name: string;
  role: string;
  addr: string;
  type?: string;
  cut: boolean;
  procs: Record<string, 'running' | 'hung' | 'down'>;
  /** brokers: running in the cluster's view, and the partitions it reports */
  clusterRunning?: boolean;
  partitions?: string[];
  /** load balancers: VRRP state and the backend states its proxy reports */
  vrrp?: string | null;
  backends?: Record<string, string> | null;
}

export interface QueueView {
  name: string;
  node: string;
  mirrors: string[];
  synced: string[];
  messages: number;
  publishRate: number;
  deliverRate: number;
}

export interface Snapshot {
  t: number;
  mode: string;
  vip: string | null;
  vipHolder: string | null;
  hosts: HostView[];
  queues: QueueView[];
}

const short = (n: string): string => n.replace(/^rabbit@/, '');

function vrrpStatus(sock: string): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, path: '/', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          const j = JSON.parse(body) as { instances: { state?: string }[] };
          resolve(j.instances[0]?.state ?? null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function snapshot(lab: Lab): Promise<Snapshot> {
  lab.reload();
  const cut = await lab.cutHosts();
  const holder = await lab.vipHolderAsync(cut);
  // (the VIP holder, the cluster and the proxies are asked at once: on a loaded machine each takes a while)
  const [nodesR, queuesR] = await Promise.all([lab.mgmt('/api/nodes'), lab.mgmt('/api/queues')]);
  const nodes = nodesR as { name: string; type?: string; running?: boolean; partitions?: string[] }[] | null;
  const queues = queuesR as Record<string, unknown>[] | null;
  const hosts: HostView[] = [];
  for (const h of HOSTS) {
    const procs: HostView['procs'] = {};
    for (const k of lab.hostProcs(h.name)) procs[lab.s.procs[k]!.kind] = lab.procStatus(k);
    const v: HostView = { name: h.name, role: h.role, addr: lab.addr(h.name), cut: cut.has(h.name), procs };
    if (h.type !== undefined) v.type = h.type;
    if (h.role === 'broker') {
      const n = nodes?.find((x) => x.name === nodeName(h.name));
      if (n !== undefined) {
        if (n.type !== undefined) v.type = n.type;
        v.clusterRunning = n.running === true;
        v.partitions = (n.partitions ?? []).map(short);
      }
    }
    if (h.role === 'lb') {
      const vrrpKind = lab.s.procs[`${h.name}/vrrp`]?.kind;
      if (lab.netns) {
        v.vrrp = lab.procStatus(`${h.name}/vrrp`) !== 'running' ? null : vrrpKind === 'vrrpd' ? await vrrpStatus(join(lab.s.dir, h.name, 'vrrpd.sock')) : holder === h.name ? 'MASTER' : 'BACKUP';
      }
      v.backends = lab.procStatus(`${h.name}/proxy`) === 'running' ? await lab.backends(h.name) : null;
    }
    hosts.push(v);
  }
  const qs: QueueView[] = (queues ?? []).map((q) => {
    const ms = (q['message_stats'] ?? {}) as Record<string, { rate?: number } | number>;
    const rate = (k: string): number => Math.round(((ms[`${k}_details`] as { rate?: number } | undefined)?.rate ?? 0) * 10) / 10;
    return {
      name: String(q['name']),
      node: short(String(q['node'] ?? '')),
      mirrors: ((q['slave_nodes'] as string[] | undefined) ?? []).map(short),
      synced: ((q['synchronised_slave_nodes'] as string[] | undefined) ?? []).map(short),
      messages: Number(q['messages'] ?? 0),
      publishRate: rate('publish'),
      deliverRate: rate('deliver_get'),
    };
  });
  return { t: Date.now(), mode: lab.s.mode, vip: lab.netns ? lab.vip : null, vipHolder: holder, hosts, queues: qs };
}

export function formatSnapshot(s: Snapshot): string {
  const lines: string[] = [];
  for (const h of s.hosts) {
    const procs = Object.entries(h.procs).map(([k, v]) => `${k} ${v}`).join(', ');
    let extra = '';
    if (h.role === 'broker') extra = `${h.type ?? '?'} node${h.clusterRunning === false ? ', not running in the cluster' : ''}${h.partitions?.length ? `, partitioned from ${h.partitions.join(',')}` : ''}`;
    if (h.role === 'lb') {
      const b = h.backends ? Object.entries(h.backends).map(([k, v]) => `${k} ${v}`).join(' ') : 'no answer';
      extra = `${s.vip !== null ? `VRRP ${h.vrrp ?? '-'}${s.vipHolder === h.name ? ` holds ${s.vip}` : ''}; ` : ''}backends: ${b}`;
    }
    lines.push(`${h.name.padEnd(11)} ${h.addr.padEnd(13)} ${procs || '-'}${h.cut ? ' [CUT OFF]' : ''}${extra ? ` | ${extra}` : ''}`);
  }
  if (s.vip !== null) lines.push(`virtual IP ${s.vip}: ${s.vipHolder ?? 'held by nobody'}`);
  if (s.queues.length === 0) lines.push('queues: none (or no broker answers)');
  for (const q of s.queues) lines.push(`queue ${q.name}: master ${q.node}, mirrors ${q.mirrors.join(',') || '-'} (synchronised ${q.synced.join(',') || '-'}), ${q.messages} messages`);
  void BROKERS;
  void LBS;
  return lines.join('\n');
}
