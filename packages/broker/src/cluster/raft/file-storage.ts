// Raft storage on disc, for disc nodes. A directory holds three kinds of file:
//
//   state          {term, votedFor}: replaced atomically (write state.tmp, fsync, rename, fsync the directory)
//   snapshot       the latest snapshot and the generation of the log file that follows it: replaced atomically
//   log.<gen>      append-only records, one per entry:  u32 length | u32 crc32(payload) | payload
//
// Every method returns only after fsync, so the node may answer an RPC afterwards (Raft Figure 2: "updated on
// stable storage before responding to RPCs"). A write or sync that fails (ENOSPC, EIO, a write making no progress)
// throws, so nothing is acknowledged (RaftNode drops the request it was handling and goes on), and what it wrote is
// cut back off the file; if even the cut fails, the storage refuses every later change until a later try of the cut
// succeeds (no entry may ever sit behind a partial one). A crash (kill -9,
// power loss) in the middle of an append leaves a torn or corrupt last record: load() cuts the file at the first
// record whose length or checksum does not check out when nothing valid follows it. Such an entry was never
// acknowledged (the append had not returned), so dropping it is safe. A damaged record with valid records after it
// is damage to the disc, not a torn write: load() refuses to start, naming the file and offset, since entries after
// it were acknowledged and a Raft log cannot skip one. Truncating a conflicting suffix is an ftruncate at the
// record's offset.
//
// A snapshot (compaction or InstallSnapshot) writes the retained entries to a NEW log file log.<gen+1> first, then
// the snapshot file naming that generation (atomic rename), then deletes the old log. A crash before the rename
// leaves the old snapshot and log in force (the new log file is ignored and removed on load); after it, the new.
//
// The files are reached through RaftFs (node:fs by default): the cluster simulator runs this same code on a simulated
// disc that loses what was not synced, tears the last write and fails writes with ENOSPC or EIO or writes them short.
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RaftStorage } from './storage.ts';
import type { LogEntry, Snapshot, StoredState } from './types.ts';

/** How commands and snapshot data become bytes. Default: JSON, with Uint8Array/Buffer and bigint preserved. */
export interface RaftCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

export const jsonCodec: RaftCodec = {
  encode(value) {
    return Buffer.from(
      JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
        const raw = this[key];
        if (raw instanceof Uint8Array) return { $bin: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
        if (typeof v === 'bigint') return { $big: v.toString() };
        return v;
      }),
      'utf8',
    );
  },
  decode(bytes) {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), (_key, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && typeof o.$bin === 'string') return Buffer.from(o.$bin, 'base64');
        if (keys.length === 1 && typeof o.$big === 'string') return BigInt(o.$big);
      }
      return v;
    });
  },
};

/** The synchronous file operations FileStorage performs. */
export interface RaftFs {
  mkdirp(path: string): void;
  list(dir: string): string[];
  /** The file's bytes; throws with code ENOENT when there is none. */
  readFile(path: string): Buffer;
  /** Opens a file for reading and writing: with `truncate` created or emptied, else an existing one. */
  openFile(path: string, truncate: boolean): number;
  /** Writes bytes[offset, offset+length) at `position`; may write less (the count is returned). */
  writeAt(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number;
  datasync(fd: number): void;
  fsyncSync(fd: number): void;
  ftruncate(fd: number, length: number): void;
  close(fd: number): void;
  rename(from: string, to: string): void;
  removeFile(path: string): void;
  /** Makes the directory's entries (a new file, a rename) durable. */
  syncDir(dir: string): void;
}

export const nodeRaftFs: RaftFs = {
  mkdirp: (path) => void mkdirSync(path, { recursive: true }),
  list: (dir) => readdirSync(dir),
  readFile: (path) => readFileSync(path),
  openFile: (path, truncate) => openSync(path, truncate ? 'w+' : 'r+'),
  writeAt: (fd, bytes, offset, length, position) => writeSync(fd, bytes, offset, length, position),
  datasync: (fd) => fdatasyncSync(fd),
  fsyncSync: (fd) => fsyncSync(fd),
  ftruncate: (fd, length) => ftruncateSync(fd, length),
  close: (fd) => closeSync(fd),
  rename: (from, to) => renameSync(from, to),
  removeFile: (path) => unlinkSync(path),
  syncDir(dir) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

export interface FileStorageOptions {
  codec?: RaftCodec;
  /** false skips fsync (tests that do not simulate power loss); default true. */
  fsync?: boolean;
  /** the file system (default node:fs); the simulator's disc in test/sim */
  fs?: RaftFs;
}

const HEADER = 8;
const SNAPSHOT_MAGIC = 0x52534e31; // "RSN1"

export class FileStorage implements RaftStorage {
  readonly dir: string;
  private readonly codec: RaftCodec;
  private readonly sync: boolean;
  private readonly fs: RaftFs;
  private logFd: number | undefined;
  private logGen = 0;
  /** Byte offset of each entry's record in the current log file, by position after the snapshot. */
  private offsets: number[] = [];
  private logSize = 0;
  private snapIndex = 0;
  private loaded = false;
  private closed = false;
  /** a failed write could not be cut back off the log: no further change is accepted */
  private broken: string | null = null;

  constructor(dir: string, options: FileStorageOptions = {}) {
    this.dir = dir;
    this.codec = options.codec ?? jsonCodec;
    this.sync = options.fsync ?? true;
    this.fs = options.fs ?? nodeRaftFs;
    this.fs.mkdirp(dir);
  }

  load(): StoredState {
    this.check();
    let term = 0;
    let votedFor: string | null = null;
    const stateBytes = readIfExists(this.fs, join(this.dir, 'state'));
    if (stateBytes !== undefined) {
      const s = JSON.parse(stateBytes.toString('utf8')) as { term: number; votedFor: string | null };
      term = s.term;
      votedFor = s.votedFor;
    }
    let snapshot: Snapshot | undefined;
    const snapBytes = readIfExists(this.fs, join(this.dir, 'snapshot'));
    if (snapBytes !== undefined) {
      const decoded = this.decodeSnapshot(snapBytes);
      snapshot = decoded.snapshot;
      this.logGen = decoded.logGen;
    }
    this.snapIndex = snapshot?.index ?? 0;
    // Leftovers of an interrupted write: temp files, and log files of other generations.
    const current = `log.${this.logGen}`;
    for (const name of this.fs.list(this.dir)) {
      if (name.endsWith('.tmp') || (name.startsWith('log.') && name !== current)) this.fs.removeFile(join(this.dir, name));
    }
    const path = join(this.dir, current);
    if (this.logFd !== undefined) this.fs.close(this.logFd); // loaded before (RaftNode.bootstrap, then the node)
    const bytes = readIfExists(this.fs, path) ?? Buffer.alloc(0);
    this.logFd = this.fs.openFile(path, bytes.length === 0);
    if (bytes.length === 0) this.fsyncDir(); // a new file: make its directory entry durable
    const entries: LogEntry[] = [];
    this.offsets = [];
    let offset = 0;
    for (;;) {
      const entry = offset + HEADER <= bytes.length ? this.entryAt(bytes, offset) : null;
      if (entry === null || entry.index !== this.snapIndex + entries.length + 1) break;
      entries.push(entry);
      this.offsets.push(offset);
      offset += HEADER + bytes.readUInt32BE(offset);
    }
    this.logSize = offset;
    if (offset < bytes.length) {
      const later = this.validRecordAfter(bytes, offset + 1, this.snapIndex + entries.length + 1);
      if (later >= 0) {
        throw new Error(
          `${path}: offset ${offset}: the record of entry ${this.snapIndex + entries.length + 1} is damaged (length or checksum) and valid records ` +
            `follow it (at offset ${later}): not a torn write but damage to the disc; refusing to start (the entries after it were acknowledged)`,
        );
      }
      this.fs.ftruncate(this.logFd, offset);
      this.fsyncFd(this.logFd);
    }
    this.loaded = true;
    return { term, votedFor, snapshot, entries };
  }

  /** The entry whose record starts at offset, or null when its length, checksum or encoding do not check out. */
  private entryAt(bytes: Buffer, offset: number): LogEntry | null {
    const length = bytes.readUInt32BE(offset);
    if (offset + HEADER + length > bytes.length) return null; // torn: the write did not finish
    const payload = bytes.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(payload) !== bytes.readUInt32BE(offset + 4)) return null;
    try {
      const entry = this.codec.decode(payload) as LogEntry;
      return typeof entry?.index === 'number' ? entry : null;
    } catch {
      return null;
    }
  }

  /** The offset of a valid record at or after `from` holding an entry at or past index `atLeast`, or -1. */
  private validRecordAfter(bytes: Buffer, from: number, atLeast: number): number {
    for (let p = from; p + HEADER <= bytes.length; p++) {
      if (p + HEADER + bytes.readUInt32BE(p) > bytes.length) continue;
      const e = this.entryAt(bytes, p);
      if (e !== null && e.index >= atLeast) return p;
    }
    return -1;
  }

  saveState(term: number, votedFor: string | null): void {
    this.check();
    this.replaceFile('state', Buffer.from(JSON.stringify({ term, votedFor }), 'utf8'));
  }

  append(entries: readonly LogEntry[]): void {
    this.check();
    if (entries.length === 0) return;
    const expected = this.snapIndex + this.offsets.length + 1;
    if (entries[0]!.index !== expected) throw new Error(`FileStorage.append: entry ${entries[0]!.index} does not follow ${expected - 1}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for (const e of entries) {
      const record = encodeRecord(this.codec.encode(e));
      this.offsets.push(this.logSize + size);
      chunks.push(record);
      size += record.length;
    }
    try {
      writeAll(this.fs, this.fd(), Buffer.concat(chunks, size), this.logSize);
      this.fsyncFd(this.fd());
    } catch (error) {
      this.offsets.length -= entries.length;
      this.cutBack(error as Error);
      throw error;
    }
    this.logSize += size;
  }

  /** A failed append: cut what it may have written, so no later record ever follows a partial one. */
  private cutBack(error: Error): void {
    try {
      this.fs.ftruncate(this.fd(), this.logSize);
      this.fs.datasync(this.fd());
    } catch (e) {
      this.broken = `a write failed (${error.message}) and cutting it back failed too (${(e as Error).message})`;
    }
  }

  truncateFrom(fromIndex: number): void {
    this.check();
    const position = fromIndex - this.snapIndex - 1;
    if (position >= this.offsets.length) return;
    const offset = position <= 0 ? 0 : this.offsets[position]!;
    this.fs.ftruncate(this.fd(), offset);
    this.fsyncFd(this.fd());
    this.offsets.length = Math.max(0, position);
    this.logSize = offset;
  }

  saveSnapshot(snapshot: Snapshot, entries: readonly LogEntry[]): void {
    this.check();
    const gen = this.logGen + 1;
    // 1. The retained entries, in the next generation's log file.
    const logName = `log.${gen}`;
    const fd = this.fs.openFile(join(this.dir, logName), true);
    const offsets: number[] = [];
    let size = 0;
    const chunks: Buffer[] = [];
    for (const e of entries) {
      const record = encodeRecord(this.codec.encode(e));
      offsets.push(size);
      chunks.push(record);
      size += record.length;
    }
    if (size > 0) writeAll(this.fs, fd, Buffer.concat(chunks, size), 0);
    this.fsyncFd(fd);
    // 2. The snapshot naming that generation: from here on, the new pair is what load() sees.
    const payload = this.codec.encode({ index: snapshot.index, term: snapshot.term, config: snapshot.config, data: snapshot.data, logGen: gen });
    const file = Buffer.alloc(12 + payload.length);
    file.writeUInt32BE(SNAPSHOT_MAGIC, 0);
    file.writeUInt32BE(payload.length, 4);
    file.writeUInt32BE(crc32(payload), 8);
    file.set(payload, 12);
    this.replaceFile('snapshot', file);
    // 3. The old log is garbage now.
    if (this.logFd !== undefined) this.fs.close(this.logFd);
    try {
      this.fs.removeFile(join(this.dir, `log.${this.logGen}`));
    } catch {
      // already gone
    }
    this.logFd = fd;
    this.logGen = gen;
    this.offsets = offsets;
    this.logSize = size;
    this.snapIndex = snapshot.index;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.logFd !== undefined) this.fs.close(this.logFd);
    this.logFd = undefined;
  }

  // ---------------------------------------------------------------------------------------------------------------

  private check(): void {
    if (this.closed) throw new Error(`FileStorage ${this.dir} is closed`);
    if (this.broken === null) return;
    // the cut is tried again: once it succeeds, the log ends at its last whole record and writes may go on
    try {
      this.fs.ftruncate(this.fd(), this.logSize);
      this.fs.datasync(this.fd());
      this.broken = null;
    } catch {
      throw Object.assign(new Error(`FileStorage ${this.dir}: ${this.broken}; no change is accepted until the cut succeeds`), { code: 'EIO' });
    }
  }

  private fd(): number {
    if (!this.loaded || this.logFd === undefined) throw new Error('FileStorage: load() first');
    return this.logFd;
  }

  private fsyncFd(fd: number): void {
    if (this.sync) this.fs.datasync(fd);
  }

  /** Atomic replace: tmp file, fsync, rename, fsync of the directory (so the rename itself is durable). */
  private replaceFile(name: string, bytes: Uint8Array): void {
    const tmp = join(this.dir, `${name}.tmp`);
    const fd = this.fs.openFile(tmp, true);
    try {
      writeAll(this.fs, fd, bytes, 0);
      if (this.sync) this.fs.fsyncSync(fd);
    } finally {
      this.fs.close(fd);
    }
    this.fs.rename(tmp, join(this.dir, name));
    this.fsyncDir();
  }

  private fsyncDir(): void {
    if (this.sync) this.fs.syncDir(this.dir);
  }

  private decodeSnapshot(bytes: Buffer): { snapshot: Snapshot; logGen: number } {
    if (bytes.length < 12 || bytes.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new Error(`${this.dir}/snapshot: not a snapshot file`);
    const length = bytes.readUInt32BE(4);
    const payload = bytes.subarray(12, 12 + length);
    // The file is replaced by rename, so a torn snapshot means the disc itself is damaged: refuse to guess.
    if (payload.length !== length || crc32(payload) !== bytes.readUInt32BE(8)) throw new Error(`${this.dir}/snapshot: checksum mismatch`);
    const s = this.codec.decode(payload) as Snapshot & { logGen: number };
    return { snapshot: { index: s.index, term: s.term, config: s.config, data: s.data }, logGen: s.logGen };
  }
}

function encodeRecord(payload: Uint8Array): Buffer {
  const record = Buffer.alloc(HEADER + payload.length);
  record.writeUInt32BE(payload.length, 0);
  record.writeUInt32BE(crc32(payload), 4);
  record.set(payload, HEADER);
  return record;
}

function writeAll(fs: RaftFs, fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    const n = fs.writeAt(fd, bytes, done, bytes.length - done, position + done);
    // (a short write is continued; one that writes nothing would loop forever)
    if (n <= 0) throw Object.assign(new Error(`write made no progress at offset ${position + done}`), { code: 'EIO' });
    done += n;
  }
}

function readIfExists(fs: RaftFs, path: string): Buffer | undefined {
  try {
    return fs.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE), as in zlib. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
