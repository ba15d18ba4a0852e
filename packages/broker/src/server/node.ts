// A broker node as an operator sees it: the Erlang-VM-like process that stays up while the broker "app" is stopped
// and started (brokerctl stop_app / start_app / reset), and the control channel brokerctl talks to.
import { rmSync } from 'node:fs';
import { Broker, createStores, type BrokerOptions } from './broker.ts';
import type { MessageStore } from '../store/message-store.ts';
import type { DefinitionsStore } from '../store/definitions-store.ts';
import { startManagement, type RunningManagement } from '../mgmt/index.ts';
import type { ClusterService } from '../cluster/cluster-service.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { SegmentStore } from '../store/segment-store.ts';
import { MemoryDefinitionsStore } from '../store/definitions-store.ts';

export interface ManagementListener {
  port: number;
  host: string;
  /** ms between statistics samples; default 5000 */
  sampleIntervalMs?: number;
}

export class BrokerNode {
  readonly options: BrokerOptions;
  broker: Broker | null = null;
  private stores: { messages: MessageStore; definitions: DefinitionsStore } | null = null;
  readonly startedAt = Date.now();
  /** the management plugin (HTTP API, UI, /metrics), when enabled: it starts and stops with the app */
  readonly management: ManagementListener | null;
  private mgmt: RunningManagement | null = null;
  /** the distribution port's service, when the node runs as a process (the binary sets it) */
  cluster: ClusterService | null = null;

  constructor(options: BrokerOptions, management: ManagementListener | null = null) {
    this.options = options;
    this.management = management;
  }

  /** the management listener's port while it runs */
  get managementPort(): number {
    return this.mgmt?.port ?? 0;
  }

  get nodeName(): string {
    return this.broker?.opts.nodeName ?? this.options.nodeName ?? 'rabbit@localhost';
  }

  get running(): boolean {
    return this.broker !== null && this.broker.running;
  }

  async startApp(): Promise<Broker> {
    if (this.broker?.running) return this.broker;
    const clustered = this.cluster?.clustered === true;
    if (clustered) {
      // metadata lives in the replicated log; messages of local durable queues stay in this node's store
      const dir = this.options.dataDir;
      // (options.stores: a simulator's "disc", which outlives this object across a simulated crash)
      this.stores = { messages: dir !== undefined ? new SegmentStore(`${dir}/msgs`, this.options.log !== undefined ? { log: this.options.log } : {}) : (this.options.stores?.messages ?? this.stores?.messages ?? new MemoryStore()), definitions: new MemoryDefinitionsStore() };
    } else if (this.stores === null || this.options.dataDir !== undefined) {
      // in-memory stores live as long as the node, so stop_app/start_app keeps definitions, like a ram node
      this.stores = createStores(this.options.dataDir, this.options.log);
    }
    const broker = new Broker({ ...this.options, stores: this.stores, clustered });
    this.broker = broker;
    try {
      // a clustered node has its metadata before it takes clients
      await broker.start(clustered ? () => this.cluster!.attach(broker) : undefined);
    } catch (err) {
      this.cluster?.stopRaft();
      await broker.stop();
      this.broker = null;
      // force_reset while it waited for its cluster: it starts as the standalone node it now is
      if ((err as { code?: string }).code === 'CLUSTER_RESET' && this.cluster?.clustered !== true) return this.startApp();
      throw err;
    }
    if (clustered) broker.dropTransientQueues();
    if (clustered) this.cluster?.appState(true);
    if (this.management !== null) {
      try {
        const cluster = this.cluster?.view(broker);
        const { port, host, sampleIntervalMs } = this.management;
        this.mgmt = await startManagement(broker, { port, host, ...(sampleIntervalMs !== undefined ? { sampleIntervalMs } : {}), ...(cluster ? { cluster } : {}) });
        broker.log(`management plugin (HTTP API, UI, /metrics) on ${this.management.host}:${this.mgmt.port}`);
      } catch (err) {
        await broker.stop();
        this.broker = null;
        throw new Error(`cannot start the management listener on ${this.management.host}:${this.management.port}: ${(err as Error).message}`);
      }
    }
    return broker;
  }

  async stopApp(): Promise<void> {
    const b = this.broker;
    if (!b) return;
    const m = this.mgmt;
    this.mgmt = null;
    await m?.close();
    await this.cluster?.beforeStop();
    this.cluster?.stopRaft();
    await b.stop();
    this.cluster?.appState(false);
  }

  /** rabbitmqctl reset: forget every definition and message. The app must be stopped. */
  reset(): void {
    this.wipe();
  }

  private wipe(): void {
    if (this.running) throw new Error(`node ${this.nodeName} is running: stop the app with brokerctl stop_app first`);
    if (this.options.dataDir !== undefined) {
      rmSync(`${this.options.dataDir}/msgs`, { recursive: true, force: true });
      rmSync(`${this.options.dataDir}/definitions.log`, { force: true });
    }
    this.stores = null;
    this.broker = null;
  }
}
