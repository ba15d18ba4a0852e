import { statSync, watch } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCookieFile } from './cookie-file.ts';

describe('readCookieFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-cookie-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a missing file with a random cookie and mode 0600, and reads the same cookie back', async () => {
    const path = join(dir, '.erlang.cookie');
    const cookie = await readCookieFile(path);
    expect(cookie).toMatch(/^[A-Z]{20}$/);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe(cookie);
    expect(await readCookieFile(path)).toBe(cookie);
    expect(await readCookieFile(join(dir, 'other'))).not.toBe(cookie);
  });

  it('creates the file with its cookie already in it, so a node started alongside never reads it empty', async () => {
    // Nodes started together race to create one shared cookie file; one that found it created but not yet written
    // failed with "cookie file ... is empty". Watch the directory: every time the file shows up, it is whole.
    const path = join(dir, 'shared');
    const seen: number[] = [];
    const watcher = watch(dir, (_event, name) => {
      if (name !== 'shared') return;
      try {
        seen.push(statSync(path).size);
      } catch {
        // deleted between rounds
      }
    });
    try {
      for (let round = 0; round < 5; round++) {
        await rm(path, { force: true });
        const got = await Promise.all(Array.from({ length: 8 }, () => readCookieFile(path)));
        const inFile = await readFile(path, 'utf8');
        expect(got).toEqual(got.map(() => inFile));
        await sleep(20); // let the watcher report this round
      }
    } finally {
      watcher.close();
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((size) => size !== 20)).toEqual([]);
    // no temporary files left behind
    expect(await readdir(dir)).toEqual(['shared']);
  });

  it('refuses a file readable by group or others, naming the file and its mode', async () => {
    const path = join(dir, '.erlang.cookie');
    await writeFile(path, 'SECRET\n');
    await chmod(path, 0o644);
    await expect(readCookieFile(path)).rejects.toThrow(`cookie file ${path} has mode 0644; it must be accessible by its owner only`);
    await chmod(path, 0o640);
    await expect(readCookieFile(path)).rejects.toMatchObject({ code: 'COOKIE_FILE' });
    await chmod(path, 0o600);
    expect(await readCookieFile(path)).toBe('SECRET');
  });

  it('refuses an empty file and, with create: false, a missing one', async () => {
    const path = join(dir, 'empty');
    await writeFile(path, '  \n', { mode: 0o600 });
    await expect(readCookieFile(path)).rejects.toThrow('is empty');
    await expect(readCookieFile(join(dir, 'missing'), { create: false })).rejects.toThrow('does not exist');
  });
});
