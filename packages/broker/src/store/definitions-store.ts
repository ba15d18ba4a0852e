// Durable definitions (users, vhosts, permissions, policies, parameters, durable exchanges, queues and bindings).
// JournalDefinitionsStore appends one line per change to definitions.log and rewrites the journal as a compact
// snapshot at boot. MemoryDefinitionsStore keeps nothing.
//
// A line is `<crc32c of the JSON, 8 hex digits> <JSON>`; lines of the older format (the JSON alone) are still read.
// A change is written whole and fdatasync'ed before the client gets its reply (declare-ok and friends): a write that
// fails (ENOSPC, EIO, a short write that makes no progress) is cut back off the file and the change fails with
// DefinitionsWriteError, so the client hears an error instead of an ok, and no later line ever follows a partial one.
// At boot, a last line that is incomplete or fails its checksum is a write that never finished (and was never
// acknowledged): it is cut off and logged. A damaged line with valid lines after it is damage to the disc: the node
// refuses to start, naming the file, line and byte offset, rather than guess what the record held.
import { rmSync, closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from './crc32c.ts';
import { ConnectionError, REPLY } from '../amqp/errors.ts';

export type DefKind = 'vhost' | 'user' | 'permission' | 'policy' | 'parameter' | 'exchange' | 'queue' | 'binding' | 'global';

export interface DefRecord {
  k: DefKind;
  key: string;
  /** absent = deleted */
  v?: unknown;
}

export type DefinitionMaps = Map<DefKind, Map<string, unknown>>;

export interface DefinitionsStore {
  readonly durable: boolean;
  /** true while the broker replays what load() returned: puts and removes are ignored */
  muted: boolean;
  load(): DefinitionMaps;
  put(kind: DefKind, key: string, value: unknown): void;
  remove(kind: DefKind, key: string): void;
  wipe(): void;
  close(): void;
}

export class MemoryDefinitionsStore implements DefinitionsStore {
  readonly durable = false;
  muted = false;
  private readonly maps: DefinitionMaps = new Map();
  load(): DefinitionMaps {
    return this.maps;
  }
  put(kind: DefKind, key: string, value: unknown): void {
    if (this.muted) return;
    let m = this.maps.get(kind);
    if (!m) this.maps.set(kind, (m = new Map()));
    m.set(key, value);
  }
  remove(kind: DefKind, key: string): void {
    if (this.muted) return;
    this.maps.get(kind)?.delete(key);
  }
  wipe(): void {
    this.maps.clear();
  }
  close(): void {}
}

/**
 * A change could not be written to the definitions journal (the disc is full or failing): the client's connection
 * is closed with 541 INTERNAL_ERROR naming the cause, instead of getting an ok for a change that is not stored.
 */
export class DefinitionsWriteError extends ConnectionError {
  /** ENOSPC, EIO, ... */
  readonly errno: string;
  constructor(errno: string, message: string) {
    super(REPLY.INTERNAL_ERROR, message);
    this.errno = errno;
  }
}

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

function writeAll(fd: number, bytes: Buffer): void {
  let done = 0;
  while (done < bytes.length) {
    const n = writeSync(fd, bytes, done, bytes.length - done);
    if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += n;
  }
}

function encodeLine(rec: DefRecord): Buffer {
  const json = Buffer.from(JSON.stringify(rec), 'utf8');
  const line = Buffer.allocUnsafe(9 + json.length + 1);
  line.write(crc32c(json).toString(16).padStart(8, '0'), 0, 'latin1');
  line[8] = 0x20;
  json.copy(line, 9);
  line[line.length - 1] = NEWLINE;
  return line;
}

/** The record on a line (without its newline), or null when the line does not check out. */
function decodeLine(line: Buffer): DefRecord | null {
  try {
    if (line[0] === OPEN_BRACE) return JSON.parse(line.toString('utf8')) as DefRecord; // the format before checksums
    if (line.length < 10 || line[8] !== 0x20) return null;
    const crc = Number.parseInt(line.toString('latin1', 0, 8), 16);
    if (!/^[0-9a-f]{8}$/.test(line.toString('latin1', 0, 8)) || crc32c(line, 9) !== crc) return null;
    return JSON.parse(line.toString('utf8', 9)) as DefRecord;
  } catch {
    return null;
  }
}

export class JournalDefinitionsStore implements DefinitionsStore {
  readonly durable = true;
  muted = false;
  private readonly path: string;
  private readonly log: (line: string) => void;
  private fd = -1;
  /** bytes of the journal known written whole: a failed write is cut back to here */
  private size = 0;
  /** a failed write could not be cut off: nothing more may be appended behind it until a restart cuts it */
  private broken: string | null = null;

  constructor(dir: string, log: (line: string) => void = (l) => console.error(l)) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'definitions.log');
    this.log = log;
  }

  load(): DefinitionMaps {
    const maps: DefinitionMaps = new Map();
    let keep = 0;
    if (existsSync(this.path)) {
      const bytes = readFileSync(this.path);
      let pos = 0;
      let line = 0;
      while (pos < bytes.length) {
        line++;
        const nl = bytes.indexOf(NEWLINE, pos);
        const end = nl < 0 ? bytes.length : nl;
        const rec = nl < 0 ? null : decodeLine(bytes.subarray(pos, end));
        if (rec === null) {
          if (end - pos === 0 && nl >= 0) {
            pos = nl + 1;
            continue;
          }
          if (!this.anyValidAfter(bytes, nl < 0 ? bytes.length : nl + 1)) {
            // a write that never finished (a crash, a full disc): it was never acknowledged
            this.log(`${this.path}:${line}: offset ${pos}: incomplete last record (${bytes.length - pos} bytes, a write that never finished): cut off`);
            break;
          }
          throw new Error(
            `${this.path}:${line}: offset ${pos}: record fails its checksum and valid records follow it, so it is not a torn write but damage; ` +
              `refusing to start rather than guess what it held (remove that line to start without it)`,
          );
        }
        let m = maps.get(rec.k);
        if (!m) maps.set(rec.k, (m = new Map()));
        if (rec.v === undefined) m.delete(rec.key);
        else m.set(rec.key, rec.v);
        pos = nl + 1;
        keep = pos;
      }
    }
    // compact: rewrite as a snapshot, then append to it
    const tmp = `${this.path}.tmp`;
    let out = '';
    for (const [k, m] of maps) for (const [key, v] of m) out += encodeLine({ k, key, v }).toString('utf8');
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeAll(fd, Buffer.from(out, 'utf8'));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.size = Buffer.byteLength(out);
    } catch (err) {
      // no room for the snapshot (a full disc): boot on the journal as it is, without its unfinished last record
      this.log(`${this.path}: cannot write the compacted journal (${(err as Error).message}): appending to the existing one`);
      try {
        unlinkSync(tmp);
      } catch {
        /* never created */
      }
      const fd = openSync(this.path, existsSync(this.path) ? 'r+' : 'w+', 0o600);
      try {
        ftruncateSync(fd, keep);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.size = keep;
    }
    this.fd = openSync(this.path, 'a', 0o600);
    this.broken = null;
    return maps;
  }

  private anyValidAfter(bytes: Buffer, from: number): boolean {
    let pos = from;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, pos);
      if (nl < 0) return false;
      if (nl > pos && decodeLine(bytes.subarray(pos, nl)) !== null) return true;
      pos = nl + 1;
    }
    return false;
  }

  put(kind: DefKind, key: string, value: unknown): void {
    this.append({ k: kind, key, v: value });
  }

  remove(kind: DefKind, key: string): void {
    this.append({ k: kind, key });
  }

  private append(rec: DefRecord): void {
    if (this.muted) return;
    if (this.fd < 0) throw new Error('definitions store not loaded');
    if (this.broken !== null) throw new DefinitionsWriteError('EIO', `cannot store definitions: ${this.broken}`);
    const line = encodeLine(rec);
    try {
      writeAll(this.fd, line);
      fdatasyncSync(this.fd);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      const what = `${this.path}: ${(err as Error).message}`;
      try {
        ftruncateSync(this.fd, this.size);
        fdatasyncSync(this.fd);
      } catch (e) {
        this.broken = `${what}; cutting the unfinished record failed too (${(e as Error).message})`;
        this.log(`${this.broken}: no definition changes are stored until a restart`);
      }
      throw new DefinitionsWriteError(code, `cannot store definitions: ${what}`);
    }
    this.size += line.length;
  }

  /** Removes everything (rabbitmqctl reset). */
  wipe(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch {
        /* every change was synced when it was made */
      }
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
