// FileStorage: what is written survives reopening, a torn or corrupt tail is cut off, a snapshot replaces the log
// atomically, and a process killed with SIGKILL in the middle of appending loses nothing it had acknowledged.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage, crc32, jsonCodec } from './file-storage.ts';
import type { LogEntry } from './types.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raft-fs-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cmd(index: number, term: number, command: unknown = `c${index}`): LogEntry {
  return { index, term, type: 'command', command };
}

function reopen(dir: string): { storage: FileStorage; state: ReturnType<FileStorage['load']> } {
  const storage = new FileStorage(dir);
  return { storage, state: storage.load() };
}

describe('FileStorage', () => {
  it('keeps term, vote and log across reopening', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    expect(s.load()).toEqual({ term: 0, votedFor: null, snapshot: undefined, entries: [] });
    s.saveState(3, 'rabbit@b');
    s.append([cmd(1, 1), cmd(2, 1)]);
    s.append([{ index: 3, term: 3, type: 'noop' }, { index: 4, term: 3, type: 'config', config: { voters: ['a'], learners: ['b'] } }]);
    s.close();
    const { storage, state } = reopen(dir);
    expect(state.term).toBe(3);
    expect(state.votedFor).toBe('rabbit@b');
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(state.entries[3]).toEqual({ index: 4, term: 3, type: 'config', config: { voters: ['a'], learners: ['b'] } });
    expect(() => storage.append([cmd(6, 3)])).toThrow(/does not follow 4/);
    storage.close();
  });

  it('truncates a conflicting suffix', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    s.load();
    s.append([cmd(1, 1), cmd(2, 1), cmd(3, 1), cmd(4, 1)]);
    s.truncateFrom(3);
    s.append([cmd(3, 2, 'new3')]);
    s.truncateFrom(10); // beyond the end: nothing
    s.close();
    const { storage, state } = reopen(dir);
    expect(state.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 2]]);
    storage.truncateFrom(1);
    storage.close();
    expect(reopen(dir).state.entries).toEqual([]);
  });

  it('cuts a torn last record (a crash mid-write) and goes on appending after it', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    s.load();
    s.append([cmd(1, 1), cmd(2, 1), cmd(3, 1)]);
    s.close();
    const log = join(dir, 'log.0');
    const good = statSync(log).size;
    // Half of a fourth record: its header promises more bytes than were written.
    const payload = jsonCodec.encode(cmd(4, 1));
    const header = Buffer.alloc(8);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    appendFileSync(log, Buffer.concat([header, Buffer.from(payload).subarray(0, 5)]));
    const { storage, state } = reopen(dir);
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(statSync(log).size).toBe(good);
    storage.append([cmd(4, 2, 'again')]);
    storage.close();
    expect(reopen(dir).state.entries.map((e) => (e.type === 'command' ? e.command : undefined))).toEqual(['c1', 'c2', 'c3', 'again']);
  });

  it('cuts a last record whose checksum does not match, and a header cut in half', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    s.load();
    s.append([cmd(1, 1), cmd(2, 1)]);
    s.close();
    const log = join(dir, 'log.0');
    const bytes = readFileSync(log);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff; // flip a byte in the last payload
    writeFileSync(log, bytes);
    expect(reopen(dir).state.entries.map((e) => e.index)).toEqual([1]);
    appendFileSync(log, Buffer.from([0, 0, 0])); // three bytes of a header
    const { storage, state } = reopen(dir);
    expect(state.entries.map((e) => e.index)).toEqual([1]);
    storage.close();
  });

  it('refuses to start over a damaged record with valid records after it, naming file and offset', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    s.load();
    s.append([cmd(1, 1), cmd(2, 1, 'second'), cmd(3, 1)]);
    s.close();
    const log = join(dir, 'log.0');
    const bytes = readFileSync(log);
    const at = bytes.indexOf('second');
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(log, bytes);
    const offset = 8 + jsonCodec.encode(cmd(1, 1)).length;
    expect(() => reopen(dir)).toThrow(`${log}: offset ${offset}: the record of entry 2 is damaged`);
    expect(() => reopen(dir)).toThrow(/valid records follow it .* refusing to start/);
    // the file is left as it was, for the operator to look at
    expect(readFileSync(log).equals(bytes)).toBe(true);
  });

  it.runIf(process.getuid?.() === 0)('a failed append (a full disc) throws, leaves nothing of itself in the file, and appends again once there is room', () => {
    const dir = tempDir();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    try {
      const s = new FileStorage(join(mnt, 'raft'));
      s.load();
      const filler = join(mnt, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(60 * 1024));
      } catch {
        /* full */
      }
      let index = 1;
      let failure: unknown = null;
      for (; index < 200 && failure === null; index++) {
        try {
          s.append([cmd(index, 1, 'x'.repeat(900))]);
        } catch (err) {
          failure = err;
        }
      }
      expect((failure as NodeJS.ErrnoException).code).toBe('ENOSPC');
      const failed = index - 1;
      rmSync(filler);
      s.append([cmd(failed, 2, 'retried')]);
      s.close();
      const { storage, state } = reopen(join(mnt, 'raft'));
      expect(state.entries.map((e) => e.index)).toEqual(Array.from({ length: failed }, (_, i) => i + 1));
      expect(state.entries.at(-1)!.term).toBe(2);
      storage.close();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });

  it('replaces snapshot and log together; a crash before the switch leaves the old pair', () => {
    const dir = tempDir();
    const s = new FileStorage(dir);
    s.load();
    s.append([cmd(1, 1), cmd(2, 1), cmd(3, 1), cmd(4, 2), cmd(5, 2)]);
    const snap = { index: 3, term: 1, config: { voters: ['a'], learners: [] }, data: { queues: ['q1'], blob: Buffer.from([1, 2, 3]) } };
    s.saveSnapshot(snap, [cmd(4, 2), cmd(5, 2)]);
    s.append([cmd(6, 2)]);
    s.truncateFrom(6);
    s.append([cmd(6, 3)]);
    s.close();
    expect(readdirSync(dir).sort()).toEqual(['log.1', 'snapshot']);
    let { storage, state } = reopen(dir);
    expect(state.snapshot).toEqual(snap);
    expect(Buffer.isBuffer((state.snapshot!.data as { blob: Buffer }).blob)).toBe(true);
    expect(state.entries.map((e) => [e.index, e.term])).toEqual([[4, 2], [5, 2], [6, 3]]);
    storage.close();
    // An interrupted second snapshot: the next log file was written, the snapshot file not yet replaced.
    writeFileSync(join(dir, 'log.2'), Buffer.from('partial'));
    writeFileSync(join(dir, 'snapshot.tmp'), Buffer.from('partial'));
    ({ storage, state } = reopen(dir));
    expect(state.snapshot?.index).toBe(3);
    expect(state.entries.map((e) => e.index)).toEqual([4, 5, 6]);
    expect(readdirSync(dir).sort()).toEqual(['log.1', 'snapshot']);
    // An installed snapshot past the log discards it entirely.
    storage.saveSnapshot({ ...snap, index: 10, term: 4 }, []);
    storage.append([cmd(11, 4)]);
    storage.close();
    ({ storage, state } = reopen(dir));
    expect(state.snapshot?.index).toBe(10);
    expect(state.entries.map((e) => e.index)).toEqual([11]);
    storage.close();
  });

  it('encodes buffers and bigints in commands', () => {
    const value = { args: { 'x-max-length': 10n, bin: Buffer.from('hi'), u8: new Uint8Array([7]) }, list: [1, 'a', null] };
    const back = jsonCodec.decode(jsonCodec.encode(value)) as typeof value;
    expect(back.args['x-max-length']).toBe(10n);
    expect(Buffer.from(back.args.bin).toString()).toBe('hi');
    expect([...back.args.u8]).toEqual([7]);
    expect(back.list).toEqual([1, 'a', null]);
  });

  it('a process killed with SIGKILL while appending loses no acknowledged entry', async () => {
    const dir = tempDir();
    const child = join(tempDir(), 'writer.mts');
    const storageUrl = new URL('./file-storage.ts', import.meta.url).href;
    writeFileSync(
      child,
      `import { FileStorage } from ${JSON.stringify(storageUrl)};
const s = new FileStorage(process.argv[2]);
const st = s.load();
let next = (st.snapshot?.index ?? 0) + st.entries.length + 1;
let term = st.term;
for (;;) {
  const batch = [];
  for (let i = 0; i < 1 + (next % 7); i++) batch.push({ index: next + i, term, type: 'command', command: { n: next + i, pad: 'x'.repeat(next % 300) } });
  s.append(batch);
  next += batch.length;
  if (next % 11 === 0) { term++; s.saveState(term, 'me'); }
  if (next % 97 === 0) s.saveSnapshot({ index: next - 1, term, config: { voters: ['me'], learners: [] }, data: { upTo: next - 1 } }, []);
  process.stdout.write(next - 1 + ' ' + term + '\\n');
}
`,
    );
    for (let round = 0; round < 3; round++) {
      const acked = await new Promise<{ index: number; term: number }>((resolve, reject) => {
        const proc = spawn(process.execPath, ['--conditions=warren-source', '--import', 'tsx', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
        let last = { index: 0, term: 0 };
        let buffered = '';
        let lines = 0;
        proc.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const parts = buffered.split('\n');
          buffered = parts.pop()!;
          for (const line of parts) {
            const [i, t] = line.split(' ').map(Number);
            last = { index: i!, term: t! };
            if (++lines === 300) proc.kill('SIGKILL');
          }
        });
        proc.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(last) : reject(new Error(`writer exited without being killed (${signal})`))));
      });
      const { storage, state } = reopen(dir);
      const base = state.snapshot?.index ?? 0;
      const lastIndex = base + state.entries.length;
      expect(lastIndex).toBeGreaterThanOrEqual(acked.index);
      expect(state.term).toBeGreaterThanOrEqual(acked.term);
      state.entries.forEach((e, i) => {
        expect(e.index).toBe(base + 1 + i);
        expect((e as { command: { n: number } }).command.n).toBe(e.index);
      });
      storage.close();
    }
  }, 30_000);
});
