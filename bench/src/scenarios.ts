/** The scenarios run against both brokers, each with the figure it is judged by. */
import type { PerfOptions, PerfResult } from './types.ts';

export interface Mode {
  quick: boolean;
  durationSec: number;
  warmupSec: number;
}

export interface Scenario {
  id: string;
  title: string;
  /** Short label for the chart. */
  short: string;
  /** What it measures, for the README and the report. */
  what: string;
  /** Restart the broker before each run (for a clean memory baseline). */
  freshBroker?: boolean;
  /** Options on top of defaultPerfOptions. */
  options(m: Mode): Partial<PerfOptions>;
  /** The headline figure of a run. */
  metric: { name: string; unit: string; higherIsBetter: boolean; value(r: PerfResult): number };
}

const received = { name: 'received', unit: 'msg/s', higherIsBetter: true, value: (r: PerfResult) => r.receivedRate };

/**
 * The "safe" load: one producer of persistent 1 KB messages to a durable queue with confirms (at most 100 in flight),
 * one consumer acking each (prefetch 100). The persistent-1kb-confirm scenario, and the mirrored-queue benches'.
 */
export const PERSISTENT_1KB_CONFIRM_LOAD = {
  producers: 1,
  consumers: 1,
  size: 1024,
  persistent: true,
  durableQueue: true,
  confirm: 100,
  autoack: false,
  prefetch: 100,
} satisfies Partial<PerfOptions>;

export const scenarios: Scenario[] = [
  {
    id: 'autoack-16b',
    short: '1P/1C 16 B autoack',
    title: '1P/1C 16 B transient, autoack',
    what: 'Raw delivery path: one producer publishing 16-byte transient messages as fast as it can to a non-durable queue, one no-ack consumer.',
    options: () => ({ producers: 1, consumers: 1, size: 16, autoack: true }),
    metric: received,
  },
  {
    id: 'ack-16b-prefetch100',
    short: '1P/1C 16 B ack, prefetch 100',
    title: '1P/1C 16 B, manual ack, prefetch 100',
    what: 'Same as above, but the consumer acks every message (basic.ack per message) with basic.qos 100: exercises the unacked-message tracking and the credit loop.',
    options: () => ({ producers: 1, consumers: 1, size: 16, autoack: false, prefetch: 100, multiAck: 1 }),
    metric: received,
  },
  {
    id: 'persistent-1kb-confirm',
    short: '1 KB persistent, confirms + acks',
    title: '1P/1C 1 KB persistent, durable queue, confirms (window 100) + acks',
    what: 'The "safe" path: persistent 1 KB messages to a durable queue, publisher confirms with at most 100 unconfirmed per producer, consumer acks (prefetch 100). Confirms imply the message was written to the store.',
    options: () => ({ ...PERSISTENT_1KB_CONFIRM_LOAD }),
    metric: received,
  },
  {
    id: '4p4c-one-queue',
    short: '4P/4C one queue, acks',
    title: '4P/4C 16 B on one queue, ack, prefetch 100',
    what: 'Contention on a single queue: four producer and four consumer connections (separate processes), manual acks with prefetch 100.',
    options: () => ({ producers: 4, consumers: 4, size: 16, autoack: false, prefetch: 100 }),
    metric: received,
  },
  {
    id: 'publish-then-drain',
    short: 'Backlog drain (after publish-only)',
    title: 'Publish-only (confirms, window 1000), then drain',
    what: 'A backlog: one producer publishes N 16-byte messages with nobody consuming (publish rate, with confirms so every message is known to be in), then one autoack consumer drains the queue (drain rate, the headline figure).',
    options: (m) => ({
      producers: 1,
      consumers: 1,
      size: 16,
      confirm: 1000,
      autoack: true,
      mode: 'publish-then-drain',
      pmessages: m.quick ? 100_000 : 500_000,
    }),
    metric: { name: 'drain', unit: 'msg/s', higherIsBetter: true, value: (r) => r.drainPhaseRate ?? 0 },
  },
  {
    id: 'fixed-5000-latency',
    short: 'Fixed 5,000 msg/s',
    title: 'Fixed 5,000 msg/s, latency',
    what: 'Latency when the broker is not saturated: one producer at a fixed 5,000 msg/s (1 ms timer), one autoack consumer; end-to-end latency from the send timestamp in the body. The p99 is the headline figure.',
    options: () => ({ producers: 1, consumers: 1, size: 16, autoack: true, rate: 5000 }),
    metric: { name: 'p99', unit: 'ms', higherIsBetter: false, value: (r) => r.latency.p99Ms },
  },
  {
    id: 'fanout-10',
    short: 'Fanout to 10 queues',
    title: 'Fanout to 10 queues',
    what: 'One producer publishing 16-byte messages to a fanout exchange bound to 10 queues, one autoack consumer per queue (10 connections over 2 processes); the figure is total deliveries/s (10x the publish rate when nothing queues up).',
    options: () => ({
      producers: 1,
      consumers: 10,
      consumerProcs: 2,
      queues: 10,
      exchange: 'perf-fanout',
      exchangeType: 'fanout',
      size: 16,
      autoack: true,
    }),
    metric: received,
  },
  {
    id: 'topic-10k-bindings',
    short: 'Topic, 10,000 bindings',
    title: 'Topic routing, 10,000 bindings',
    what: 'Routing cost: a topic exchange with 10,000 bindings (k.<i>.*) on one queue; the producer publishes to random keys k.<i>.x so each message matches exactly one binding; one autoack consumer.',
    options: () => ({
      producers: 1,
      consumers: 1,
      exchange: 'perf-topic',
      exchangeType: 'topic',
      topicBindings: 10_000,
      size: 16,
      autoack: true,
    }),
    metric: received,
  },
  {
    id: 'many-connections',
    short: '1,000 idle conns + 1P/1C',
    title: '1,000 idle connections + 1P/1C traffic',
    what: 'Per-connection overhead: 1,000 idle connections (each with an open channel) held by a separate process while 1P/1C 16 B autoack traffic runs; compare with the first scenario, and see the broker RSS.',
    options: () => ({ producers: 1, consumers: 1, size: 16, autoack: true, idleConnections: 1000 }),
    metric: received,
  },
  {
    id: 'rss-queued',
    short: 'RSS per 1M queued msgs',
    freshBroker: true,
    title: 'RSS per 1M queued 16 B messages',
    what: 'Memory per queued message: broker RSS before and after publishing N transient 16-byte messages (confirmed, nobody consuming) to one queue, scaled to 1M messages, on a freshly started broker. Lower is better. (The queue is drained afterwards.)',
    options: (m) => ({
      producers: 1,
      consumers: 1,
      size: 16,
      confirm: 1000,
      autoack: true,
      mode: 'publish-then-drain',
      pmessages: m.quick ? 200_000 : 1_000_000,
    }),
    metric: {
      name: 'RSS / 1M msgs',
      unit: 'MB',
      higherIsBetter: false,
      value: (r) =>
        r.rssQueuedBytes !== undefined && r.rssBeforeBytes !== undefined && r.queuedMessages
          ? ((r.rssQueuedBytes - r.rssBeforeBytes) / r.queuedMessages) * 1e6 / 1048576
          : NaN,
    },
  },
];

/** Load-generator ceiling scenarios, run against the discard server only. */
export const ceilingScenarios: Scenario[] = [
  {
    id: 'ceiling-16b',
    short: 'Ceiling 16 B',
    title: 'Ceiling: 1P/1C 16 B autoack vs discard server',
    what: 'The most the load generator can publish and receive on this machine (the discard server throws publishes away and streams deliveries).',
    options: () => ({ producers: 1, consumers: 1, size: 16, autoack: true }),
    metric: received,
  },
  {
    id: 'ceiling-1kb-confirm',
    short: 'Ceiling 1 KB confirms',
    title: 'Ceiling: 1P/1C 1 KB confirms (100) + acks (prefetch 100) vs discard server',
    what: 'Same with 1 KB messages, confirms and acks.',
    options: () => ({ producers: 1, consumers: 1, size: 1024, confirm: 100, autoack: false, prefetch: 100, queue: 'perf-s1024' }),
    metric: received,
  },
];
