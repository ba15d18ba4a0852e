// Mirrored classic queues (policy ha-mode: all | exactly | nodes). The queue's node is its master; mirrors on other
// nodes hold a copy of every message, kept in step over the peer links:
//   master -> mirror  mq   {v, q, ops: [[0 add, seq, e, k, p, b] | [1 removed, seq] | [2 delivered, seq] |
//                               [3 start, resume?, epoch, stream] | [8 keep, top, [seq, delivered]...] | [5 batch, msgs] |
//                               [4 synchronised, seq]]}
//                          ops is packed on its own and sent as one binary (packInner): the mirror's copy of a frame is
//                          one allocation (none when the frame came split across socket reads: the codec's own
//                          reassembly buffer is used), and the bodies it keeps are views into it (sync batches' bodies
//                          are copied)
// Sync sends the queue in batches (ha-sync-batch-size, default 4096) between which the queue goes on; a removal
// that overtakes its message's batch leaves a tombstone on the mirror. With ha-sync-mode manual a new mirror gets only
// new messages and is unsynchronised until the older ones are gone or brokerctl sync_queue runs.
//   mirror -> master  mqok {v, q, seq}   it holds everything up to seq (sent only while synchronised): publisher
//                                        confirms wait for every synchronised mirror
//   mirror -> master  mqhave {v, q, top} answer to [3, 1]: a mirror that was cut off from this same master process,
//                                        epoch and stream resumes from its copy (top: highest seq it holds; -1: start over)
// A mirror that (re)appears gets the queue first (sync, or the part it lacks when it resumes), then the stream.
// Which mirrors are synchronised is replicated metadata ({op: 'queue.mirrors'}): confirms wait for a lost mirror until
// its removal from that record commits, and only a recorded mirror may be promoted.
// When the master's node is lost, the first reachable mirror in the policy's order proposes
// {op: 'queue.promote'} to the replicated metadata log. Only a side with a majority of the disc nodes can commit it, so
// a queue never has two masters; the promoted mirror turns its copy into the queue (messages delivered but not acked
// by the old master come back redelivered), and every node routes to the new master.
import { packInner, packMessage, unpackViews, type PeerLink } from '@warren/cluster-peer';
import type { ClusterService } from './cluster-service.ts';
import type { PromotionReason, Queue, QueueMirror } from '../queue/queue.ts';
import { Message, QueuedMessage } from '../queue/message.ts';
import type { DurableWaiter, QueueStore } from '../store/message-store.ts';
import type { Broker } from '../server/broker.ts';
import { MessageDecoder, rawProps } from './wire-message.ts';
import { PROCESS_CREATION, formatPid, masterPidId, mirrorPidId, type QueuePids } from '../queue/pids.ts';

/** How often mirror sets and promotions are re-checked (membership, policies, lost masters). */
export const MIRROR_CHECK_MS = 250;
/** How long a mirror's deliveries and removals may wait for an add to go out with (Master.op). */
export const LAZY_OPS_MS = 20;
/** Between the turns of successive mirrors to propose their promotion. */
export const PROMOTE_STAGGER_MS = 1000;

type Op = [number, number, ...unknown[]];

/**
 * Which nodes mirror a queue, from its policy: all | exactly N (the master counts) | nodes [...]. For exactly, the
 * master picks (`pick`: what it can reach and where it mirrors now): mirrors that hold the queue first, then other
 * reachable nodes, so a lost mirror is replaced; seen from another node it is the log's record of the synchronised
 * mirrors.
 */
export function mirrorNodes(q: Queue, members: string[], pick?: { reachable: Set<string>; current: Iterable<string> }): string[] {
  const def = q.policy?.definition;
  const mode = def?.['ha-mode'];
  const others = members.filter((n) => n !== q.node).sort();
  if (mode === 'all') return others;
  if (mode === 'exactly') {
    const n = Math.max(0, (typeof def?.['ha-params'] === 'number' ? def['ha-params'] : 1) - 1);
    if (pick === undefined) return q.syncedMirrors.filter((m) => others.includes(m)).slice(0, n);
    const up = others.filter((m) => pick.reachable.has(m));
    const order = [...q.syncedMirrors.filter((m) => up.includes(m)), ...[...pick.current].filter((m) => up.includes(m)).sort(), ...up, ...others];
    return [...new Set(order)].slice(0, n);
  }
  if (mode === 'nodes' && Array.isArray(def?.['ha-params'])) {
    const want = new Set(def['ha-params'].map(String));
    return others.filter((n) => want.has(n));
  }
  return [];
}

/**
 * A frame's ops without the deliveries of messages it also removes (a consumer's ack usually follows its delivery
 * within the lazy window): the mirror need not record a delivery of a message it drops in the same frame.
 */
function withoutSettledDeliveries(ops: Op[]): Op[] {
  let removed: Set<number> | null = null;
  for (const o of ops) if (o[0] === 1) (removed ??= new Set()).add(o[1]);
  if (removed === null) return ops;
  const r = removed;
  return ops.filter((o) => o[0] !== 2 || !r.has(o[1]));
}

/** The same ops, element by element (the stream's ops are shared by every mirror's list). */
function sameOps(a: Op[], b: Op[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** numbers the masters' streams in this process */
let streams = 0;
/** numbers each start of mirroring to a node in this process (a mirror's pid: queue/pids.ts) */
let mirrorStarts = 0;

interface Pending {
  seq: number;
  waiter: DurableWaiter;
  token: number;
  /** the mirrors it waits for (shared by every publish tracked while the set stays the same) */
  need: readonly string[];
}

/** The master side of one mirrored queue. */
class Master implements QueueMirror {
  readonly q: Queue;
  /** names this stream to the mirrors: the seqs it sends are those of this queue object's messages */
  readonly stream = ++streams;
  nodes: string[] = [];
  /** mirrors receiving the stream */
  readonly streaming = new Set<string>();
  /** which start of mirroring each mirror's is (its pid) */
  readonly started = new Map<string, number>();
  /** mirrors holding every message: confirms wait for these, and only these may be promoted (when-synced) */
  readonly synced = new Set<string>();
  /** for an unsynchronised (manual) mirror: the first seq it got from the stream */
  private readonly joinedAt = new Map<string, number>();
  private syncing = new Set<string>();
  /** every message not yet gone, by seq (the copy a new mirror gets) */
  readonly live = new Map<number, QueuedMessage>();
  private readonly out = new Map<string, Op[]>();
  /** nodes sent mqdrop since their link came up (ha-mode exactly: not picked) */
  readonly toldToDrop = new Set<string>();
  private scheduled = false;
  private lazyTimer: NodeJS.Timeout | null = null;
  private readonly flushBound = (): void => this.flush();
  private lastSeq = -1;
  private pending: Pending[] = [];
  private readonly owner: Mirrors;

  constructor(owner: Mirrors, q: Queue) {
    this.owner = owner;
    this.q = q;
    this.startVersion = q.mirrorsVersion;
    for (const qm of q.readyMessages()) this.live.set(qm.seq, qm);
  }

  /**
   * An op for every mirror receiving the stream. Only adds hold up confirms: deliveries and removals (consumers'
   * acks, one small read each) wait, up to LAZY_OPS_MS, to go out with the next add instead of each waking every
   * mirror for a frame of its own. The order of the ops is kept; a promotion in that window only brings back
   * messages whose removal had not reached the mirror, redelivered.
   */
  private op(o: Op, lazy = false): void {
    for (const n of this.streaming) this.to(n, o, lazy);
  }

  /**
   * Sends each mirror its ops of this tick. Mirrors that are all just streaming get the same list: it is packed once
   * for all of them.
   */
  flush(): void {
    this.scheduled = false;
    if (this.lazyTimer !== null) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = null;
    }
    let packed: Op[] | null = null;
    let payload: Buffer | null = null;
    let failed: string[] | null = null;
    for (const [n, ops] of this.out) {
      if (ops.length === 0) continue;
      this.out.set(n, []);
      if (packed === null || !sameOps(packed, ops)) {
        packed = ops;
        payload = packMessage({ type: 'mq', v: this.q.vhost, q: this.q.name, ops: packInner(withoutSettledDeliveries(ops)) });
      }
      if (!this.owner.sendPacked(n, payload!)) (failed ??= []).push(n);
    }
    // (after the loop: a pack while the loop still sends would overwrite its payload)
    if (failed !== null) for (const n of failed) this.lost(n);
    if (this.dispatchAfterFlush) {
      this.dispatchAfterFlush = false;
      // (not for a master that was let go meanwhile: a promotion elsewhere took the queue)
      if (this.q.mirror === this) this.q.dispatch();
    }
  }

  /** a dispatch of the queue waits for the next flush (holdsDispatch) */
  private dispatchAfterFlush = false;

  /**
   * With a frame for the mirrors about to go out (this event-loop turn), new messages reach consumers after it: on a
   * busy host the consumers' clients would otherwise take the CPU the mirrors need to get the frame on disc and ack it,
   * which every publisher confirm waits for (measured: +7 % mirrored throughput on 2 cores). Deliveries wait no more
   * than that turn.
   */
  holdsDispatch(): boolean {
    if (!this.scheduled) return false;
    this.dispatchAfterFlush = true;
    return true;
  }

  added(qm: QueuedMessage): void {
    this.live.set(qm.seq, qm);
    this.lastSeq = qm.seq;
    const m = qm.msg;
    if (this.streaming.size > 0) {
      const p = this.wireProps(qm, null);
      if (p !== null) this.op([0, qm.seq, m.exchange, m.routingKey, p, m.body, m.timestamp]);
    }
  }

  /**
   * A message's properties as the mirrors get them, or null (logged) for one whose properties cannot be encoded again
   * (a value the broker built that AMQP cannot carry): last resort, as for expiry and dead-lettering, since the sync
   * runs from timers where a throw would end the process. That one message is left out; the rest go on.
   */
  private wireProps(qm: QueuedMessage, node: string | null): Buffer | null {
    try {
      return rawProps(qm.msg);
    } catch (err) {
      const to = node === null ? 'the mirrors' : `mirror ${node}`;
      this.owner.log(`queue '${this.q.name}' in vhost '${this.q.vhost}': message ${qm.seq} cannot be sent to ${to} (${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}), left out of the ${node === null ? 'stream' : 'sync'}`);
      return null;
    }
  }

  delivered(qm: QueuedMessage): void {
    if (this.streaming.size > 0) this.op([2, qm.seq], true);
  }

  removed(qm: QueuedMessage): void {
    if (!this.live.delete(qm.seq)) return;
    if (this.streaming.size > 0) this.op([1, qm.seq], true);
    if (this.joinedAt.size > 0) this.checkCaughtUp();
  }

  /** A manually synchronised mirror becomes synchronised once every message older than it is gone. */
  private checkCaughtUp(): void {
    const oldest = this.live.keys().next();
    for (const [n, at] of this.joinedAt) {
      if (oldest.done === true || (oldest.value as number) >= at) this.markSynced(n);
    }
  }

  private markSynced(node: string): void {
    this.joinedAt.delete(node);
    this.synced.add(node);
    this.need = null;
    this.to(node, [4, this.lastSeq]);
    this.record();
  }

  /** An op for one mirror, sent with the others of this tick. */
  private to(node: string, o: Op, lazy = false): void {
    let list = this.out.get(node);
    if (!list) this.out.set(node, (list = []));
    list.push(o);
    if (this.scheduled) return;
    if (!lazy) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    } else if (this.lazyTimer === null) {
      this.lazyTimer = setTimeout(this.flushBound, LAZY_OPS_MS);
    }
  }


  /**
   * A publisher waiting for a confirm: count the mirrors that must have the last added message: the synchronised
   * ones, and every one the metadata log still records as synchronised (a mirror this node lost stays in the log's
   * record until the removal commits; only then may a confirm go out without it, see record()).
   */
  track(waiter: DurableWaiter, token: number): number {
    const need = this.needed();
    if (need.length === 0) return 0;
    this.pending.push({ seq: this.lastSeq, waiter, token, need });
    return 1;
  }

  /** What a confirm waits for, kept until the synchronised mirrors, the log's record or the proposals change. */
  private need: readonly string[] | null = null;
  private needRecord: readonly string[] = [];
  private needVersion = -1;
  /** the highest seq each mirror acked: it holds every message up to that one */
  private readonly ackedTo = new Map<string, number>();
  /** confirms of messages up to this seq no longer wait for the node (lost, and the log does not record it) */
  private readonly releasedTo = new Map<string, number>();

  private needed(): readonly string[] {
    const q = this.q;
    // (before a record of this master's own applies, every member counts: the membership is read each time)
    if (this.need !== null && this.needVersion === q.mirrorsVersion && this.needRecord === q.syncedMirrors && q.mirrorsVersion > this.startVersion) return this.need;
    const all = this.maybeRecorded();
    for (const n of this.synced) all.add(n);
    this.need = [...all].sort();
    this.needVersion = q.mirrorsVersion;
    this.needRecord = q.syncedMirrors;
    return this.need;
  }

  private done(p: Pending): boolean {
    for (const n of p.need) if ((this.ackedTo.get(n) ?? -1) < p.seq && (this.releasedTo.get(n) ?? -1) < p.seq) return false;
    return true;
  }

  /** Confirms every publish whose mirrors all hold its message (or no longer count). */
  private settle(): void {
    const keep: Pending[] = [];
    for (const p of this.pending) {
      if (this.done(p)) p.waiter.onDurable(p.token);
      else keep.push(p);
    }
    this.pending = keep;
  }

  /** Confirms stop waiting for `node` for every message so far. */
  private release(node: string): void {
    this.releasedTo.set(node, this.lastSeq);
    this.need = null;
  }

  private recording = false;
  /**
   * Records proposed whose outcome this node does not know yet: a proposal that failed here (no leader, a timeout)
   * may still commit later, and one this node has not applied may have committed already. A record applies only on
   * the version it was based on (compare and set), so once the version moved past its base it never will; until
   * then its mirrors count as recorded.
   */
  private proposed: { base: number; nodes: string[] }[] = [];
  /**
   * The version when this master started: an earlier process of this node (before a restart) may have proposed
   * records this one never heard of, based on versions up to this one. Until a record based on it or later applies,
   * every member counts as recorded.
   */
  private readonly startVersion: number;

  /** The mirrors the log records as synchronised, or may: confirms wait for all of them. */
  private maybeRecorded(): Set<string> {
    const out = new Set(this.q.syncedMirrors);
    if (this.q.mirrorsVersion <= this.startVersion) for (const n of this.owner.members()) if (n !== this.q.node) out.add(n);
    for (const p of this.proposed) if (p.base >= this.q.mirrorsVersion) for (const n of p.nodes) out.add(n);
    return out;
  }

  /**
   * Records the synchronised mirrors in the metadata log when they differ from the log's record. A mirror this master
   * lost (cut off, crashed, left the policy) can be promoted while it is in the record, so confirms keep waiting for
   * it until its removal commits: a master cut off from the disc majority cannot commit it, and stops confirming
   * instead of confirming messages that the other side, promoting a mirror, would never have.
   */
  record(): void {
    const want = [...this.synced].sort();
    const have = this.q.syncedMirrors;
    // (an outstanding proposal is settled by committing a newer record, even an unchanged one)
    const open = this.q.mirrorsVersion <= this.startVersion || this.proposed.some((p) => p.base >= this.q.mirrorsVersion);
    if (!open && want.length === have.length && want.every((n, i) => n === have[i])) return;
    const b = this.owner.brokerOf();
    if (this.recording || b === null || b.replicator === null) return;
    this.recording = true;
    const base = this.q.mirrorsVersion;
    this.proposed.push({ base, nodes: want });
    this.need = null;
    b.replicator
      .propose({ op: 'queue.mirrors', vhost: this.q.vhost, name: this.q.name, master: this.q.node, epoch: this.q.masterEpoch, base, synced: want })
      .then(
        () => {
          // the next change (a mirror that synchronised meanwhile) need not wait for the periodic check
          this.recording = false;
          this.record();
        },
        () => {
          // no disc majority here: confirms that wait for a lost mirror keep waiting; retried by the periodic check
          this.recording = false;
        },
      );
  }

  /** The log's record of our synchronised mirrors changed: confirms stop waiting for mirrors that left it. */
  committed(): void {
    this.proposed = this.proposed.filter((p) => p.base >= this.q.mirrorsVersion);
    this.need = null;
    const keepWaiting = this.needed();
    const waitedFor = new Set<string>();
    for (const p of this.pending) for (const n of p.need) waitedFor.add(n);
    for (const n of waitedFor) if (!keepWaiting.includes(n)) this.release(n);
    this.settle();
    this.record();
  }

  /** No mirrors wanted any more: done once the log records none and no confirm waits. */
  get idle(): boolean {
    return this.streaming.size === 0 && this.pending.length === 0 && this.maybeRecorded().size === 0;
  }

  /** This node is not the master any more: nothing it still owes a confirm for can be confirmed. */
  abort(): void {
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    this.out.clear();
    for (const p of this.pending) p.waiter.onNack?.(p.token);
    this.pending = [];
  }

  acked(node: string, seq: number): void {
    if (seq <= (this.ackedTo.get(node) ?? -1)) return;
    this.ackedTo.set(node, seq);
    if (this.pending.length > 0 && this.pending[0]!.seq <= seq) this.settle();
  }

  /** mirrors asked whether they can resume from the copy they hold (automatic sync), until they answer */
  private readonly probing = new Set<string>();

  /**
   * Starts mirroring to a node: the stream from now on, and the queue so far unless sync is manual. With automatic
   * sync the mirror is first asked what it still holds ([3, 1, epoch]): a mirror that was cut off from this same
   * master (same process, same epoch) and had been synchronised answers with the highest seq it has, and gets only
   * what it lacks (resume()); any other answers -1 and gets the whole queue.
   */
  attach(node: string, manual: boolean): void {
    this.flush();
    this.streaming.add(node);
    this.started.set(node, ++mirrorStarts);
    if (manual) {
      this.out.set(node, [[3, 0, this.q.masterEpoch, this.stream]]);
      if (this.live.size === 0) this.fullSync(node);
      else this.joinedAt.set(node, this.lastSeq + 1);
    } else {
      this.out.set(node, [[3, 1, this.q.masterEpoch, this.stream]]);
      this.probing.add(node);
    }
    this.flush();
  }

  /** A probed mirror's answer: the highest seq its copy holds, or -1 (it started empty). */
  resume(node: string, top: number): void {
    if (!this.probing.delete(node) || !this.streaming.has(node)) return;
    if (top < 0) return this.fullSync(node);
    // what of the first `top` seqs is still here (and whether delivered): the mirror drops the rest
    const keep: number[] = [];
    for (const qm of this.live.values()) if (qm.seq <= top) keep.push(qm.seq, qm.deliveryCount > 0 ? 1 : 0);
    this.to(node, [8, top, keep]);
    this.flush();
    this.fullSync(node, top);
  }

  /**
   * Sends the whole queue to a mirror in batches, the queue running on in between (brokerctl sync_queue too); only
   * the messages after `after` to a mirror that resumes.
   */
  fullSync(node: string, after = -1): void {
    if (this.syncing.has(node) || !this.streaming.has(node)) return;
    this.syncing.add(node);
    this.joinedAt.delete(node);
    const snapshot = after < 0 ? [...this.live.values()] : [...this.live.values()].filter((qm) => qm.seq > after);
    if (after >= 0) this.owner.log(`queue '${this.q.name}' in vhost '${this.q.vhost}': mirror ${node} resumes from its copy, ${snapshot.length} of ${this.live.size} messages to send`);
    const batch = Number(this.q.policy?.definition['ha-sync-batch-size'] ?? SYNC_BATCH_DEFAULT) || SYNC_BATCH_DEFAULT;
    let i = 0;
    const step = (): void => {
      if (!this.streaming.has(node)) return void this.syncing.delete(node);
      if (!this.syncing.has(node)) {
        // cancelled: the mirror stays unsynchronised until the older messages are gone
        this.joinedAt.set(node, this.lastSeq + 1);
        return;
      }
      const part: unknown[] = [];
      for (const qm of snapshot.slice(i, i + batch)) {
        const p = this.wireProps(qm, node);
        if (p !== null) part.push([qm.seq, qm.msg.exchange, qm.msg.routingKey, p, qm.msg.body, qm.msg.timestamp, qm.deliveryCount > 0]);
      }
      i += batch;
      this.flush();
      this.to(node, [5, 0, part]);
      if (i >= snapshot.length) {
        this.syncing.delete(node);
        this.synced.add(node);
        this.need = null;
        // the mirror holds everything up to lastSeq now: its ack of it counts for the confirms waiting on it
        this.to(node, [4, this.lastSeq]);
        this.flush();
        this.record();
        return;
      }
      this.flush();
      setImmediate(step);
    };
    step();
  }

  cancelSync(): number {
    const n = this.syncing.size;
    this.syncing.clear();
    return n;
  }

  lost(node: string): void {
    this.probing.delete(node);
    this.streaming.delete(node);
    this.syncing.delete(node);
    this.joinedAt.delete(node);
    this.synced.delete(node);
    this.need = null;
    this.out.delete(node);
    // a mirror the log does not record as synchronised no longer holds up confirms; one it does, until its removal
    // from the record commits (committed())
    if (!this.maybeRecorded().has(node)) {
      this.release(node);
      this.settle();
    }
    this.record();
  }
}

interface Copy {
  msgs: Map<number, { msg: Message; delivered: boolean; id: number }>;
  /** persistent messages of a durable queue are on this node's disc too (confirms wait for it) */
  store: QueueStore | null;
  master: string;
  /** holds every message of the queue (may be promoted under ha-promote-on-failure when-synced) */
  synced: boolean;
  /** removals that overtook their message's sync batch */
  tombstones: Set<number>;
  /** the master's process (peer link incarnation) and epoch the copy comes from: a resume needs both unchanged */
  incarnation: number;
  /** and the master's stream: seqs are numbered per stream (an app restart in the same process starts a new one) */
  stream: number;
  epoch: number;
  /** the highest seq added to the copy */
  top: number;
  /**
   * a write of this copy to the disc failed (or its store could not be created): it acks nothing from then on (an
   * ack means "holds everything up to seq", on disc) and has asked the master to start it over
   */
  diskFailed?: boolean;
  /**
   * while this copy is being filled: the synchronised copy of the same master and epoch it replaces (the master
   * restarted its stream, e.g. after its node restarted), still the one to promote should a promotion proposed before
   * commit now
   */
  before?: Copy | undefined;
}

/** ha-sync-batch-size default (RabbitMQ's) */
export const SYNC_BATCH_DEFAULT = 4096;

/** The tag of a master's stored queue: the epoch it is master in (no tag: declared here, epoch 0). */
export function masterTag(epoch: number): string {
  return `master:${epoch}`;
}

/** The epoch a node's stored queue was written in as its master (-1: not a master's data). */
export function masterEpochOf(tag: string | null): number {
  if (tag === null) return 0;
  const m = /^master:(\d+)$/.exec(tag);
  return m ? Number(m[1]) : -1;
}

/** The tag of a mirror's stored copy: whose copy, in which epoch, and whether it held every message. */
function mirrorTag(master: string, epoch: number, synced: boolean): string {
  return `mirror:${epoch}:${synced ? 1 : 0}:${master}`;
}

/** The master epoch a mirror's stored copy is of (-1: not a mirror's copy). */
function mirrorEpochOf(tag: string | null): number {
  const m = tag === null ? null : /^mirror:(\d+):/.exec(tag);
  return m ? Number(m[1]) : -1;
}

/** Where a mirror keeps its copy's persistent messages: apart from the queue's own store on this node. */
function mirrorStoreName(queue: string): string {
  return `\u0000mirror\u0000${queue}`;
}

export class Mirrors {
  private readonly svc: ClusterService;
  private readonly masters = new Map<Queue, Master>();
  /** this node's copies of queues mastered elsewhere, by vhost \0 name */
  private readonly copies = new Map<string, Copy>();
  private timer: NodeJS.Timeout | null = null;
  private readonly proposing = new Set<string>();
  /** when this node first saw a queue's master unreachable */
  private readonly masterLostAt = new Map<string, number>();
  private readonly decoder = new MessageDecoder();

  constructor(svc: ClusterService) {
    this.svc = svc;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), MIRROR_CHECK_MS);
    this.timer.unref();
    // the app is about to take publishes: a queue this node masters must count its confirms from the first one (the
    // log may record mirrors that each confirm waits for), not from the first periodic check
    this.check(true);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [q, m] of this.masters) {
      m.flush();
      q.mirror = null;
    }
    this.masters.clear();
    this.parked.clear();
  }

  /**
   * Messages a replay of the log took off this node's disc for a queue that the replay then moved away, while the
   * disc says this node is its master again in a later epoch (a stop_app/start_app handover and back, then a
   * restart): kept for that later promotion, which finds the disc's messages here, by store.
   */
  private readonly parked = new Map<QueueStore, { id: number; msg: Message; redelivered: boolean }[]>();

  park(store: QueueStore, msgs: QueuedMessage[]): void {
    let list = this.parked.get(store);
    if (list === undefined) this.parked.set(store, (list = []));
    for (const qm of msgs) if (qm.storeId >= 0) list.push({ id: qm.storeId, msg: qm.msg, redelivered: qm.redelivered || qm.deliveryCount > 0 });
  }

  /** A queue's messages on this node's disc: what its store still has to hand out and what a replay parked. */
  private recover(store: QueueStore): { id: number; msg: Message; redelivered: boolean }[] {
    const parked = this.parked.get(store);
    const rec = store.recover();
    if (parked === undefined) return rec;
    this.parked.delete(store);
    // (a store that hands its messages out again, in memory, gives the same ids)
    const byId = new Map(parked.map((r) => [r.id, r]));
    for (const r of rec) if (!byId.has(r.id)) byId.set(r.id, r);
    return [...byId.values()].sort((a, b) => a.id - b.id);
  }

  send(node: string, msg: unknown): boolean {
    return this.svc.remote.send(node, msg);
  }

  sendPacked(node: string, payload: Buffer): boolean {
    return this.svc.remote.sendPacked(node, payload);
  }

  log(line: string): void {
    this.svc.node.broker?.log(line);
  }

  /** Confirm bookkeeping for a publish that reached a mirrored master queue. */
  track(q: Queue, waiter: DurableWaiter, token: number): number {
    return this.masters.get(q)?.track(waiter, token) ?? 0;
  }

  private broker(): Broker | null {
    const b = this.svc.node.broker;
    return b !== null && b.running ? b : null;
  }

  brokerOf(): Broker | null {
    return this.broker();
  }

  /** Every member of the cluster. */
  members(): string[] {
    const m = this.svc.membership();
    return [...m.voters, ...m.learners];
  }

  /** Applied on every node when the log's record of a queue's synchronised mirrors changes. */
  mirrorsChanged(q: Queue): void {
    this.masters.get(q)?.committed();
  }

  /** Mirror sets follow policies and membership; lost masters get a successor. */
  check(starting = false): void {
    const b = starting ? this.svc.node.broker : this.broker();
    if (b === null || !this.svc.clustered) return;
    const m = this.svc.membership();
    const members = [...m.voters, ...m.learners];
    const reachable = new Set(this.svc.reachable());
    for (const vh of b.vhosts.values()) {
      for (const q of vh.queues.values()) {
        if (q.node === b.localNode) {
          this.master(q, mirrorNodes(q, members, { reachable, current: this.masters.get(q)?.streaming ?? [] }), reachable);
          continue;
        }
        if (starting) continue;
        const want = mirrorNodes(q, members);
        if (want.length > 0 && !reachable.has(q.node) && want.includes(b.localNode)) {
          const key = `${q.vhost}\u0000${q.name}`;
          if (!this.masterLostAt.has(key)) this.masterLostAt.set(key, Date.now());
          this.maybePromote(b, q, want, reachable);
        } else this.masterLostAt.delete(`${q.vhost}\u0000${q.name}`);
      }
    }
    if (starting) return;
    if (this.dropsOnDisc.size > 0) this.dropOnDisc();
    for (const [key, copy] of this.copies) {
      const [v = '', n = ''] = key.split('\u0000');
      const q = b.vhosts.get(v)?.queues.get(n);
      // a copy of a queue that is gone, or no longer mirrored here (under exactly the master says so: mqdrop)
      const exactly = q?.policy?.definition['ha-mode'] === 'exactly';
      if (q === undefined || (!exactly && !mirrorNodes(q, members).includes(b.localNode))) {
        copy.store?.destroy();
        this.copies.delete(key);
      }
    }
    for (const [q, master] of this.masters) {
      if (q.deleted || q.node !== b.localNode) {
        q.mirror = null;
        this.masters.delete(q);
        master.abort();
      }
    }
  }

  /** Masters that told this node to drop its copy of a queue while it held none in memory: key -> master. */
  private readonly dropsOnDisc = new Map<string, string>();

  /**
   * A copy on disc (kept from before this node restarted) is stale once the master the log names here does not want
   * this node, and the log does not record it as synchronised (only a recorded mirror may be promoted). Until the
   * app runs (the log applied up to date) the drop waits.
   */
  private dropOnDisc(): void {
    const b = this.broker();
    if (b === null) return;
    for (const [key, from] of this.dropsOnDisc) {
      this.dropsOnDisc.delete(key);
      const [vhost = '', name = ''] = key.split('\u0000');
      const q = b.vhosts.get(vhost)?.queues.get(name);
      if (q === undefined || q.node !== from || q.syncedMirrors.includes(b.localNode) || this.copies.has(key)) continue;
      if (b.messageStore.hasQueue(vhost, mirrorStoreName(name))) b.messageStore.openQueue(vhost, mirrorStoreName(name)).destroy();
    }
  }

  private master(q: Queue, want: string[], reachable: Set<string>): void {
    let m = this.masters.get(q);
    if (want.length === 0) {
      if (m) {
        // mirroring ends (policy cleared or changed): the log's record must say so before confirms stop waiting
        m.flush();
        for (const n of [...m.streaming]) {
          this.send(n, { type: 'mqdrop', v: q.vhost, q: q.name });
          m.lost(n);
        }
        m.record();
        if (m.idle) {
          q.mirror = null;
          this.masters.delete(q);
        }
      }
      return;
    }
    if (!m) {
      m = new Master(this, q);
      this.masters.set(q, m);
      q.mirror = m;
    }
    m.nodes = want;
    if (q.policy?.definition['ha-mode'] === 'exactly') {
      // a node exactly did not pick may hold a copy it was not told to drop (it was away when another was picked, or
      // restarted with one on disc): told once each time its link comes up
      for (const n of reachable) {
        if (n !== q.node && !want.includes(n) && !m.streaming.has(n) && !m.toldToDrop.has(n)) {
          m.toldToDrop.add(n);
          this.send(n, { type: 'mqdrop', v: q.vhost, q: q.name });
        }
      }
    }
    // RabbitMQ's default is manual: only ha-sync-mode automatic syncs a new (or restarted) mirror with the whole queue
    const manual = q.policy?.definition['ha-sync-mode'] !== 'automatic';
    for (const n of want) {
      if (reachable.has(n) && !m.streaming.has(n)) {
        m.toldToDrop.delete(n);
        m.attach(n, manual);
      }
    }
    for (const n of [...m.streaming]) {
      if (!want.includes(n)) {
        // no longer one of the queue's mirrors (policy change, or exactly picked another): it drops its copy
        m.flush();
        this.send(n, { type: 'mqdrop', v: q.vhost, q: q.name });
        m.lost(n);
      } else if (!reachable.has(n)) m.lost(n);
    }
    // retries a record that could not commit before (no disc majority then)
    m.record();
  }

  private maybePromote(b: Broker, q: Queue, want: string[], reachable: Set<string>): void {
    const key = `${q.vhost}\u0000${q.name}`;
    const copy = this.copies.get(key);
    if (copy === undefined || this.proposing.has(key) || b.replicator === null) return;
    // ha-promote-on-failure: when-synced (default here) promotes only a mirror that holds every message; RabbitMQ's
    // default 'always' can promote one that does not, and lose messages: we refuse that unless asked
    // the log's record decides (a copy that was cut off from the master may look complete here and not be); the apply
    // of queue.promote checks the same record, so a stale view here only costs a skipped proposal
    const always = q.promotesAlways('failure');
    if (!always && (!copy.synced || !q.syncedMirrors.includes(b.localNode))) return;
    // mirrors in the policy's order take turns: the first reachable eligible one proposes at once, each later one
    // after a delay in case the earlier cannot (the log keeps only the first promotion that commits)
    const rank = want.filter((n) => reachable.has(n)).indexOf(b.localNode);
    const lostFor = Date.now() - (this.masterLostAt.get(key) ?? Date.now());
    if (rank < 0 || lostFor < rank * PROMOTE_STAGGER_MS) return;
    this.proposing.add(key);
    b.replicator
      .propose({ op: 'queue.promote', vhost: q.vhost, name: q.name, from: q.node, to: b.localNode, epoch: q.masterEpoch, version: q.mirrorsVersion })
      .catch(() => {
        /* no majority here (a partition's minority): no promotion, retried while the master is unreachable */
      })
      .finally(() => this.proposing.delete(key));
  }

  /**
   * ha-promote-on-shutdown: before this node's app stops, each queue it masters is handed to a reachable mirror the
   * log records as synchronised (with 'always', to any reachable mirror, as RabbitMQ), so clients elsewhere go on at
   * once instead of after failure detection. Publishes the old master takes meanwhile and the new master never acks
   * are nacked when the promotion applies here. Bounded: the stop goes on after timeoutMs whatever happened.
   */
  async handOver(timeoutMs: number): Promise<number> {
    const b = this.broker();
    if (b === null || b.replicator === null) return 0;
    const reachable = new Set(this.svc.reachable());
    const handovers: Promise<boolean>[] = [];
    for (const [q, m] of this.masters) {
      if (q.deleted || q.node !== b.localNode) continue;
      const always = q.promotesAlways('shutdown');
      const to = (always ? [...m.streaming] : q.syncedMirrors.filter((n) => m.synced.has(n))).find((n) => reachable.has(n));
      if (to === undefined) continue;
      m.flush();
      handovers.push(b.replicator.propose({ op: 'queue.promote', vhost: q.vhost, name: q.name, from: q.node, to, shutdown: true }).then(() => q.node === to, () => false));
    }
    if (handovers.length === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean[]>((resolve) => (timer = setTimeout(() => resolve([]), timeoutMs)));
    const done = await Promise.race([Promise.all(handovers), timeout]);
    clearTimeout(timer);
    return done.filter(Boolean).length;
  }

  /** Applied on every node when a promotion commits. */
  promoted(b: Broker, q: Queue, from: string, why?: PromotionReason): void {
    const old = this.masters.get(q);
    if (old !== undefined && q.node !== b.localNode) {
      // this node was the master and a mirror elsewhere was promoted: nothing pending here may be confirmed
      this.masters.delete(q);
      q.mirror = null;
      old.abort();
    }
    const key = `${q.vhost}\u0000${q.name}`;
    const copy = this.copies.get(key);
    if (q.node !== b.localNode) return;
    this.copies.delete(key);
    const epoch = q.masterEpoch;
    const where = `queue '${q.name}' in vhost '${q.vhost}'`;
    const store = q.durable ? b.messageStore.openQueue(q.vhost, q.name) : null;
    if (store !== null && masterEpochOf(store.tag) > epoch) {
      // replaying the log after a restart, at a promotion older than the data on disc (this node was promoted again
      // later): the disc is left for that later promotion, which this replay reaches further on
      q.store = store;
      b.log(`${where}: master on ${b.localNode} at epoch ${epoch} while replaying the log; its disc holds epoch ${masterEpochOf(store.tag)}`);
      return;
    }
    if (store !== null && store.tag === masterTag(epoch)) {
      // this node was promoted in this epoch before it restarted, and is replaying the log: its disc is the queue
      copy?.store?.destroy();
      q.store = store;
      const rec = this.recover(store);
      for (const r of rec) q.restore(r.id, r.msg, r.redelivered);
      b.log(`${where}: master on ${b.localNode} again after a restart (${rec.length} messages from its disc)`);
      q.dispatch();
      return;
    }
    // the copy of the old master's queue: the one in memory, or (this node restarted since it proposed the promotion)
    // the persistent part of it on disc; anything else is not a copy of what the old master confirmed
    // (a promotion this node caught up on from a snapshot: either kind may have applied)
    const always = why === undefined ? q.promotesAlways('failure') || q.promotesAlways('shutdown') : q.promotesAlways(why);
    let msgs: { msg: Message; delivered: boolean }[];
    let source: string;
    const fits = (c: Copy | undefined): c is Copy => c !== undefined && c.master === from && c.epoch === epoch - 1;
    const use = fits(copy) && copy.synced ? copy : fits(copy?.before) && copy.before.synced ? copy.before : fits(copy) && always ? copy : undefined;
    if (use !== undefined) {
      msgs = [...use.msgs.entries()].sort((a, c) => a[0] - c[0]).map(([, e]) => e);
      source = use === copy ? 'its copy' : 'its last synchronised copy';
    } else {
      const onDisc = q.durable ? b.messageStore.openQueue(q.vhost, mirrorStoreName(q.name)) : null;
      if (onDisc !== null && onDisc.tag === mirrorTag(from, epoch - 1, true)) {
        msgs = onDisc.recover().map((r) => ({ msg: r.msg, delivered: r.redelivered }));
        source = 'its copy on disc';
      } else {
        msgs = [];
        source = 'no copy of the queue';
        b.log(`${where}: promoted on ${b.localNode} without a copy of ${from}'s queue (the copy was lost with a restart)`);
      }
      // (a copy of a later epoch's master stays: this node is replaying the log after a restart, and may be promoted
      // with it further on)
      if (onDisc !== null && mirrorEpochOf(onDisc.tag) < epoch) onDisc.destroy();
    }
    copy?.store?.destroy();
    // data left from an earlier time this node was master is stale: the copy is the truth
    if (store !== null) this.parked.delete(store);
    store?.destroy();
    q.store = q.durable ? b.messageStore.openQueue(q.vhost, q.name) : null;
    q.store?.setTag(masterTag(epoch));
    for (const e of msgs) {
      const id = q.store !== null && e.msg.persistent ? q.store.append(e.msg) : -1;
      q.restore(id, e.msg, e.delivered);
    }
    b.log(`${where}: promoted the mirror on ${b.localNode} to master (${msgs.length} messages, from ${source})`);
    q.dispatch();
  }

  // ---- mirror side and acks

  onMessage(link: PeerLink, m: { type: string } & Record<string, unknown>): boolean {
    if (m.type === 'mqresync') {
      // a mirror missed the start of our stream (it was still catching up on metadata): start it over
      const q = this.broker()?.vhosts.get(m['v'] as string)?.queues.get(m['q'] as string);
      const master = q ? this.masters.get(q) : undefined;
      if (master) master.lost(link.remoteNode);
      return true;
    }
    if (m.type === 'mqdrop') {
      const vhost = m['v'] as string;
      const name = m['q'] as string;
      const key = `${vhost}\u0000${name}`;
      const copy = this.copies.get(key);
      if (copy !== undefined) {
        if (copy.master === link.remoteNode) {
          copy.store?.destroy();
          this.copies.delete(key);
        }
        return true;
      }
      // no copy in memory: one on disc (from before this node restarted) goes too, once the app runs (see dropOnDisc)
      this.dropsOnDisc.set(key, link.remoteNode);
      if (this.broker() !== null) this.dropOnDisc();
      return true;
    }
    if (m.type === 'mqhave') {
      const q = this.broker()?.vhosts.get(m['v'] as string)?.queues.get(m['q'] as string);
      if (q) this.masters.get(q)?.resume(link.remoteNode, m['top'] as number);
      return true;
    }
    if (m.type === 'mqok') {
      const b = this.broker();
      const q = b?.vhosts.get(m['v'] as string)?.queues.get(m['q'] as string);
      if (q) this.masters.get(q)?.acked(link.remoteNode, m['seq'] as number);
      return true;
    }
    if (m.type !== 'mq') return false;
    const vhost = m['v'] as string;
    const name = m['q'] as string;
    if (this.broker() === null) {
      // the app is not running (starting: the log is not applied yet, perhaps up to a promotion of this node that
      // replaces any copy made now with its disc; or stopped): hold and ack nothing, the master starts us over later
      link.send({ type: 'mqresync', v: vhost, q: name });
      return true;
    }
    // a node that masters the queue now ignores an old master still streaming (it must not be acked by us)
    const mine = this.broker()?.vhosts.get(vhost)?.queues.get(name);
    if (mine !== undefined && mine.node === this.svc.nodeName) return true;
    // (a refusal asks the master to start us over: mqresync, sent once)
    let resync = false;
    // only the master the log names here is mirrored: an old master that has not learnt of the promotion that replaced
    // it must neither restart nor add to the copy of the current one, nor be acked; a master this node does not know
    // of yet (its metadata is behind) is asked to start over later
    if (mine === undefined || mine.node !== link.remoteNode) {
      link.send({ type: 'mqresync', v: vhost, q: name });
      return true;
    }
    const key = `${vhost}\u0000${name}`;
    let copy = this.copies.get(key);
    let top = -1;
    let wrote = false;
    const b = this.broker();
    for (const op of unpackViews(m['ops'] as Uint8Array) as Op[]) {
      if (resync) break;
      const kind = op[0];
      if (kind === 3) {
        if (((op[2] as number | undefined) ?? 0) !== mine.masterEpoch) {
          resync = true;
          break;
        }
        if (op[1] === 1) {
          // the master asks what we hold: a synchronised copy from the same master process and epoch can resume
          const epoch = op[2] as number;
          // (not a copy whose disc write failed: its store lacks what it acked nothing for, so it starts over)
          if (copy !== undefined && copy.synced && copy.diskFailed !== true && copy.master === link.remoteNode && copy.incarnation === link.remoteIncarnation && copy.epoch === epoch && copy.stream === op[3]) {
            copy.synced = false;
            copy.store?.setTag(mirrorTag(copy.master, copy.epoch, false));
            link.send({ type: 'mqhave', v: vhost, q: name, top: copy.top });
            continue;
          }
          link.send({ type: 'mqhave', v: vhost, q: name, top: -1 });
        }
        // a (re)start from the master: whatever this node held of the queue before is stale
        copy?.store?.destroy();
        const durable = b?.vhosts.get(vhost)?.queues.get(name)?.durable === true;
        let store: QueueStore | null = null;
        const epoch = (op[2] as number | undefined) ?? 0;
        let storeFailed = false;
        if (durable && b !== null) {
          try {
            b.messageStore.openQueue(vhost, mirrorStoreName(name)).destroy();
            store = b.messageStore.openQueue(vhost, mirrorStoreName(name));
            store.setTag(mirrorTag(link.remoteNode, epoch, false));
          } catch (err) {
            // (a full or failing disc) a copy that cannot be on disc must not ack: it stays unsynchronised
            b.log(`mirror of queue '${name}' in vhost '${vhost}': cannot create its store: ${(err as Error).message}`);
            storeFailed = true;
            // and asks to be started over (the master's next check), or it would never ack again once space is back
            resync = true;
          }
        }
        const prev = copy !== undefined && copy.synced ? copy : copy?.before;
        const before = prev !== undefined && prev.master === link.remoteNode && prev.epoch === epoch ? { ...prev, before: undefined } : undefined;
        copy = { msgs: new Map(), store, master: link.remoteNode, synced: false, tombstones: new Set(), incarnation: link.remoteIncarnation, epoch, stream: (op[3] as number | undefined) ?? 0, top: -1, before, diskFailed: storeFailed };
        this.copies.set(key, copy);
        continue;
      }
      if (copy === undefined || copy.master !== link.remoteNode || copy.incarnation !== link.remoteIncarnation || copy.epoch !== mine.masterEpoch) {
        // ops without the start that creates the copy (of this master process, in this epoch): we cannot hold (or ack)
        // them; ask the master to resync us
        resync = true;
        break;
      }
      const seq = op[1];
      if (kind === 5) {
        for (const e of op[2] as [number, string, string, Uint8Array, Uint8Array, number, boolean][]) {
          if (copy.tombstones.delete(e[0])) continue;
          if (!copy.msgs.has(e[0]) && this.put(copy, e[0], this.decoder.decode(e[1], e[2], e[3], e[4], e[5], true), e[6])) wrote = true;
        }
      } else if (kind === 8) {
        // resuming: of what we hold up to seq, keep what the master still has (with its delivered flag)
        const keep = new Map<number, boolean>();
        const list = op[2] as number[];
        for (let i = 0; i < list.length; i += 2) keep.set(list[i]!, list[i + 1] === 1);
        for (const [s, e] of copy.msgs) {
          if (s > seq) continue;
          const delivered = keep.get(s);
          if (delivered === undefined) {
            copy.msgs.delete(s);
            if (e.id >= 0) copy.store?.remove(e.id);
          } else if (delivered && !e.delivered) {
            e.delivered = true;
            if (e.id >= 0) copy.store?.delivered(e.id);
          }
        }
      } else if (kind === 4) {
        try {
          copy.store?.setTag(mirrorTag(copy.master, copy.epoch, true));
          copy.synced = true;
        } catch (err) {
          // (a full or failing disc) not marked synchronised on disc: neither here, and nothing is acked
          b?.log(`mirror of queue '${name}' in vhost '${vhost}': cannot mark the copy synchronised: ${(err as Error).message}`);
          copy.diskFailed = true;
          resync = true;
        }
        copy.tombstones.clear();
        copy.before = undefined;
        top = Math.max(top, seq);
      } else if (kind === 0) {
        if (this.put(copy, seq, this.decoder.decode(op[2] as string, op[3] as string, op[4] as Uint8Array, op[5] as Uint8Array, op[6] as number), false)) wrote = true;
        top = Math.max(top, seq);
      } else if (kind === 1) {
        const e = copy.msgs.get(seq);
        if (e === undefined) {
          if (!copy.synced) copy.tombstones.add(seq);
        } else {
          copy.msgs.delete(seq);
          if (e.id >= 0) copy.store?.remove(e.id);
        }
      } else if (kind === 2) {
        const e = copy.msgs.get(seq);
        if (e) {
          e.delivered = true;
          if (e.id >= 0) copy.store?.delivered(e.id);
        }
      }
    }
    if (resync) link.send({ type: 'mqresync', v: vhost, q: name });
    // a copy that is still being filled acks nothing: the master counts an ack as "holds everything up to seq"
    // the master's confirm waits for the ack: persistent messages are on this node's disc first. A failed write (even
    // while the copy is still being filled) acks nothing, then or later (a later ack would cover the lost messages):
    // the copy asks to be started over
    const ok = top >= 0 && copy !== undefined && copy.synced && copy.diskFailed !== true ? { type: 'mqok', v: vhost, q: name, seq: top } : null;
    if (wrote && b !== null && copy !== undefined && copy.diskFailed !== true) {
      const c = copy;
      b.messageStore.whenDurable(
        {
          onDurable: () => void (ok !== null && c.diskFailed !== true && link.isOpen && link.send(ok)),
          onNack: () => {
            if (c.diskFailed === true) return;
            // (the copy in memory still holds every message: it stays promotable; it only stops acking)
            c.diskFailed = true;
            b.log(`mirror of queue '${name}' in vhost '${vhost}': a write to this node's disc failed; acking nothing and asking ${link.remoteNode} to start the copy over`);
            if (link.isOpen) link.send({ type: 'mqresync', v: vhost, q: name });
          },
        },
        0,
      );
    } else if (ok !== null) link.send(ok);
    return true;
  }

  /** Adds a message to a copy; true if it went to the copy's store (its ack must wait for the disc). */
  private put(c: Copy, seq: number, msg: Message, delivered: boolean): boolean {
    const id = c.store !== null && msg.persistent ? c.store.append(msg) : -1;
    c.msgs.set(seq, { msg, delivered, id });
    if (seq > c.top) c.top = seq;
    return id >= 0;
  }

  linkDown(node: string): void {
    for (const m of this.masters.values()) {
      m.lost(node);
      m.toldToDrop.delete(node);
    }
    // a lost master's mirrors need not wait for the next periodic check to propose a promotion
    if (this.timer !== null && !this.checkSoon) {
      this.checkSoon = true;
      setImmediate(() => {
        this.checkSoon = false;
        this.check();
      });
    }
  }

  private checkSoon = false;

  /** brokerctl sync_queue / cancel_sync_queue, on the master's node. */
  syncQueue(q: Queue, cancel: boolean): string {
    const m = this.masters.get(q);
    if (!m) return `queue '${q.name}' has no mirrors here`;
    if (cancel) return m.cancelSync() > 0 ? 'synchronisation cancelled' : 'no synchronisation in progress';
    const unsynced = [...m.streaming].filter((n) => !m.synced.has(n));
    for (const n of unsynced) m.fullSync(n);
    return unsynced.length === 0 ? 'all mirrors are synchronised' : `synchronising ${unsynced.join(', ')}`;
  }

  /** On the queue's master: its pid and its live mirrors' pids (list_queues pid slave_pids synchronised_slave_pids). */
  pids(q: Queue): QueuePids | null {
    if (q.node !== this.svc.nodeName) return null;
    const pid = formatPid(q.node, this.svc.incarnationOf(q.node) ?? PROCESS_CREATION, masterPidId(q));
    const m = this.masters.get(q);
    if (m === undefined) return { pid, mirrors: [], synced: [] };
    const of = (n: string): string => formatPid(n, this.svc.incarnationOf(n) ?? 0, mirrorPidId(q, m.started.get(n) ?? 0));
    const live = m.nodes.filter((n) => m.streaming.has(n));
    return { pid, mirrors: live.map(of), synced: live.filter((n) => m.synced.has(n)).map(of) };
  }

  /** For list_queues and management: the mirror nodes and which of them are synchronised. */
  state(q: Queue): { mirrors: string[]; synced: string[] } {
    // live mirrors only, as RabbitMQ's slave_pids: a node that is down (or was never reached) holds no mirror
    const m = this.masters.get(q);
    if (m) return { mirrors: m.nodes.filter((n) => m.streaming.has(n)), synced: [...m.synced].sort() };
    // seen from another node: the mirrors the policy asks for on the nodes reachable from here, and those the
    // metadata log records as synchronised
    const mb = this.svc.membership();
    const up = new Set(this.svc.reachable());
    const mirrors = mirrorNodes(q, [...mb.voters, ...mb.learners]).filter((n) => up.has(n));
    return { mirrors, synced: q.syncedMirrors.filter((n) => mirrors.includes(n)) };
  }
}
