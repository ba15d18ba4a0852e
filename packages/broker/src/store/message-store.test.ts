// One conformance suite for every MessageStore (STYLE: aedes' abstract persistence tests).
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageStore } from './message-store.ts';
import { MemoryStore } from './memory-store.ts';
import { LAZY_RECORDS_MS, SegmentStore, SEGMENT_SIZE_BYTES } from './segment-store.ts';
import { Message } from '../queue/message.ts';

interface Impl {
  name: string;
  create(): MessageStore;
  /** what a restart sees: a new store over the same data (memory: the same object) */
  reopen(prev: MessageStore): Promise<MessageStore>;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const impls: Impl[] = [
  { name: 'MemoryStore', create: () => new MemoryStore(), reopen: async (prev) => prev },
  {
    name: 'SegmentStore',
    create: () => {
      const d = mkdtempSync(join(tmpdir(), 'warren-store-'));
      dirs.push(d);
      return new SegmentStore(d);
    },
    reopen: async (prev) => {
      await prev.close();
      return new SegmentStore((prev as SegmentStore).dir);
    },
  },
];

function msg(body: string, props: Message['properties'] = { deliveryMode: 2 }): Message {
  return new Message('ex', 'rk', props, null, Buffer.from(body), 1_700_000_000_000);
}

function durable(store: MessageStore): Promise<number> {
  return new Promise((resolve) => store.whenDurable({ onDurable: (t) => resolve(t) }, 42));
}

for (const impl of impls) {
  describe(`${impl.name} conformance`, () => {
    it('recovers appended messages in order with their properties', async () => {
      const s = impl.create();
      const q = s.openQueue('/', 'q');
      const a = q.append(msg('one', { deliveryMode: 2, headers: { h: 1 }, priority: 3 }));
      const b = q.append(msg('two'));
      expect(b).toBeGreaterThan(a);
      expect(await durable(s)).toBe(42);
      const s2 = await impl.reopen(s);
      const rec = s2.openQueue('/', 'q').recover();
      expect(rec.map((r) => r.msg.body.toString())).toEqual(['one', 'two']);
      expect(rec[0]!.msg.properties).toMatchObject({ deliveryMode: 2, headers: { h: 1 }, priority: 3 });
      expect(rec[0]!.msg.exchange).toBe('ex');
      expect(rec[0]!.msg.routingKey).toBe('rk');
      expect(rec.every((r) => !r.redelivered)).toBe(true);
      await s2.close();
    });

    it('does not bring back removed or purged messages, and marks delivered ones redelivered', async () => {
      const s = impl.create();
      const q = s.openQueue('/', 'q');
      const ids = ['a', 'b', 'c', 'd'].map((x) => q.append(msg(x)));
      q.remove(ids[0]!);
      q.delivered(ids[2]!);
      await durable(s);
      const s2 = await impl.reopen(s);
      const q2 = s2.openQueue('/', 'q');
      const rec = q2.recover();
      expect(rec.map((r) => [r.msg.body.toString(), r.redelivered])).toEqual([['b', false], ['c', true], ['d', false]]);
      for (const r of rec) q2.remove(r.id);
      q2.append(msg('e'));
      q2.purge();
      await durable(s2);
      const s3 = await impl.reopen(s2);
      expect(s3.openQueue('/', 'q').recover()).toEqual([]);
      await s3.close();
    });

    it('keeps queues apart and forgets a destroyed queue', async () => {
      const s = impl.create();
      s.openQueue('/', 'a').append(msg('for-a'));
      const b = s.openQueue('other', 'a');
      b.append(msg('for-other-a'));
      await durable(s);
      b.destroy();
      const s2 = await impl.reopen(s);
      expect(s2.openQueue('/', 'a').recover().map((r) => r.msg.body.toString())).toEqual(['for-a']);
      expect(s2.openQueue('other', 'a').recover()).toEqual([]);
      await s2.close();
    });

    it('continues ids after a restart so new messages never collide with recovered ones', async () => {
      const s = impl.create();
      const first = s.openQueue('/', 'q').append(msg('x'));
      await durable(s);
      const s2 = await impl.reopen(s);
      const q2 = s2.openQueue('/', 'q');
      q2.recover();
      expect(q2.append(msg('y'))).toBeGreaterThan(first);
      await s2.close();
    });
  });
}

describe('SegmentStore files', () => {
  it('rolls segments and deletes fully removed ones, oldest first', async () => {
    const d = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(d);
    const s = new SegmentStore(d);
    const q = s.openQueue('/', 'big');
    const body = 'x'.repeat(64 * 1024);
    const ids: number[] = [];
    const n = Math.ceil((SEGMENT_SIZE_BYTES * 2.5) / body.length);
    for (let i = 0; i < n; i++) {
      ids.push(q.append(msg(body)));
      if (i % 16 === 0) await durable(s);
    }
    await durable(s);
    const qdir = join(d, readdirSync(d)[0]!);
    const segs = (): string[] => readdirSync(qdir).filter((f) => f.startsWith('seg.'));
    expect(segs().length).toBeGreaterThanOrEqual(3);
    for (const id of ids.slice(0, -1)) q.remove(id);
    q.append(msg('tail'));
    await durable(s);
    q.append(msg('tail2'));
    await durable(s);
    // only the segment holding the last big message and the current one can remain
    expect(segs().length).toBeLessThanOrEqual(2);
    const s2 = new SegmentStore(d);
    await s.close();
    expect(s2.openQueue('/', 'big').recover().map((r) => r.msg.body.length)).toEqual([body.length, 4, 5]);
    await s2.close();
  });

  it('writes acks with no publish to go with within LAZY_RECORDS_MS, and the rest at close', async () => {
    const d = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(d);
    const s = new SegmentStore(d);
    const q = s.openQueue('/', 'q');
    const a = q.append(msg('a'));
    const b = q.append(msg('b'));
    await durable(s);
    q.remove(a);
    await new Promise((r) => setTimeout(r, LAZY_RECORDS_MS + 150));
    // what a crash now would leave: a store opened over the same files while the first one still runs
    const crashed = new SegmentStore(d);
    expect(crashed.openQueue('/', 'q').recover().map((r) => r.msg.body.toString())).toEqual(['b']);
    await crashed.close();
    q.remove(b);
    await s.close();
    const s2 = new SegmentStore(d);
    expect(s2.openQueue('/', 'q').recover()).toEqual([]);
    await s2.close();
  });

  it('cuts a torn record at the end of a segment after a crash and keeps what came before', async () => {
    const d = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(d);
    const s = new SegmentStore(d);
    const q = s.openQueue('/', 'q');
    q.append(msg('whole'));
    await durable(s);
    await s.close();
    const qdir = join(d, readdirSync(d)[0]!);
    const seg = readdirSync(qdir).filter((f) => f.startsWith('seg.')).sort()[0]!;
    appendFileSync(join(qdir, seg), Buffer.from([1, 0, 0, 0, 200, 1, 2, 3]));
    const s2 = new SegmentStore(d);
    expect(s2.openQueue('/', 'q').recover().map((r) => r.msg.body.toString())).toEqual(['whole']);
    await s2.close();
  });
});
