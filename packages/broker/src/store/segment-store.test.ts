// The segment store under disc faults (short writes, ENOSPC, EIO, a cut that fails) and damaged files: nothing a
// failed write held is confirmed, everything confirmed is read back whole, damage is skipped and logged.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegmentStore } from './segment-store.ts';
import { FaultFs } from './fault-fs.ts';
import { Message } from '../queue/message.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warren-faults-'));
  dirs.push(d);
  return d;
}

function msg(body: string): Message {
  return new Message('ex', 'rk', { deliveryMode: 2 }, null, Buffer.from(body), 1_700_000_000_000);
}

/** Publishes one message and waits for the group it is in: 'ok' or 'nack'. */
function publish(s: SegmentStore, q: ReturnType<SegmentStore['openQueue']>, body: string): Promise<'ok' | 'nack'> {
  q.append(msg(body));
  return new Promise((resolve) => s.whenDurable({ onDurable: () => resolve('ok'), onNack: () => resolve('nack') }, 0));
}

function reopenBodies(dir: string, log: string[] = []): string[] {
  const s = new SegmentStore(dir, { log: (l) => log.push(l) });
  const out = s.openQueue('/', 'q').recover().map((r) => r.msg.body.toString());
  void s.close();
  return out;
}

describe('SegmentStore write checks', () => {
  it('completes a short write and confirms only once every byte is written', async () => {
    const d = tempDir();
    const fs = new FaultFs();
    const s = new SegmentStore(d, { fs, log: () => {} });
    const q = s.openQueue('/', 'q');
    fs.writes = ['short', 'short', 'short'];
    expect(await publish(s, q, 'a'.repeat(5000))).toBe('ok');
    expect(fs.writeCalls).toBeGreaterThanOrEqual(4);
    expect(await publish(s, q, 'b')).toBe('ok');
    await s.close();
    expect(reopenBodies(d)).toEqual(['a'.repeat(5000), 'b']);
  });

  it('nacks a group whose write fails half-way (ENOSPC), cuts its partial record, and keeps every later confirmed message', async () => {
    const d = tempDir();
    const fs = new FaultFs();
    const faults: string[] = [];
    const s = new SegmentStore(d, { fs, log: () => {} });
    s.onFault((code) => faults.push(code));
    const q = s.openQueue('/', 'q');
    expect(await publish(s, q, 'before')).toBe('ok');
    fs.writes = ['partial:ENOSPC'];
    expect(await publish(s, q, 'x'.repeat(3000))).toBe('nack');
    expect(faults).toEqual(['ENOSPC']);
    expect(await publish(s, q, 'after-1')).toBe('ok');
    expect(await publish(s, q, 'after-2')).toBe('ok');
    await s.close();
    const log: string[] = [];
    expect(reopenBodies(d, log)).toEqual(['before', 'after-1', 'after-2']);
    expect(log).toEqual([]);
  });

  it('abandons the segment when the partial record cannot be cut, and confirms later messages from a new one', async () => {
    const d = tempDir();
    const fs = new FaultFs();
    const s = new SegmentStore(d, { fs, log: () => {} });
    const q = s.openQueue('/', 'q');
    expect(await publish(s, q, 'before')).toBe('ok');
    fs.writes = ['partial:EIO'];
    fs.truncates = ['EIO'];
    expect(await publish(s, q, 'y'.repeat(3000))).toBe('nack');
    expect(await publish(s, q, 'after')).toBe('ok');
    await s.close();
    const qdir = join(d, readdirSync(d)[0]!);
    expect(readdirSync(qdir).filter((f) => f.startsWith('seg.')).length).toBe(2);
    const log: string[] = [];
    // the abandoned segment ends in the partial record: cut as a torn tail, logged; nothing confirmed is lost
    expect(reopenBodies(d, log)).toEqual(['before', 'after']);
    expect(log.join('\n')).toMatch(/seg\.0000000001\.v2: offset \d+: \d+ bytes .* cut off/);
  });

  it('nacks when the sync fails (EIO) on a disc without O_DSYNC', async () => {
    const d = tempDir();
    const fs = new FaultFs();
    fs.durableWrites = false;
    const faults: string[] = [];
    const s = new SegmentStore(d, { fs, log: () => {} });
    s.onFault((code) => faults.push(code));
    const q = s.openQueue('/', 'q');
    fs.syncs = ['EIO'];
    expect(await publish(s, q, 'lost')).toBe('nack');
    expect(await publish(s, q, 'kept')).toBe('ok');
    expect(faults).toEqual(['EIO']);
    await s.close();
    expect(reopenBodies(d)).toEqual(['kept']);
  });

  it('nacks while no segment can be created, and writes again once one can', async () => {
    const d = tempDir();
    const fs = new FaultFs();
    const s = new SegmentStore(d, { fs, log: () => {} });
    const q = s.openQueue('/', 'q');
    expect(await publish(s, q, 'first')).toBe('ok');
    // the write fails and so does the cut: the queue must leave its segment, and cannot create the next one
    fs.writes = ['EIO'];
    fs.truncates = ['EIO'];
    fs.opens = ['ENOSPC', 'ENOSPC'];
    expect(await publish(s, q, 'nope-1')).toBe('nack');
    expect(await publish(s, q, 'nope-2')).toBe('nack');
    expect(await publish(s, q, 'later')).toBe('ok');
    await s.close();
    expect(reopenBodies(d)).toEqual(['first', 'later']);
  });
});

describe('SegmentStore recovery of damaged files', () => {
  async function fill(d: string, n: number): Promise<void> {
    const s = new SegmentStore(d);
    const q = s.openQueue('/', 'q');
    for (let i = 0; i < n; i++) q.append(msg(`message ${i} `.padEnd(200, '.')));
    await new Promise((r) => s.whenDurable({ onDurable: r }, 0));
    await s.close();
  }

  function segmentFile(d: string): string {
    const qdir = join(d, readdirSync(d)[0]!);
    return join(qdir, readdirSync(qdir).filter((f) => f.startsWith('seg.')).sort()[0]!);
  }

  it('drops only a record whose body byte was flipped, logs its file and offset, and keeps every later record', async () => {
    const d = tempDir();
    await fill(d, 100);
    const file = segmentFile(d);
    const bytes = readFileSync(file);
    const at = bytes.indexOf('message 50 ');
    bytes[at + 20] = bytes[at + 20]! ^ 0x20;
    writeFileSync(file, bytes);
    const log: string[] = [];
    const bodies = reopenBodies(d, log);
    expect(bodies.length).toBe(99);
    expect(bodies.some((b) => b.startsWith('message 50 '))).toBe(false);
    expect(bodies.at(-1)!.startsWith('message 99 ')).toBe(true);
    expect(log.length).toBe(1);
    expect(log[0]).toContain(`${file}: offset `);
    expect(log[0]).toMatch(/a publish record \(its id field reads 51\).*dropped; the records after it are kept/);
    // the damage is left in place (the next boot reads the same), never cut
    expect(readFileSync(file).length).toBe(bytes.length);
  });

  it('resynchronises after a damaged header (its length unreadable) at the next record that checks out', async () => {
    const d = tempDir();
    await fill(d, 20);
    const file = segmentFile(d);
    const bytes = readFileSync(file);
    const at = bytes.indexOf('message 7 ');
    // the record's header sits 9 + 16 + 2 + 2 + 2 + 4 + properties + 4 bytes before the body: smash a wide range
    bytes.fill(0xee, at - 60, at + 5);
    writeFileSync(file, bytes);
    const log: string[] = [];
    const bodies = reopenBodies(d, log).map((b) => b.split(' ')[1]);
    // the smashed range reaches back into message 6's body: 6 and 7 go, as one damaged range, and nothing else
    expect(bodies).toEqual(['0', '1', '2', '3', '4', '5', ...Array.from({ length: 12 }, (_, i) => String(i + 8))]);
    expect(log.length).toBe(1);
  });

  it('reads segments written before records had checksums', async () => {
    const d = tempDir();
    const s = new SegmentStore(d);
    s.openQueue('/', 'q');
    await s.close();
    const qdir = join(d, readdirSync(d)[0]!);
    for (const f of readdirSync(qdir)) if (f.startsWith('seg.')) rmSync(join(qdir, f));
    // [type 1][length][id f64][timestamp f64][exchange][routing key][properties longstr][body longstr]
    const rec = (id: number, body: string): Buffer => {
      const props = Buffer.from([0x10, 0x00, 2]); // flags: delivery-mode; 2
      const payload = Buffer.concat([
        Buffer.alloc(16),
        Buffer.from([2]), Buffer.from('ex'), Buffer.from([2]), Buffer.from('rk'),
        Buffer.from([0, 0, 0, props.length]), props,
        Buffer.from([0, 0, 0, body.length]), Buffer.from(body),
      ]);
      payload.writeDoubleBE(id, 0);
      payload.writeDoubleBE(1_700_000_000_000, 8);
      const h = Buffer.alloc(5);
      h[0] = 1;
      h.writeUInt32BE(payload.length, 1);
      return Buffer.concat([h, payload]);
    };
    const removed = Buffer.alloc(13);
    removed[0] = 3;
    removed.writeUInt32BE(8, 1);
    removed.writeDoubleBE(1, 5);
    writeFileSync(join(qdir, 'seg.0000000001'), Buffer.concat([rec(1, 'old-1'), rec(2, 'old-2'), removed]));
    const s2 = new SegmentStore(d);
    const q = s2.openQueue('/', 'q');
    const rec2 = q.recover();
    expect(rec2.map((r) => r.msg.body.toString())).toEqual(['old-2']);
    expect(rec2[0]!.msg.properties.deliveryMode).toBe(2);
    q.append(msg('new'));
    await new Promise((r) => s2.whenDurable({ onDurable: r }, 0));
    await s2.close();
    expect(reopenBodies(d)).toEqual(['old-2', 'new']);
  });
});
