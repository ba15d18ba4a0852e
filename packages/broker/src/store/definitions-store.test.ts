// The definitions journal: checksummed lines, a torn last line cut at boot, damage in the middle refused by name,
// and a change that cannot be written (a full disc) failing instead of being acknowledged.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefinitionsWriteError, JournalDefinitionsStore } from './definitions-store.ts';

const dirs: string[] = [];
const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warren-defs-'));
  dirs.push(d);
  return d;
}

function queues(s: JournalDefinitionsStore): string[] {
  const out = [...(s.load().get('queue')?.keys() ?? [])];
  s.close();
  return out;
}

describe('JournalDefinitionsStore', () => {
  it('writes checksummed lines and still reads lines of the older format', () => {
    const d = tempDir();
    writeFileSync(join(d, 'definitions.log'), '{"k":"queue","key":"/\\u0000old","v":{"name":"old"}}\n');
    const s = new JournalDefinitionsStore(d, () => {});
    expect([...(s.load().get('queue')?.keys() ?? [])]).toEqual(['/\u0000old']);
    s.put('queue', '/\u0000new', { name: 'new' });
    s.close();
    const text = readFileSync(join(d, 'definitions.log'), 'utf8');
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^[0-9a-f]{8} \{/);
    expect(queues(new JournalDefinitionsStore(d, () => {}))).toEqual(['/\u0000old', '/\u0000new']);
  });

  it('cuts an unfinished last record (a write that never completed) and logs it', () => {
    const d = tempDir();
    const s = new JournalDefinitionsStore(d, () => {});
    s.load();
    s.put('queue', 'a', { name: 'a' });
    s.put('queue', 'b', { name: 'b' });
    s.close();
    appendFileSync(join(d, 'definitions.log'), '1234abcd {"k":"queue","key":"c","v":{"na');
    const log: string[] = [];
    expect(queues(new JournalDefinitionsStore(d, (l) => log.push(l)))).toEqual(['a', 'b']);
    expect(log.join('\n')).toMatch(/definitions\.log:3: offset \d+: incomplete last record .* cut off/);
  });

  it('cuts a last line that fails its checksum, but refuses to start over a damaged line with valid lines after it', () => {
    const d = tempDir();
    const s = new JournalDefinitionsStore(d, () => {});
    s.load();
    for (const k of ['a', 'b', 'c']) s.put('queue', k, { name: k });
    s.close();
    const path = join(d, 'definitions.log');
    const good = readFileSync(path, 'utf8');
    // the last line damaged: a torn write, cut
    writeFileSync(path, good.replace('"name":"c"', '"name":"X"'));
    expect(queues(new JournalDefinitionsStore(d, () => {}))).toEqual(['a', 'b']);
    // a middle line damaged: refused, naming file, line and offset
    writeFileSync(path, good.replace('"name":"b"', '"name":"X"'));
    const offset = good.indexOf('\n') + 1;
    expect(() => queues(new JournalDefinitionsStore(d, () => {}))).toThrow(`${path}:2: offset ${offset}: record fails its checksum and valid records follow it`);
  });

  it.runIf(process.getuid?.() === 0)('fails a change the full disc cannot take, leaves no partial line, and stores later changes once there is room', () => {
    const d = tempDir();
    const mnt = join(d, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    mounts.push(mnt);
    const s = new JournalDefinitionsStore(mnt, () => {});
    s.load();
    // fill the disc, leaving less than one record's room
    const filler = join(mnt, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(64 * 1024));
    } catch {
      /* filled up to the last byte */
    }
    const big = 'x'.repeat(3000);
    let stored = 0;
    let failure: unknown = null;
    for (let i = 0; i < 100 && failure === null; i++) {
      try {
        s.put('queue', `q${i}`, { name: `q${i}`, pad: big });
        stored++;
      } catch (err) {
        failure = err;
      }
    }
    expect(failure).toBeInstanceOf(DefinitionsWriteError);
    expect((failure as DefinitionsWriteError).errno).toBe('ENOSPC');
    expect((failure as DefinitionsWriteError).code).toBe(541);
    // what is on disc is exactly the changes that succeeded
    const text = readFileSync(join(mnt, 'definitions.log'), 'utf8');
    expect(text.endsWith('\n') || text === '').toBe(true);
    expect(text.split('\n').filter((l) => l !== '').length).toBe(stored);
    unlinkSync(filler);
    s.put('queue', 'after', { name: 'after' });
    s.close();
    const log: string[] = [];
    const names = queues(new JournalDefinitionsStore(mnt, (l) => log.push(l)));
    expect(names.length).toBe(stored + 1);
    expect(names.at(-1)).toBe('after');
    expect(log).toEqual([]);
  });
});
