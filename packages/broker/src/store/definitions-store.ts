// Durable definitions (users, vhosts, permissions, policies, parameters, durable exchanges, queues and bindings).
// JournalDefinitionsStore appends one JSON line per change to definitions.log (written before the client gets its
// reply; fsync batched) and rewrites the journal as a compact snapshot at boot. MemoryDefinitionsStore keeps nothing.
import { rmSync, closeSync, existsSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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

export class JournalDefinitionsStore implements DefinitionsStore {
  readonly durable = true;
  muted = false;
  private readonly path: string;
  private fd = -1;
  private syncScheduled = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'definitions.log');
  }

  load(): DefinitionMaps {
    const maps: DefinitionMaps = new Map();
    if (existsSync(this.path)) {
      const text = readFileSync(this.path, 'utf8');
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === '') continue;
        let rec: DefRecord;
        try {
          rec = JSON.parse(line) as DefRecord;
        } catch {
          // a torn last line after a crash is expected; anything else is corruption worth failing on
          if (i >= lines.length - 2) break;
          throw new Error(`${this.path}:${i + 1}: corrupt definitions record`);
        }
        let m = maps.get(rec.k);
        if (!m) maps.set(rec.k, (m = new Map()));
        if (rec.v === undefined) m.delete(rec.key);
        else m.set(rec.key, rec.v);
      }
    }
    // compact: rewrite as a snapshot, then append to it
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    let out = '';
    for (const [k, m] of maps) for (const [key, v] of m) out += JSON.stringify({ k, key, v }) + '\n';
    writeSync(fd, out);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, 'a', 0o600);
    return maps;
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
    // the write reaches the OS before the client's reply, so a killed process loses nothing; fsync follows shortly
    writeSync(this.fd, JSON.stringify(rec) + '\n');
    if (!this.syncScheduled) {
      this.syncScheduled = true;
      setImmediate(() => {
        this.syncScheduled = false;
        if (this.fd >= 0) fdatasync(this.fd, () => {});
      });
    }
  }

  /** Removes everything (rabbitmqctl reset). */
  wipe(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  close(): void {
    if (this.fd >= 0) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
