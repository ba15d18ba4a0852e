// Persistent messages on disk: per queue, append-only segment files (seg.0000000001, ...) of records
//   [type u8][length u32][crc32c u32][payload]   type 0x11 = publish (id, timestamp, exchange, routing key,
//                                                 properties, body); 0x12 = delivered (id); 0x13 = removed (id)
// The checksum (CRC-32C, crc32c.ts) covers the type, the length and the payload. Files written before checksums
// (records [type 1|2|3][length u32][payload]) are still read; new records always carry one.
// Writes from all queues are gathered per event-loop turn and written as one group commit; a publisher confirm waits
// for the group its message is in. Segment files are opened with O_DSYNC, so a group's write returns once its data is
// on disc: one trip to libuv's thread pool per group instead of two (write, then fdatasync), each of which costs a
// thread wake-up and a return to the event loop (where O_DSYNC is missing, the write is followed by an fdatasync).
// Delivered and removed records alone (consumers' acks) start no group: they wait, up to LAZY_RECORDS_MS, to go out with
// the next publish's group; losing them in a crash only brings messages back, redelivered, as a lost ack does
// (RabbitMQ does not sync acks either). A segment is deleted once it and every older segment hold no live message
// (oldest first, so a removal record never outlives what it removes).
//
// Write checks. Every write's byte count is checked: a short write is continued from where it stopped. A write or
// sync that fails (ENOSPC, EIO, a write that makes no progress) fails the whole group: every publisher waiting on it
// gets basic.nack (RabbitMQ nacks what it could not store), nothing in it is ever confirmed, and the store reports
// the fault (the broker raises its disk alarm). The failed write's partial record is cut off (ftruncate back to the
// last whole group, made durable); when even that fails, the segment is abandoned and the queue rolls to a new one,
// so no later, confirmed record is ever appended behind a partial one (recovery would also skip it by its checksum).
//
// Recovery. Each record's length and checksum are checked. A damaged record (a flipped byte, a torn write) is
// dropped and logged with its file, offset and size, and reading resumes at the next record that checks out: at the
// damaged record's own length when that lands on a valid record, else at the first offset where a whole record
// with a valid checksum starts. Damage running to the end of a file is cut off (the torn tail a crash leaves).
// Files in the old format have no checksums: there, reading stops at the first record that does not parse (logged).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Writer } from '../amqp/writer.ts';
import { Reader } from '../amqp/reader.ts';
import * as M from '../amqp/methods.ts';
import { Message } from '../queue/message.ts';
import { crc32c } from './crc32c.ts';
import type { DurableWaiter, MessageStore, QueueStore, RecoveredMessage } from './message-store.ts';
import { nodeFs, type StoreFs } from './store-fs.ts';

/** Roll to a new segment past this size: small enough to reclaim space soon, large enough to keep files few. */
export const SEGMENT_SIZE_BYTES = 8 * 1024 * 1024;
/** How long delivered and removed records alone wait for a publish's group to go out with. */
export const LAZY_RECORDS_MS = 100;
/** ... or until a queue has this many bytes of them pending. */
const LAZY_RECORDS_BYTES = 256 * 1024;
/** record header: type, payload length, checksum */
export const RECORD_HEADER_BYTES = 9;
export const REC_PUBLISH = 0x11;
export const REC_DELIVERED = 0x12;
export const REC_REMOVED = 0x13;
/** the format before checksums: [type][length][payload] */
const OLD_HEADER_BYTES = 5;
const OLD_PUBLISH = 1;
const OLD_DELIVERED = 2;
const OLD_REMOVED = 3;

export interface SegmentStoreOptions {
  /** the file system (default node:fs); tests inject faults or a simulated disc */
  fs?: StoreFs;
  /** where recovery reports what it dropped and writes report their failures (default: stderr) */
  log?: (line: string) => void;
}

/** A write or sync the store could not complete (the errno code: ENOSPC, EIO, ...). */
export type StoreFaultListener = (code: string, message: string) => void;

function eio(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'EIO' });
}

/** Seals the record written at w.buf[start, w.pos): its payload length and checksum. */
function sealRecord(w: Writer, start: number): void {
  const b = w.buf;
  b.writeUInt32BE(w.pos - start - RECORD_HEADER_BYTES, start + 1);
  b.writeUInt32BE(crc32c(b, start + RECORD_HEADER_BYTES, w.pos, crc32c(b, start, start + 5)), start + 5);
}

/** The end of the checksummed record at pos, or -1 when none starts there (damaged, torn, or not a record). */
export function recordEndAt(buf: Buffer, pos: number): number {
  if (pos + RECORD_HEADER_BYTES > buf.length) return -1;
  const type = buf[pos]!;
  if (type !== REC_PUBLISH && type !== REC_DELIVERED && type !== REC_REMOVED) return -1;
  const end = pos + RECORD_HEADER_BYTES + buf.readUInt32BE(pos + 1);
  if (end > buf.length || (type !== REC_PUBLISH && end - pos !== RECORD_HEADER_BYTES + 8)) return -1;
  return crc32c(buf, pos + RECORD_HEADER_BYTES, end, crc32c(buf, pos, pos + 5)) === buf.readUInt32BE(pos + 5) ? end : -1;
}

/** The first offset after a damaged record at pos where a valid record starts, or -1. */
function resync(buf: Buffer, pos: number): number {
  // the damaged record's own length is usually intact (a flipped body byte): try where it says the next one starts
  if (pos + RECORD_HEADER_BYTES <= buf.length) {
    const next = pos + RECORD_HEADER_BYTES + buf.readUInt32BE(pos + 1);
    if (next > pos && next < buf.length && recordEndAt(buf, next) > 0) return next;
  }
  for (let p = pos + 1; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    const t = buf[p]!;
    if ((t === REC_PUBLISH || t === REC_DELIVERED || t === REC_REMOVED) && recordEndAt(buf, p) > 0) return p;
  }
  return -1;
}

function describeDamage(buf: Buffer, pos: number): string {
  const type = buf[pos];
  if (type === REC_PUBLISH && pos + RECORD_HEADER_BYTES + 8 <= buf.length) {
    return `a publish record (its id field reads ${buf.readDoubleBE(pos + RECORD_HEADER_BYTES)})`;
  }
  if ((type === REC_DELIVERED || type === REC_REMOVED) && pos + RECORD_HEADER_BYTES + 8 <= buf.length) {
    return `a ${type === REC_DELIVERED ? 'delivered' : 'removed'} record (its id field reads ${buf.readDoubleBE(pos + RECORD_HEADER_BYTES)})`;
  }
  return 'unreadable bytes';
}

class SegmentQueueStore implements QueueStore {
  readonly dir: string;
  readonly store: SegmentStore;
  private readonly fs: StoreFs;
  pending = new Writer(4096);
  fd = -1;
  segment = 0;
  /** bytes handed to writes in the current segment (including a write in flight) */
  segmentSize = 0;
  /** bytes of the current segment known written whole: a failed write is cut back to here */
  goodSize = 0;
  private nextId = 1;
  private readonly idSegment = new Map<number, number>();
  private readonly liveInSegment = new Map<number, number>();
  /** segment numbers on disc, ascending */
  private segs: number[] = [];
  /** segments written before records had checksums */
  private readonly oldFormat = new Set<number>();
  private recovered: RecoveredMessage[] = [];
  destroyed = false;
  dirty = false;
  /**
   * pending holds a publish record: it starts a group commit (and, without O_DSYNC, is fdatasync'ed even when nobody
   * waits for it). Delivered and removed records alone wait for another group (see LAZY_RECORDS_MS).
   */
  needsSync = false;
  // the group write in flight (one per queue at a time), kept in fields so a write allocates no closure
  private wBuf: Buffer | null = null;
  private wOff = 0;
  private wFd = -1;
  private wSync = false;
  private readonly onWriteBound: (err: NodeJS.ErrnoException | null, n: number) => void;
  private readonly onSyncBound: (err: NodeJS.ErrnoException | null) => void;

  constructor(store: SegmentStore, dir: string, vhost: string, name: string) {
    this.store = store;
    this.fs = store.fs;
    this.dir = dir;
    this.vhost = vhost;
    this.name = name;
    this.onWriteBound = (err, n) => this.onWrite(err, n);
    this.onSyncBound = (err) => this.onSync(err);
    this.fs.mkdirp(dir);
    const meta = join(dir, 'meta.json');
    if (!this.fs.exists(meta)) this.fs.replaceFile(meta, JSON.stringify({ vhost, name }));
    else this.tag = (JSON.parse(this.fs.readFile(meta).toString('utf8')) as { tag?: string }).tag ?? null;
    this.load();
    this.tryOpenSegment(this.segment + 1);
  }

  /** Segment numbers on disc, ascending; those in the format before checksums are noted in oldFormat. */
  private segments(): number[] {
    const out: number[] = [];
    for (const f of this.fs.list(this.dir)) {
      const m = /^seg\.(\d{10})(\.v2)?$/.exec(f);
      if (m === null) continue;
      out.push(Number(m[1]));
      if (m[2] === undefined) this.oldFormat.add(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  /** seg.<n>.v2: records with checksums; seg.<n>: the format before them (read, never written). */
  private segPath(n: number): string {
    return join(this.dir, `seg.${String(n).padStart(10, '0')}${this.oldFormat.has(n) ? '' : '.v2'}`);
  }

  private load(): void {
    const live = new Map<number, RecoveredMessage>();
    const r = new Reader(Buffer.alloc(0));
    const segs = this.segments();
    this.segs = segs.slice();
    for (const seg of segs) {
      const path = this.segPath(seg);
      const buf = this.fs.readFile(path);
      let pos = 0;
      const old = this.oldFormat.has(seg);
      while (pos < buf.length) {
        const type = buf[pos]!;
        if (old) {
          // the format before checksums: a record that does not parse ends what can be read of the file
          const end = pos + OLD_HEADER_BYTES <= buf.length ? pos + OLD_HEADER_BYTES + buf.readUInt32BE(pos + 1) : buf.length + 1;
          const known = type === OLD_PUBLISH || type === OLD_DELIVERED || type === OLD_REMOVED;
          if (known && end <= buf.length && this.apply(r, buf, type + (REC_PUBLISH - OLD_PUBLISH), pos + OLD_HEADER_BYTES, end, seg, live)) {
            pos = end;
            continue;
          }
          this.store.log(`${path}: offset ${pos}: unreadable record (a file without checksums, so nothing after it can be trusted): ${buf.length - pos} bytes cut off`);
          this.store.fs.truncatePath(path, pos);
          break;
        }
        const end = recordEndAt(buf, pos);
        if (end > 0 && this.apply(r, buf, type, pos + RECORD_HEADER_BYTES, end, seg, live)) {
          pos = end;
          continue;
        }
        const next = resync(buf, pos);
        if (next < 0) {
          // nothing valid follows: the torn tail a crash leaves mid-write (never confirmed), or damage up to the end
          this.store.log(`${path}: offset ${pos}: ${buf.length - pos} bytes (${describeDamage(buf, pos)}) at the end of the file fail their checksum (a torn write): cut off`);
          this.store.fs.truncatePath(path, pos);
          break;
        }
        this.store.log(`${path}: offset ${pos}: ${next - pos} bytes (${describeDamage(buf, pos)}) fail their checksum: dropped; the records after it are kept`);
        this.store.damaged++;
        pos = next;
      }
      this.segment = seg;
    }
    this.recovered = [...live.values()];
    this.collect();
  }

  /** Applies one record's payload buf[start, end); false when it does not parse. */
  private apply(r: Reader, buf: Buffer, type: number, start: number, end: number, seg: number, live: Map<number, RecoveredMessage>): boolean {
    r.reset(buf, start, end);
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
        if (end - start < 8) return false;
        const e = live.get(buf.readDoubleBE(start));
        if (e) e.redelivered = true;
      } else if (type === REC_REMOVED) {
        if (end - start < 8) return false;
        const id = buf.readDoubleBE(start);
        if (live.delete(id)) this.dropLive(id);
      } else return false;
    } catch {
      return false;
    }
    return true;
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
      this.fs.unlink(this.segPath(seg));
    }
  }

  /** Starts segment n; false (logged, fd -1) when the file cannot be created: the next group tries again. */
  private tryOpenSegment(n: number): boolean {
    try {
      this.fd = this.fs.openAppend(this.segPath(n));
    } catch (err) {
      this.fd = -1;
      this.store.fault(err as NodeJS.ErrnoException, `cannot create segment ${this.segPath(n)}`);
      return false;
    }
    this.segs.push(n);
    this.segment = n;
    this.segmentSize = 0;
    this.goodSize = 0;
    return true;
  }

  /**
   * Called by the store before a group write: start a new segment when this one is full, or when the last one could
   * not be created. False when the queue has no segment to write to.
   */
  prepareWrite(): boolean {
    if (this.fd >= 0 && this.segmentSize < SEGMENT_SIZE_BYTES) return true;
    if (this.fd >= 0) {
      // the previous group's write and sync finished before this one starts, so closing is safe
      this.fs.close(this.fd);
      this.fd = -1;
    }
    const ok = this.tryOpenSegment(this.segment + 1);
    this.collect();
    return ok;
  }

  append(msg: Message): number {
    const id = this.nextId++;
    const w = this.pending;
    this.needsSync = true;
    w.ensure(RECORD_HEADER_BYTES + 16);
    const start = w.pos;
    w.buf[start] = REC_PUBLISH;
    w.pos += RECORD_HEADER_BYTES;
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
    sealRecord(w, start);
    this.idSegment.set(id, this.segment);
    this.liveInSegment.set(this.segment, (this.liveInSegment.get(this.segment) ?? 0) + 1);
    this.touch(true);
    return id;
  }

  private idRecord(type: number, id: number): void {
    const w = this.pending;
    w.ensure(RECORD_HEADER_BYTES + 8);
    const start = w.pos;
    w.buf[start] = type;
    w.buf.writeDoubleBE(id, start + RECORD_HEADER_BYTES);
    w.pos += RECORD_HEADER_BYTES + 8;
    sealRecord(w, start);
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

  /** Drops the pending records without writing them (no segment to write to): the group fails. */
  discardPending(): void {
    this.dirty = false;
    this.pending.pos = 0;
  }

  /**
   * Writes the pending bytes as this queue's part of a group: a view of the pending buffer itself, which is reused
   * once written, so a group commit copies and allocates nothing. False when nothing was pending.
   */
  startWrite(sync: boolean): boolean {
    this.dirty = false;
    if (this.pending.pos === 0) return false;
    const b = this.pending.handOut();
    this.segmentSize += b.length;
    this.wBuf = b;
    this.wOff = 0;
    this.wFd = this.fd;
    this.wSync = sync;
    this.fs.write(this.fd, b, 0, b.length, this.onWriteBound);
    return true;
  }

  private onWrite(err: NodeJS.ErrnoException | null, n: number): void {
    const b = this.wBuf!;
    if (err === null && n > 0 && this.wOff + n < b.length) {
      // a short write (a disc filling up, a signal): write the rest; if the disc is full, the next call says so
      this.wOff += n;
      this.fs.write(this.wFd, b, this.wOff, b.length - this.wOff, this.onWriteBound);
      return;
    }
    if (err !== null || this.wOff + n < b.length) return this.failWrite(err ?? eio('write made no progress'));
    if (this.wSync) this.fs.fdatasync(this.wFd, this.onSyncBound);
    else this.finishWrite(true);
  }

  private onSync(err: NodeJS.ErrnoException | null): void {
    if (err !== null) this.failWrite(err);
    else this.finishWrite(true);
  }

  private finishWrite(ok: boolean): void {
    if (ok) this.goodSize += this.wBuf!.length;
    this.wBuf = null;
    this.pending.written();
    this.store.writeFinished(ok);
  }

  /**
   * A write or sync failed: nothing in it may be confirmed, and nothing confirmed later may sit behind its partial
   * record. Cut the segment back to its last whole group; if that fails too, leave the segment for a new one.
   */
  private failWrite(err: NodeJS.ErrnoException): void {
    this.store.fault(err, `write to ${this.segPath(this.segment)} failed`);
    if (!this.destroyed && this.fd === this.wFd) {
      try {
        this.fs.truncateSync(this.fd, this.goodSize);
        this.segmentSize = this.goodSize;
      } catch (e) {
        this.store.log(`${this.segPath(this.segment)}: cannot cut the failed write back to offset ${this.goodSize} (${(e as Error).message}): continuing in a new segment`);
        this.store.closeFd(this.fd);
        this.fd = -1;
        this.tryOpenSegment(this.segment + 1);
      }
    }
    this.finishWrite(false);
  }

  afterWrite(): void {
    this.collect();
  }

  private readonly vhost: string;
  private readonly name: string;
  tag: string | null = null;

  setTag(tag: string | null): void {
    this.tag = tag;
    const body = JSON.stringify(tag === null ? { vhost: this.vhost, name: this.name } : { vhost: this.vhost, name: this.name, tag });
    this.fs.replaceFile(join(this.dir, 'meta.json'), body);
  }

  destroy(): void {
    this.destroyed = true;
    this.pending.pos = 0;
    if (this.fd >= 0) this.store.closeFd(this.fd);
    this.fd = -1;
    this.store.forget(this);
    this.fs.removeTree(this.dir);
  }

  closeSync(): void {
    if (this.fd < 0) return;
    const w = this.pending;
    try {
      let off = 0;
      while (off < w.pos) {
        const n = this.fs.writeSync(this.fd, w.buf, off, w.pos - off);
        if (n <= 0) throw eio('write made no progress');
        off += n;
      }
      this.fs.fsyncSync(this.fd);
    } catch (err) {
      // only acks and deliveries can be pending here (publishes were waited for): they come back redelivered
      this.store.log(`${this.segPath(this.segment)}: final write at shutdown failed: ${(err as Error).message}`);
      try {
        this.fs.truncateSync(this.fd, this.goodSize);
      } catch {
        /* recovery skips the partial record by its checksum */
      }
    }
    w.pos = 0;
    this.fs.close(this.fd);
    this.fd = -1;
  }
}

export class SegmentStore implements MessageStore {
  readonly durable = true;
  readonly dir: string;
  readonly fs: StoreFs;
  private readonly logLine: (line: string) => void;
  private readonly faultListeners: StoreFaultListener[] = [];
  /** damaged records recovery dropped (with the records after them kept) */
  damaged = 0;
  /** writes and syncs that failed */
  faults = 0;
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
  // the group in flight
  private gDirty: SegmentQueueStore[] = [];
  private gWaiters: DurableWaiter[] = [];
  private gTokens: number[] = [];
  private gOutstanding = 0;
  private gFailed = false;

  constructor(dir: string, options: SegmentStoreOptions = {}) {
    this.dir = dir;
    this.fs = options.fs ?? nodeFs;
    this.logLine = options.log ?? ((line) => console.error(line));
    this.fs.mkdirp(dir);
    this.flushBound = () => this.flush();
  }

  log(line: string): void {
    this.logLine(line);
  }

  /** Hears every failed write or sync (the broker raises its disk alarm on one). */
  onFault(listener: StoreFaultListener): void {
    this.faultListeners.push(listener);
  }

  fault(err: NodeJS.ErrnoException, what: string): void {
    this.faults++;
    const code = err.code ?? 'EIO';
    this.log(`message store: ${what}: ${err.message}`);
    for (const l of this.faultListeners) l(code, err.message);
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
    return this.queues.has(dir) || this.fs.exists(dir);
  }

  /** Closes a file descriptor once no group write can still be using it (a reused fd number must never be written). */
  closeFd(fd: number): void {
    if (this.inFlight) this.fdsToClose.push(fd);
    else this.fs.close(fd);
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
    if (dirty.length === 0 && waiters.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.gDirty = dirty;
    this.gWaiters = waiters;
    this.gTokens = this.tokens;
    this.dirty = [];
    this.waiters = [];
    this.tokens = [];
    this.inFlight = true;
    this.gOutstanding = 1;
    this.gFailed = false;
    // (with O_DSYNC the write itself is durable)
    const syncAll = !this.fs.durableWrites && waiters.length > 0;
    for (const q of dirty) {
      if (q.destroyed) continue;
      if (!q.prepareWrite()) {
        // no segment to write to (the file could not be created): what it had pending is lost, so nothing is confirmed
        if (q.pending.pos > 0) this.gFailed = true;
        q.discardPending();
        continue;
      }
      const sync = !this.fs.durableWrites && (q.needsSync || syncAll);
      q.needsSync = false;
      this.gOutstanding++;
      if (!q.startWrite(sync)) this.gOutstanding--;
    }
    this.writeFinished(true);
  }

  /** One queue's part of the group in flight is done (ok: written whole, and synced where needed). */
  writeFinished(ok: boolean): void {
    if (!ok) this.gFailed = true;
    if (--this.gOutstanding > 0) return;
    this.inFlight = false;
    for (const fd of this.fdsToClose.splice(0)) this.fs.close(fd);
    const dirty = this.gDirty;
    const waiters = this.gWaiters;
    const tokens = this.gTokens;
    const failed = this.gFailed;
    this.gDirty = [];
    this.gWaiters = [];
    this.gTokens = [];
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
  }

  storedQueues(): { vhost: string; name: string }[] {
    const out: { vhost: string; name: string }[] = [];
    if (!this.fs.exists(this.dir)) return out;
    for (const d of this.fs.list(this.dir)) {
      try {
        out.push(JSON.parse(this.fs.readFile(join(this.dir, d, 'meta.json')).toString('utf8')) as { vhost: string; name: string });
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
