// What lives on each node (connections, channels, consumers) as the management API lists it. In a cluster the API
// lists the whole cluster's, as RabbitMQ's does: the node answering asks every other member for its own rows
// (ClusterView.gather, a peer request answered by that node's ManagementAgent), and closes a connection on the node
// that holds it (ClusterView.closeConnection). A member without the management listener has no agent and lists
// nothing, as a RabbitMQ node without the management agent.
import type { Broker, ManagementAgent } from '../server/broker.ts';
import type { Connection } from '../server/connection.ts';
import type { ChannelDetails, Consumer } from '../queue/consumer.ts';
import type { User } from '../auth/users.ts';
import { isMonitor } from './access.ts';
import { tableToJson } from './convert.ts';
import * as F from './format.ts';
import type { ListingKind, Viewer } from './viewer.ts';

export type { ListingKind, Viewer };

export function viewerOf(u: User): Viewer {
  return { name: u.name, monitor: isMonitor(u) };
}

export function visibleConnections(b: Broker, v: Viewer): Connection[] {
  const all = [...b.connections].filter((c) => c.user !== null);
  return v.monitor ? all : all.filter((c) => c.user?.name === v.name);
}

/** A consumer as /api/consumers and a queue's or channel's consumer_details show it. */
export function consumerJson(c: Consumer, vhost: string, d: ChannelDetails | null): Record<string, unknown> {
  return {
    consumer_tag: c.tag,
    queue: { name: c.queue.name, vhost },
    channel_details: d !== null
      ? { name: `${d.connection} (${d.channel})`, number: d.channel, connection_name: d.connection, peer_host: d.peerHost, peer_port: d.peerPort, user: d.user, node: d.node }
      : { number: c.channel.id },
    ack_required: !c.noAck,
    prefetch_count: c.prefetch,
    exclusive: c.exclusive,
    arguments: tableToJson(c.arguments),
    active: true,
    activity_status: 'up',
    consumer_timeout: 1800000,
  };
}

/** This node's rows: its connections, their channels, or the consumers of those channels (whichever node has the queue). */
export function localListing(f: F.FormatContext, what: ListingKind, v: Viewer, vhost?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const c of visibleConnections(f.broker, v)) {
    if (vhost !== undefined && c.vhost?.name !== vhost) continue;
    if (what === 'connections') {
      out.push(F.connectionJson(f, c));
      continue;
    }
    for (const ch of c.channels.values()) {
      if (what === 'channels') out.push(F.channelJson(f, c, ch));
      else for (const consumer of ch.consumers.values()) out.push(consumerJson(consumer, c.vhost?.name ?? '', ch.describe()));
    }
  }
  return out;
}

/** This node's half of the cluster's listings, for the other members' requests (set on the broker while it runs). */
export function managementAgent(f: F.FormatContext): ManagementAgent {
  return {
    list: (what, viewer, vhost) => localListing(f, what, viewer, vhost),
    close: async (name, reason, viewer) => {
      const c = visibleConnections(f.broker, viewer).find((x) => x.name === name);
      if (c === undefined) return false;
      await c.forceClose(reason);
      return true;
    },
  };
}
