// Persistent messages on disk: per queue, append-only segment files (seg.0000000001, ...) of records
//   [type u8][length u32][payload]   type 1 = publish (id, timestamp, exchange, routing key, properties, body)
//                                    type 2 = delivered (id)      type 3 = removed (id)
// Writes from all queues are gathered per event-loop turn and written as one group commit; a publisher confirm waits
// for the group its message is in. Segment files are opened with O_DSYNC, so a group's write returns once its data is
// on disc: one trip to libuv's thread pool per group instead of two (write, then fdatasync), each of which costs a
// thread wake-up and a return to the event loop (where O_DSYNC is missing, the write is followed by an fdatasync).
// Delivered and removed records alone (consumers' acks) start no group: they wait, up to LAZY_RECORDS_MS, to go out with
// the next publish's group; losing them in a crash only brings messages back, redelivered, as a lost ack does
// (RabbitMQ does not sync acks either). A segment is deleted once it and every older segment hold no live message
// (oldest first, so a removal record never outlives what it removes).
// After a crash, a torn record at the end of the last segment is cut off.
import { closeSync, constants, existsSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlink, write, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Writer } from '../amqp/writer.ts';
import { Reader } from '../amqp/reader.ts';
import * as M from '../amqp/methods.ts';
import { Message } from '../queue/message.ts';
import type { DurableWaiter, MessageStore, QueueStore, RecoveredMessage } from './message-store.ts';

/** Roll to a new segment past this size: small enough to reclaim space soon, large enough to keep files few. */
export const SEGMENT_SIZE_BYTES = 8 * 1024 * 1024;
/** How long delivered and removed records alone wait for a publish's group to go out with. */
export const LAZY_RECORDS_MS = 100;
/** ... or until a queue has this many bytes of them pending. */
const LAZY_RECORDS_BYTES = 256 * 1024;
/** O_DSYNC where the platform has it: a write is durable when it returns (else the store fdatasyncs after it). */
const O_DSYNC: number | undefined = constants.O_DSYNC;
const SEGMENT_OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (O_DSYNC ?? 0);
const REC_PUBLISH = 1;
const REC_DELIVERED = 2;
const REC_REMOVED = 3;

class SegmentQueueStore implements QueueStore {
  readonly dir: string;
  readonly store: SegmentStore;
  pending = new Writer(4096);
  fd = -1;
  segment = 0;
  segmentSize = 0;
  private nextId = 1;
  private readonly idSegment = new Map<number, number>();
  private readonly liveInSegment = new Map<number, number>();
  /** segment numbers on disc, ascending */
  private segs: number[] = [];
  private recovered: RecoveredMessage[] = [];
  destroyed = false;
  dirty = false;
  /**
   * pending holds a publish record: it starts a group commit (and, without O_DSYNC, is fdatasync'ed even when nobody
   * waits for it). Delivered and removed records alone wait for another group (see LAZY_RECORDS_MS).
   */
  needsSync = false;

  constructor(store: SegmentStore, dir: string, vhost: string, name: string) {
    this.store = store;
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    const meta = join(dir, 'meta.json');
    this.vhost = vhost;
    this.name = name;
    if (!existsSync(meta)) writeFileSync(meta, JSON.stringify({ vhost, name }));
    else this.tag = (JSON.parse(readFileSync(meta, 'utf8')) as { tag?: string }).tag ?? null;
    this.load();
    this.openSegment(this.segment + 1);
  }

  private segments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => /^seg\.\d{10}$/.test(f))
      .map((f) => Number(f.slice(4)))
      .sort((a, b) => a - b);
  }

  private segPath(n: number): string {
    return join(this.dir, `seg.${String(n).padStart(10, '0')}`);
  }

  private load(): void {
    const live = new Map<number, RecoveredMessage>();
    const r = new Reader(Buffer.alloc(0));
    const segs = this.segments();
    this.segs = segs.slice();
    for (const seg of segs) {
      const path = this.segPath(seg);
      const buf = readFileSync(path);
      let pos = 0;
      while (pos + 5 <= buf.length) {
        const type = buf[pos]!;
        const len = buf.readUInt32BE(pos + 1);
        if (pos + 5 + len > buf.length) break;
        r.reset(buf, pos + 5, pos + 5 + len);
        try {
          if (type === REC_PUBLISH) {
            const id = r.buf.readDoubleBE(r.pos);
            const ts = r.buf.readDoubleBE(r.pos + 8);
            r.pos += 16;
            const exchange = r.shortstr();
            const routingKey = r.shortstr();
            const rawProps = Buffer.from(r.longstrBytes());
            const body = Buffer.from(r.longstrBytes());
            const flags = rawProps.readUInt16BE(0);
            const props = M.decodeProperties(new Reader(rawProps, 2), flags);
            live.set(id, { id, msg: new Message(exchange, routingKey, props, rawProps, body, ts), redelivered: false });
            this.idSegment.set(id, seg);
            this.liveInSegment.set(seg, (this.liveInSegment.get(seg) ?? 0) + 1);
            if (id >= this.nextId) this.nextId = id + 1;
          } else if (type === REC_DELIVERED) {
            const e = live.get(r.buf.readDoubleBE(r.pos));
            if (e) e.redelivered = true;
          } else if (type === REC_REMOVED) {
            const id = r.buf.readDoubleBE(r.pos);
            if (live.delete(id)) this.dropLive(id);
          } else break;
        } catch {
          break;
        }
        pos += 5 + len;
      }
      if (pos < buf.length) {
        // torn tail after a crash: cut it off so the next boot reads cleanly
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, pos);
        fsyncSync(fd);
        closeSync(fd);
      }
      this.segment = seg;
    }
    this.recovered = [...live.values()];
    this.collect();
  }

  private dropLive(id: number): void {
    const seg = this.idSegment.get(id);
    if (seg === undefined) return;
    this.idSegment.delete(id);
    this.liveInSegment.set(seg, (this.liveInSegment.get(seg) ?? 1) - 1);
  }

  /**
   * Deletes fully removed segments, oldest first, never the one being written. Runs after every group commit, so it
   * works from the in-memory list of segments (no directory read) and unlinks off the event loop.
   */
  private collect(): void {
    const segs = this.segs;
    while (segs.length > 0) {
      const seg = segs[0]!;
      if (seg === this.segment && this.fd >= 0) break;
      if ((this.liveInSegment.get(seg) ?? 0) > 0) break;
      segs.shift();
      this.liveInSegment.delete(seg);
      unlink(this.segPath(seg), () => {
        /* gone either way */
      });
    }
  }

  private openSegment(n: number): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.segs.push(n);
    this.segment = n;
    this.segmentSize = 0;
    this.fd = openSync(this.segPath(n), SEGMENT_OPEN_FLAGS, 0o600);
  }

  /** Called by the store before a group write: start a new segment when this one is full. */
  rollIfFull(): void {
    if (this.segmentSize < SEGMENT_SIZE_BYTES) return;
    const old = this.fd;
    this.fd = -1;
    // the previous group's write and sync finished before this one starts, so closing is safe
    closeSync(old);
    this.openSegment(this.segment + 1);
    this.collect();
  }

  append(msg: Message): number {
    const id = this.nextId++;
    const w = this.pending;
    this.needsSync = true;
    w.octet(REC_PUBLISH);
    const lenAt = w.pos;
    w.long(0);
    w.ensure(16);
    w.buf.writeDoubleBE(id, w.pos);
    w.buf.writeDoubleBE(msg.timestamp, w.pos + 8);
    w.pos += 16;
    w.shortstr(msg.exchange);
    w.shortstr(msg.routingKey);
    if (msg.rawProperties !== null) w.bytes32(msg.rawProperties);
    else {
      const at = w.pos;
      w.long(0);
      M.encodeProperties(w, msg.properties);
      w.buf.writeUInt32BE(w.pos - at - 4, at);
    }
    w.bytes32(msg.body);
    w.buf.writeUInt32BE(w.pos - lenAt - 4, lenAt);
    this.idSegment.set(id, this.segment);
    this.liveInSegment.set(this.segment, (this.liveInSegment.get(this.segment) ?? 0) + 1);
    this.touch(true);
    return id;
  }

  private idRecord(type: number, id: number): void {
    const w = this.pending;
    w.ensure(13);
    w.buf[w.pos] = type;
    w.buf.writeUInt32BE(8, w.pos + 1);
    w.buf.writeDoubleBE(id, w.pos + 5);
    w.pos += 13;
    this.touch(w.pos >= LAZY_RECORDS_BYTES);
  }

  delivered(id: number): void {
    if (this.idSegment.has(id)) this.idRecord(REC_DELIVERED, id);
  }

  remove(id: number): void {
    if (!this.idSegment.has(id)) return;
    this.idRecord(REC_REMOVED, id);
    this.dropLive(id);
  }

  purge(): void {
    for (const id of [...this.idSegment.keys()]) this.remove(id);
  }

  recover(): RecoveredMessage[] {
    const r = this.recovered;
    this.recovered = [];
    return r;
  }

  /** urgent: a publish record (or a large backlog of others), which starts a group now. */
  private touch(urgent: boolean): void {
    if (!this.dirty) {
      this.dirty = true;
      this.store.markDirty(this);
    }
    if (urgent) this.store.schedule();
    else this.store.scheduleLazy();
  }

  /**
   * Bytes to write in this group, or null: a view of the pending buffer itself, which is reused once written
   * (writeDone), so a group commit copies and allocates nothing.
   */
  takePending(): Buffer | null {
    this.dirty = false;
    if (this.pending.pos === 0) return null;
    const b = this.pending.handOut();
    this.segmentSize += b.length;
    return b;
  }

  /** The group's write (taken with takePending) has finished, successfully or not. */
  writeDone(): void {
    this.pending.written();
  }

  afterWrite(): void {
    this.collect();
  }

  private readonly vhost: string;
  private readonly name: string;
  tag: string | null = null;

  setTag(tag: string | null): void {
    this.tag = tag;
    const meta = join(this.dir, 'meta.json');
    const body = JSON.stringify(tag === null ? { vhost: this.vhost, name: this.name } : { vhost: this.vhost, name: this.name, tag });
    writeFileSync(`${meta}.tmp`, body);
    const fd = openSync(`${meta}.tmp`, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${meta}.tmp`, meta);
  }

  destroy(): void {
    this.destroyed = true;
    this.pending.pos = 0;
    if (this.fd >= 0) this.store.closeFd(this.fd);
    this.fd = -1;
    this.store.forget(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  closeSync(): void {
    if (this.fd >= 0) {
      const b = this.takePending();
      if (b) {
        writeSync(this.fd, b);
        this.writeDone();
      }
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

export class SegmentStore implements MessageStore {
  readonly durable = true;
  readonly dir: string;
  private readonly queues = new Map<string, SegmentQueueStore>();
  private dirty: SegmentQueueStore[] = [];
  private waiters: DurableWaiter[] = [];
  private tokens: number[] = [];
  private scheduled = false;
  /** a group must go out now: a publish record or a waiter (otherwise only lazy records are pending) */
  private urgent = false;
  private lazyTimer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private idleWaiters: (() => void)[] = [];
  private fdsToClose: number[] = [];
  private readonly flushBound: () => void;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.flushBound = () => this.flush();
  }

  private queueDir(vhost: string, name: string): string {
    return join(this.dir, createHash('sha1').update(`${vhost}\u0000${name}`).digest('hex').slice(0, 24));
  }

  openQueue(vhost: string, name: string): QueueStore {
    const dir = this.queueDir(vhost, name);
    let q = this.queues.get(dir);
    if (!q) {
      q = new SegmentQueueStore(this, dir, vhost, name);
      this.queues.set(dir, q);
    }
    return q;
  }

  hasQueue(vhost: string, name: string): boolean {
    const dir = this.queueDir(vhost, name);
    return this.queues.has(dir) || existsSync(dir);
  }

  /** Closes a file descriptor once no group write can still be using it (a reused fd number must never be written). */
  closeFd(fd: number): void {
    if (this.inFlight) this.fdsToClose.push(fd);
    else closeSync(fd);
  }

  forget(q: SegmentQueueStore): void {
    this.queues.delete(q.dir);
  }

  markDirty(q: SegmentQueueStore): void {
    this.dirty.push(q);
  }

  whenDurable(waiter: DurableWaiter, token: number): void {
    this.waiters.push(waiter);
    this.tokens.push(token);
    this.schedule();
  }

  /** A group commit in this event-loop turn (or right after the one in flight). */
  schedule(): void {
    this.urgent = true;
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  /** A group commit within LAZY_RECORDS_MS, unless one comes sooner. */
  scheduleLazy(): void {
    if (this.lazyTimer !== null || this.scheduled || this.inFlight) return;
    this.lazyTimer = setTimeout(this.flushBound, LAZY_RECORDS_MS);
    this.lazyTimer.unref();
  }

  /** One group commit: write every dirty queue's pending bytes (durably), then release the waiters. */
  private flush(): void {
    this.scheduled = false;
    if (this.lazyTimer !== null) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = null;
    }
    if (this.inFlight) return;
    this.urgent = false;
    const dirty = this.dirty;
    const waiters = this.waiters;
    const tokens = this.tokens;
    this.dirty = [];
    this.waiters = [];
    this.tokens = [];
    if (dirty.length === 0 && waiters.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.inFlight = true;
    let outstanding = 1;
    let failed = false;
    const done = (): void => {
      if (--outstanding > 0) return;
      this.inFlight = false;
      for (const fd of this.fdsToClose.splice(0)) closeSync(fd);
      for (const q of dirty) if (!q.destroyed) q.afterWrite();
      for (let i = 0; i < waiters.length; i++) {
        // a failed write cannot be confirmed: the publishers get basic.nack
        if (failed) waiters[i]!.onNack?.(tokens[i]!);
        else waiters[i]!.onDurable(tokens[i]!);
      }
      if (this.urgent || this.waiters.length > 0) this.schedule();
      else {
        // (lazy records left for later count as idle: close() writes them)
        if (this.dirty.length > 0) this.scheduleLazy();
        for (const w of this.idleWaiters.splice(0)) w();
      }
    };
    for (const q of dirty) {
      if (q.destroyed || q.fd < 0) continue;
      q.rollIfFull();
      // (with O_DSYNC the write itself is durable)
      const sync = O_DSYNC === undefined && (q.needsSync || waiters.length > 0);
      q.needsSync = false;
      const b = q.takePending();
      if (b === null) continue;
      const fd = q.fd;
      outstanding++;
      write(fd, b, 0, b.length, null, (err) => {
        q.writeDone();
        if (err) {
          failed = true;
          console.error(`message store write failed for ${q.dir}: ${err.message}`);
        }
        if (!sync) return done();
        fdatasync(fd, (e) => {
          if (e) failed = true;
          done();
        });
      });
    }
    done();
  }

  storedQueues(): { vhost: string; name: string }[] {
    const out: { vhost: string; name: string }[] = [];
    if (!existsSync(this.dir)) return out;
    for (const d of readdirSync(this.dir)) {
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, d, 'meta.json'), 'utf8')) as { vhost: string; name: string });
      } catch {
        /* not a queue directory */
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.inFlight || this.scheduled) await new Promise<void>((r) => this.idleWaiters.push(r));
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    for (const q of this.queues.values()) q.closeSync();
    this.queues.clear();
  }
}
