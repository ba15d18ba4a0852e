import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
