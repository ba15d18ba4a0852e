import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpBatch } from './ip-batch.ts';

const root = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
if (!root) console.warn('[vrrp] skipping ip -batch tests: not root or no ip netns');

describe.skipIf(!root)('IpBatch (in a namespace of its own)', () => {
  const ns = `vipb${process.pid}`;
  const batch = new IpBatch(ns);
  beforeAll(() => {
    spawnSync('ip', ['netns', 'add', ns]);
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  });
  afterAll(() => {
    batch.close();
    spawnSync('ip', ['netns', 'del', ns]);
  });
  const addrs = (): string => spawnSync('ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' }).stdout;

  it('runs commands as they arrive and reports failures per command', async () => {
    const add = ['addr', 'add', '10.213.77.1/32', 'dev', 'lo'];
    expect(await batch.run([add])).toEqual([undefined]);
    expect(addrs()).toContain('10.213.77.1/32');
    const again = await batch.run([add, ['addr', 'add', '10.213.77.2/32', 'dev', 'lo']]);
    expect(again![0]).toMatch(/already assigned|File exists/);
    expect(again![1]).toBeUndefined();
    expect(await batch.run([['addr', 'del', '10.213.77.1/32', 'dev', 'lo'], ['addr', 'del', '10.213.77.2/32', 'dev', 'lo']])).toEqual([
      undefined,
      undefined,
    ]);
    expect(addrs()).not.toContain('10.213.77.');
    const gone = await batch.run([['addr', 'del', '10.213.77.1/32', 'dev', 'lo']]);
    expect(gone![0]).toMatch(/Address not found|Cannot assign requested address/);
  });

  it('refuses arguments its line syntax cannot carry (the caller falls back)', async () => {
    expect(await batch.run([['addr', 'add', '10.213.77.3/32', 'dev', 'lo', 'label', 'a b']])).toBeUndefined();
  });
});
