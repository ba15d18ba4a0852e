/** Options and results shared by the load generator (perf.ts), its worker processes and the runner. */
import type { HistogramData } from './hist.ts';

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

export interface PerfOptions {
  /** amqp://user:pass@host:port/vhost */
  uri: string;
  producers: number;
  consumers: number;
  /** How many OS processes the producers are spread over (default: one per producer, at most 4). */
  producerProcs?: number;
  /** How many OS processes the consumers are spread over (default: one per consumer, at most 4). */
  consumerProcs?: number;
  /** Message body size in bytes (at least 16: the first 8 carry the send time, for latency). */
  size: number;
  /** Length of the measured window, in seconds (after warm-up). */
  durationSec: number;
  /** Seconds of traffic before the measured window starts. */
  warmupSec: number;
  /** delivery-mode 2. */
  persistent: boolean;
  /** Publisher-confirm window per producer (0 = no confirms). */
  confirm: number;
  /** basic.qos prefetch per consumer (0 = unlimited). */
  prefetch: number;
  autoack: boolean;
  /** Ack every N deliveries with multiple=true (1 = one basic.ack per message). */
  multiAck: number;
  /** Total publish rate over all producers in msg/s (0 = as fast as possible). */
  rate: number;
  /** Exchange to publish to ('' = default exchange). */
  exchange: string;
  exchangeType: ExchangeType;
  /** Queue name prefix; queues are named <queue>-<run id>-<i> and deleted after the run. */
  queue: string;
  /** Number of queues bound to the exchange (consumers are spread over them round-robin). */
  queues: number;
  /** Routing key used by producers (and the binding key); '' = the queue name for the default exchange. */
  routingKey: string;
  /** >0: bind the (first) queue with this many topic patterns k.<i>.* and publish to random keys k.<i>.x. */
  topicBindings: number;
  queueArgs: Record<string, string | number | boolean>;
  durableQueue: boolean;
  /** Messages per producer before it stops (0 = until the duration is over). */
  pmessages: number;
  /** 'publish-then-drain': producers publish pmessages each, then consumers start and drain the queue. */
  mode: 'normal' | 'publish-then-drain';
  /** Idle connections (each with one open channel) held open during the run by a separate process. */
  idleConnections: number;
  /** Declare (and afterwards delete) the topology. */
  declare: boolean;
  /** Pid of the broker process whose RSS and CPU are reported (its whole process tree is summed). */
  brokerPid?: number;
  /** Hard limit for the whole run; the run is aborted (workers killed) after it. */
  timeoutSec: number;
  /** Called about once a second with a one-line status. */
  onProgress?: (line: string) => void;
}

export const defaultPerfOptions: Omit<PerfOptions, 'uri'> = {
  producers: 1,
  consumers: 1,
  size: 16,
  durationSec: 10,
  warmupSec: 2,
  persistent: false,
  confirm: 0,
  prefetch: 0,
  autoack: true,
  multiAck: 1,
  rate: 0,
  exchange: '',
  exchangeType: 'direct',
  queue: 'perf',
  queues: 1,
  routingKey: '',
  topicBindings: 0,
  queueArgs: {},
  durableQueue: false,
  pmessages: 0,
  mode: 'normal',
  idleConnections: 0,
  declare: true,
  timeoutSec: 120,
};

/** What a worker process is told (JSON in the BENCH_WORKER environment variable). */
export interface WorkerConfig {
  role: 'producer' | 'consumer' | 'idle';
  /** Index of the worker process within its role. */
  index: number;
  uri: string;
  /** Producer / consumer / idle-connection count in this process. */
  count: number;
  size: number;
  persistent: boolean;
  confirm: number;
  /** Publish rate of each producer in this process (0 = unlimited). */
  ratePerProducer: number;
  exchange: string;
  routingKeys: string[];
  /** >0: publish to random keys k.<i>.x with i < topicKeys instead of routingKeys. */
  topicKeys: number;
  pmessages: number;
  /** Consumers: start consuming on 'go' instead of right after connecting. */
  deferConsume: boolean;
  /** Queue of each consumer in this process. */
  queues: string[];
  prefetch: number;
  autoack: boolean;
  multiAck: number;
}

export interface Counters {
  sent: number;
  confirmed: number;
  nacked: number;
  received: number;
  /** process.cpuUsage() user+system, in seconds. */
  cpuSec: number;
  /** process.hrtime in seconds (system-wide monotonic clock, comparable across processes). */
  at: number;
}

export type ParentMsg =
  | { type: 'go' }
  | { type: 'snap'; id: number; hist: 'none' | 'reset' | 'take' }
  | { type: 'stop' };

export type WorkerMsg =
  | { type: 'ready' }
  | { type: 'snap'; id: number; counters: Counters; hist?: HistogramData }
  | { type: 'done'; counters: Counters }
  | { type: 'error'; message: string }
  | { type: 'final'; counters: Counters };

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PerfResult {
  ok: boolean;
  error?: string;
  /** Measured window in seconds. */
  windowSec: number;
  sentRate: number;
  confirmedRate: number;
  receivedRate: number;
  sent: number;
  confirmed: number;
  received: number;
  latency: LatencySummary;
  brokerCpuPct?: number;
  brokerRssBytes?: number;
  brokerRssPeakBytes?: number;
  /** CPU of the busiest client process during the window, % of one core. */
  clientCpuMaxPct: number;
  clientBusiest: string;
  /** CPU used during the window by processes other than the broker and the load generator (% of one core): noise. */
  otherCpuPct?: number;
  /** publish-then-drain: the publish phase and the drain phase, each in msg/s. */
  publishPhaseRate?: number;
  drainPhaseRate?: number;
  /** publish-then-drain: broker RSS before publishing and with all messages queued. */
  rssBeforeBytes?: number;
  rssQueuedBytes?: number;
  queuedMessages?: number;
}
