// A simulated file system for the broker's real SegmentStore (packages/broker/src/store/store-fs.ts): files in memory,
// each with the length known to be on the platter (synced) apart from what was only written. Like a disc without
// O_DSYNC (durableWrites false), so the store fdatasyncs its publish groups and leaves acks unsynced, as it does on
// such a platform. A crash (crashCopy) keeps each file's synced bytes, and of the unsynced ones none, a random prefix,
// or all but a torn last piece. Writes and syncs can be made to fail (ENOSPC, EIO) or come back short. Completions
// go through setImmediate, which the simulator's clock runs in a seeded order.
// The same disc serves the Raft log's FileStorage (RaftFs: synchronous calls, positional writes, renames): its writes
// and syncs fail and come back short under the same faults, and a crash keeps of its files what was synced. Directory
// entries (a created file, a rename) are durable at once, as FileStorage fsyncs the directory after each.
import type { DoneCallback, StoreFs, WriteCallback } from '../../packages/broker/src/store/store-fs.ts';
import type { RaftFs } from '../../packages/broker/src/cluster/raft/index.ts';

export interface Rng {
  float(): number;
  uint32(): number;
}

interface SimFile {
  data: Buffer;
  /** bytes of data that are on the platter */
  synced: number;
}

/** What the next write or sync does: a fault draws from these, per call, with these probabilities. */
export interface DiskFaults {
  /** a write fails with ENOSPC (nothing written), or writes part and fails the rest */
  enospc: number;
  /** a write or a sync fails with EIO */
  eio: number;
  /** a write comes back short (a part written) */
  short: number;
}

export const NO_FAULTS: DiskFaults = { enospc: 0, eio: 0, short: 0 };

function errno(code: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what} (simulated)`), { code });
}

export class SimFs implements StoreFs, RaftFs {
  readonly durableWrites = false;
  private readonly files = new Map<string, SimFile>();
  private readonly dirs = new Set<string>();
  private readonly fds = new Map<number, string>();
  private nextFd = 3;
  faults: DiskFaults = NO_FAULTS;
  /** faults injected so far, by kind (shared by the copies a crash makes) */
  readonly injected: { enospc: number; eio: number; short: number };

  constructor(
    private readonly rng: Rng,
    injected = { enospc: 0, eio: 0, short: 0 },
  ) {
    this.injected = injected;
  }

  // ---- the StoreFs interface

  mkdirp(path: string): void {
    this.dirs.add(path);
  }

  exists(path: string): boolean {
    return this.files.has(path) || this.dirs.has(path);
  }

  list(dir: string): string[] {
    const out = new Set<string>();
    const prefix = `${dir}/`;
    for (const p of [...this.files.keys(), ...this.dirs]) if (p.startsWith(prefix)) out.add(p.slice(prefix.length).split('/')[0]!);
    return [...out].sort();
  }

  readFile(path: string): Buffer {
    const f = this.files.get(path);
    if (f === undefined) throw errno('ENOENT', path);
    return Buffer.from(f.data);
  }

  replaceFile(path: string, data: string): void {
    // (a temporary file, fsync, rename: durable and atomic)
    const b = Buffer.from(data);
    this.files.set(path, { data: b, synced: b.length });
  }

  openAppend(path: string): number {
    if (!this.files.has(path)) this.files.set(path, { data: Buffer.alloc(0), synced: 0 });
    const fd = this.nextFd++;
    this.fds.set(fd, path);
    return fd;
  }

  write(fd: number, bytes: Uint8Array, offset: number, length: number, cb: WriteCallback): void {
    const f = this.file(fd);
    const roll = this.rng.float();
    const k = this.faults;
    if (roll < k.enospc) {
      this.injected.enospc++;
      // the disc fills up: part of the write lands, the call fails (the store's next call would get ENOSPC too)
      const part = this.rng.float() < 0.5 ? 0 : this.rng.uint32() % length;
      this.append(f, bytes, offset, part);
      setImmediate(() => cb(part > 0 ? null : errno('ENOSPC', 'no space left on device'), part));
      return;
    }
    if (roll < k.enospc + k.eio) {
      this.injected.eio++;
      setImmediate(() => cb(errno('EIO', 'i/o error'), 0));
      return;
    }
    if (roll < k.enospc + k.eio + k.short && length > 1) {
      this.injected.short++;
      const part = 1 + (this.rng.uint32() % (length - 1));
      this.append(f, bytes, offset, part);
      setImmediate(() => cb(null, part));
      return;
    }
    this.append(f, bytes, offset, length);
    setImmediate(() => cb(null, length));
  }

  writeSync(fd: number, bytes: Uint8Array, offset: number, length: number): number {
    this.append(this.file(fd), bytes, offset, length);
    return length;
  }

  fdatasync(fd: number, cb: DoneCallback): void {
    const f = this.file(fd);
    if (this.rng.float() < this.faults.eio) {
      this.injected.eio++;
      // (after a failed sync nothing written since the last good one can be trusted to be on the platter)
      setImmediate(() => cb(errno('EIO', 'i/o error on sync')));
      return;
    }
    const upTo = f.data.length;
    setImmediate(() => {
      if (f.synced < upTo && upTo <= f.data.length) f.synced = upTo;
      cb(null);
    });
  }

  fsyncSync(fd: number): void {
    const f = this.file(fd);
    f.synced = f.data.length;
  }

  truncateSync(fd: number, length: number): void {
    if (this.rng.float() < this.faults.eio) {
      this.injected.eio++;
      throw errno('EIO', 'i/o error on truncate');
    }
    this.cut(this.file(fd), length);
  }

  truncatePath(path: string, length: number): void {
    const f = this.files.get(path);
    if (f !== undefined) this.cut(f, length);
  }

  close(fd: number): void {
    this.fds.delete(fd);
  }

  unlink(path: string): void {
    this.files.delete(path);
  }

  removeTree(path: string): void {
    for (const p of [...this.files.keys()]) if (p === path || p.startsWith(`${path}/`)) this.files.delete(p);
    for (const d of [...this.dirs]) if (d === path || d.startsWith(`${path}/`)) this.dirs.delete(d);
  }

  // ---- the RaftFs interface (FileStorage: synchronous, positional)

  openFile(path: string, truncate: boolean): number {
    const f = this.files.get(path);
    if (f === undefined) {
      if (!truncate) throw errno('ENOENT', path);
      this.files.set(path, { data: Buffer.alloc(0), synced: 0 });
    } else if (truncate) this.cut(f, 0);
    const fd = this.nextFd++;
    this.fds.set(fd, path);
    return fd;
  }

  writeAt(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.file(fd);
    const roll = this.rng.float();
    const k = this.faults;
    let n = length;
    if (roll < k.enospc) {
      this.injected.enospc++;
      n = this.rng.float() < 0.5 ? 0 : this.rng.uint32() % length;
      if (n === 0) throw errno('ENOSPC', 'no space left on device');
    } else if (roll < k.enospc + k.eio) {
      this.injected.eio++;
      throw errno('EIO', 'i/o error');
    } else if (roll < k.enospc + k.eio + k.short && length > 1) {
      this.injected.short++;
      n = 1 + (this.rng.uint32() % (length - 1));
    }
    const head = f.data.length >= position ? f.data.subarray(0, position) : Buffer.concat([f.data, Buffer.alloc(position - f.data.length)]);
    const tail = f.data.length > position + n ? f.data.subarray(position + n) : Buffer.alloc(0);
    f.data = Buffer.concat([head, bytes.subarray(offset, offset + n), tail]);
    // (bytes overwritten are no longer known to be on the platter)
    if (position < f.synced) f.synced = position;
    return n;
  }

  datasync(fd: number): void {
    const f = this.file(fd);
    if (this.rng.float() < this.faults.eio) {
      this.injected.eio++;
      throw errno('EIO', 'i/o error on sync');
    }
    f.synced = f.data.length;
  }

  ftruncate(fd: number, length: number): void {
    if (this.rng.float() < this.faults.eio) {
      this.injected.eio++;
      throw errno('EIO', 'i/o error on truncate');
    }
    this.cut(this.file(fd), length);
  }

  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw errno('ENOENT', from);
    this.files.delete(from);
    this.files.set(to, f);
    for (const [fd, p] of this.fds) if (p === from) this.fds.set(fd, to);
  }

  removeFile(path: string): void {
    if (!this.files.delete(path)) throw errno('ENOENT', path);
  }

  syncDir(): void {
    // directory entries are durable at once here
  }

  // ---- the simulation

  /**
   * The disc as the next incarnation finds it after a crash now: every file keeps its synced bytes; of the rest,
   * nothing, a random prefix, or all but a torn last piece. The dying process keeps writing to this object.
   */
  crashCopy(): SimFs {
    const out = new SimFs(this.rng, this.injected);
    for (const d of this.dirs) out.dirs.add(d);
    for (const [path, f] of this.files) {
      const unsynced = f.data.length - f.synced;
      let keep = f.synced;
      if (unsynced > 0) {
        const r = this.rng.float();
        if (r < 0.4) keep = f.synced;
        else if (r < 0.8) keep = f.synced + (this.rng.uint32() % (unsynced + 1));
        else keep = f.data.length - 1 - (this.rng.uint32() % Math.min(unsynced, 64));
      }
      const data = Buffer.from(f.data.subarray(0, Math.max(f.synced, keep)));
      out.files.set(path, { data, synced: data.length });
    }
    return out;
  }

  private file(fd: number): SimFile {
    const path = this.fds.get(fd);
    const f = path === undefined ? undefined : this.files.get(path);
    // (a file deleted while open, as unlink leaves an open file: writes go nowhere anyone will read)
    if (f === undefined) return { data: Buffer.alloc(0), synced: 0 };
    return f;
  }

  private append(f: SimFile, bytes: Uint8Array, offset: number, length: number): void {
    if (length <= 0) return;
    f.data = Buffer.concat([f.data, bytes.subarray(offset, offset + length)]);
  }

  private cut(f: SimFile, length: number): void {
    if (length < f.data.length) f.data = Buffer.from(f.data.subarray(0, length));
    f.synced = Math.min(f.synced, length);
  }
}
