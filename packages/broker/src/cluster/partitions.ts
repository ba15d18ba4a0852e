// Network partitions between cluster nodes: detection for cluster_status, and RabbitMQ's handling modes.
//
// A partition is a peer that was unreachable while it kept running: when its link comes back with the same
// incarnation (the peer did not restart), this node was cut off from it, not left by it. Such peers are listed under
// "Network Partitions", and forgotten as RabbitMQ's node monitor forgets them: when a node is seen to have restarted
// (its link comes back with a new incarnation: its rabbit went down), that node's entry goes, and every entry goes
// when no partitioned node is cut off any more; reset and force_reset forget them all. An outage shorter than
// PARTITION_MIN_OUTAGE_MS after the link was declared dead (a stall, a SIGSTOP of a few seconds) is not a partition:
// Erlang's net_ticktime (60 s) would not even have noticed it, though Warren fails mirrored queues over after 1.2 s.
//
// cluster_partition_handling:
//   ignore          report only. Metadata stays safe either way (the Raft majority decides), queues on each side go on.
//   pause_minority  a node that can reach no more than half of the members (itself included) stops its broker app
//                   (clients are disconnected, listeners closed) and starts it again once it reaches a majority.
//   autoheal        when a partition heals, the nodes that were cut off from the metadata leader's side restart
//                   their app, so every client reconnects to a whole cluster.
import type { ClusterService } from './cluster-service.ts';
import { memberNode } from './members.ts';

export type PartitionHandling = 'ignore' | 'pause_minority' | 'autoheal';

/** How often reachability is checked: well under the peer link's dead-peer detection (~2 s). */
export const PARTITION_CHECK_MS = 500;

/** A link that comes back sooner than this after it was declared dead was a stall, not a partition. */
export const PARTITION_MIN_OUTAGE_MS = Number(process.env['WARREN_PARTITION_MIN_OUTAGE_MS'] ?? 2000);

export class PartitionMonitor {
  private readonly svc: ClusterService;
  readonly mode: PartitionHandling;
  /** incarnation of each peer when its link went down, and when */
  private readonly lost = new Map<string, { incarnation: number; at: number }>();
  private readonly partitioned = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** the app was stopped by pause_minority (not by an operator) */
  paused = false;
  private busy = false;

  constructor(svc: ClusterService, mode: PartitionHandling) {
    this.svc = svc;
    this.mode = mode;
  }

  start(): void {
    if (this.mode === 'ignore' || this.timer !== null) return;
    this.timer = setInterval(() => void this.check(), PARTITION_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The members this node was partitioned from (a former member, forgotten or left, is not listed). */
  list(): string[] {
    const m = this.svc.membership();
    const members = new Set([...m.voters, ...m.learners]);
    return [...this.partitioned].filter((n) => members.has(n));
  }

  /** reset / force_reset: the node forgets its partitions with its cluster. */
  clear(): void {
    this.partitioned.clear();
    this.lost.clear();
  }

  linkDown(node: string, incarnation: number): void {
    this.lost.set(node, { incarnation, at: Date.now() });
  }

  linkUp(node: string, incarnation: number): void {
    const before = this.lost.get(node);
    this.lost.delete(node);
    if (before === undefined) return;
    if (before.incarnation !== incarnation) {
      // it restarted (RabbitMQ: its rabbit went down): its entry goes, and all of them once none is cut off any more
      this.partitioned.delete(node);
      if ([...this.partitioned].every((n) => this.svc.reachable().includes(n))) this.partitioned.clear();
      return;
    }
    const outage = Date.now() - before.at;
    if (outage < PARTITION_MIN_OUTAGE_MS) {
      this.svc.node.broker?.log(`peer ${node} answered again ${outage} ms after it was taken for dead: a stall, not a network partition`);
      return;
    }
    // it ran all along: we were partitioned from it
    this.partitioned.add(node);
    this.svc.node.broker?.log(`network partition detected: ${node} was unreachable while it kept running`);
    if (this.mode === 'autoheal') void this.autoheal();
  }

  private async check(): Promise<void> {
    if (this.busy || this.mode !== 'pause_minority' || !this.svc.clustered) return;
    const m = this.svc.membership();
    const total = m.voters.length + m.learners.length;
    if (total < 2) return;
    const reachable = this.svc.reachable().length;
    const minority = reachable * 2 <= total;
    this.busy = true;
    try {
      if (minority && this.svc.node.running) {
        this.paused = true;
        this.svc.node.broker?.log(`pause_minority: only ${reachable} of ${total} nodes reachable; pausing this node`);
        await this.svc.node.stopApp();
      } else if (!minority && this.paused && !this.svc.node.running) {
        this.svc.node.broker?.log(`pause_minority: ${reachable} of ${total} nodes reachable again; resuming`);
        await this.svc.node.startApp();
        this.paused = false;
      }
    } catch (err) {
      this.svc.node.broker?.log(`pause_minority: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** autoheal: the side without the metadata leader restarts its app. */
  private async autoheal(): Promise<void> {
    const raft = this.svc.raft;
    if (this.busy || raft === null || !this.svc.node.running) return;
    if (raft.isLeader()) return;
    const leader = raft.leader === undefined ? undefined : memberNode(raft.leader);
    // a node that reached the leader throughout was on the winning side
    if (leader !== undefined && !this.partitioned.has(leader)) return;
    this.busy = true;
    try {
      this.svc.node.broker?.log('autoheal: this node was on the losing side of a partition; restarting its app');
      await this.svc.node.stopApp();
      await this.svc.node.startApp();
    } catch (err) {
      this.svc.node.broker?.log(`autoheal: restart failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
