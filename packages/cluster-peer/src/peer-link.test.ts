import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';
import { MemoryNetwork } from './transport/memory.ts';
import { simNode } from './test-support.ts';
import type { SimNode } from './test-support.ts';
import type { PeerManagerOptions } from './peer-manager.ts';
import type { PeerError } from './errors.ts';

let nodes: SimNode[] = [];
afterEach(async () => {
  for (const n of nodes) await n.manager.stop();
  nodes = [];
});

/** rabbit@a dials rabbit@b on a simulated network; resolves once the link is up on both sides. */
async function linked(options: { a?: Partial<PeerManagerOptions>; b?: Partial<PeerManagerOptions>; latencyMs?: number; bytesPerMs?: number; bufferBytes?: number } = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({
    clock,
    seed: 5,
    latencyMs: options.latencyMs ?? 1,
    ...(options.bytesPerMs === undefined ? {} : { bytesPerMs: options.bytesPerMs }),
    ...(options.bufferBytes === undefined ? {} : { bufferBytes: options.bufferBytes }),
  });
  const a = await simNode(network, clock, 'a', options.a);
  const b = await simNode(network, clock, 'b', options.b);
  nodes.push(a, b);
  a.manager.connect('rabbit@b');
  await clock.advanceUntil(() => a.manager.link('rabbit@b') !== undefined && b.manager.link('rabbit@a') !== undefined, 1000);
  return { clock, network, a, b, ab: a.manager.link('rabbit@b')!, ba: b.manager.link('rabbit@a')! };
}

describe('PeerLink', { timeout: 10_000 }, () => {
  it('delivers one-way messages in order, and all sent in one turn go out in one write', async () => {
    const { clock, network, a, b, ab } = await linked();
    const writes: number[] = [];
    network.tap = (from) => {
      if (from === 'a') writes.push(1);
    };
    for (let i = 0; i < 100; i++) expect(ab.send({ seq: i, body: 'm' })).toBe(true);
    await clock.advance(5);
    expect(writes).toHaveLength(1);
    expect(b.handler.messages.map((m) => (m.message as { seq: number }).seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(b.handler.messages[0]!.from).toBe('rabbit@a');
    expect(a.handler.events).toEqual(['up rabbit@b']);
    expect(ab.initiator).toBe(true);
  });

  it('answers requests, propagates remote errors with their code, and times out unanswered ones', async () => {
    const { clock, ab, ba } = await linked();
    const reply = ab.request({ echo: { x: [1, 'two'] } });
    const failure = ba.request({ fail: 'no such queue' });
    const failureCheck = expect(failure).rejects.toMatchObject({ code: 'REMOTE_ERROR', remoteCode: 'E_TEST', message: 'peer rabbit@a: no such queue' });
    await clock.advance(5);
    expect(await reply).toEqual({ x: [1, 'two'] });
    await failureCheck;

    const slow = ab.request({ delayForever: true }, { timeoutMs: 2000 });
    let settled = false;
    slow.catch(() => (settled = true));
    await clock.advance(1999);
    expect(settled).toBe(false);
    const slowCheck = expect(slow).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    await clock.advance(1);
    await slowCheck;
    expect(ab.isOpen).toBe(true);
  });

  it('requestWith hands replies, remote errors, link loss and timeouts (by the heartbeat tick after the deadline) to a handler with its token', async () => {
    const { clock, network, ab } = await linked();
    const heard: [string, number, unknown][] = [];
    const handler = {
      onReply: (token: number, value: unknown) => void heard.push(['reply', token, value]),
      onReplyError: (token: number, error: PeerError) => void heard.push(['error', token, error.remoteCode ?? error.code]),
    };
    ab.requestWith({ echo: 'one' }, handler, 1);
    ab.requestWith({ fail: 'refused' }, handler, 2);
    ab.requestWith({ delayForever: true }, handler, 3, 2500);
    await clock.advance(5);
    expect(heard).toEqual([
      ['reply', 1, 'one'],
      ['error', 2, 'E_TEST'],
    ]);
    // the default tick is 1 s: the deadline at 2.5 s is noticed at the 3 s tick, not before the deadline
    await clock.advance(2400);
    expect(heard).toHaveLength(2);
    await clock.advance(700);
    expect(heard[2]).toEqual(['error', 3, 'REQUEST_TIMEOUT']);
    ab.requestWith({ delayForever: true }, handler, 4);
    network.crash('b');
    await clock.advance(10);
    expect(heard[3]).toEqual(['error', 4, 'LINK_CLOSED']);
    expect(() => ab.requestWith({ echo: 'late' }, handler, 5)).toThrow(expect.objectContaining({ code: 'LINK_CLOSED' }) as Error);
  });

  it('a handler may answer later (DEFERRED) with link.reply or link.replyError; an answer after the link closed is dropped', async () => {
    const { clock, ab, b } = await linked();
    const first = ab.request({ later: 'one' });
    const second = ab.request({ later: 'two' });
    let settled = false;
    void first.then(() => (settled = true));
    await clock.advance(50);
    expect(settled).toBe(false);
    const [l1, l2] = b.handler.later;
    expect([l1!.value, l2!.value]).toEqual(['one', 'two']);
    expect(l1!.id).not.toBe(l2!.id);
    // answered out of order: each reply finds its own request
    l2!.link.replyError(l2!.id, Object.assign(new Error('refused'), { code: 'E_LATER' }));
    l1!.link.reply(l1!.id, { got: l1!.value });
    const check = expect(second).rejects.toMatchObject({ code: 'REMOTE_ERROR', remoteCode: 'E_LATER' });
    await clock.advance(5);
    expect(await first).toEqual({ got: 'one' });
    await check;
    const third = ab.request({ later: 'three' });
    third.catch(() => {});
    await clock.advance(5);
    const l3 = b.handler.later[2]!;
    l3.link.close('bye');
    await clock.advance(5);
    expect(() => l3.link.reply(l3.id, 'too late')).not.toThrow();
    await expect(third).rejects.toMatchObject({ code: 'LINK_CLOSED' });
  });

  it('rejects pending requests when the link closes', async () => {
    const { clock, network, ab } = await linked();
    const pending = ab.request({ delayForever: true });
    const check = expect(pending).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    network.crash('b');
    await clock.advance(10);
    await check;
  });

  it('detects a silent peer by heartbeat within missed+1 ticks, and keeps an idle live link up', async () => {
    const { clock, network, a, ab } = await linked({ a: { heartbeatTickMs: 1000, heartbeatMissedTicks: 3 } });
    // Idle but alive: heartbeats keep it up.
    await clock.advance(30_000);
    expect(ab.isOpen).toBe(true);
    network.crash('b', { silent: true });
    const crashedAt = clock.now();
    await clock.advanceUntil(() => !ab.isOpen, 10_000, 100);
    const detectedAfter = clock.now() - crashedAt;
    expect(detectedAfter).toBeGreaterThanOrEqual(2000);
    expect(detectedAfter).toBeLessThanOrEqual(4100);
    expect(a.handler.events).toContain('down rabbit@b HEARTBEAT_TIMEOUT');
    expect(a.logger.some(/peer rabbit@b: nothing received for 3000 ms/)).toBe(true);
  });

  it('heartbeatMissedTicksFor gives one remote node a slack of its own', async () => {
    const { clock, network, ab } = await linked({ a: { heartbeatTickMs: 1000, heartbeatMissedTicks: 3, heartbeatMissedTicksFor: (n) => (n === 'rabbit@b' ? 10 : undefined) } });
    network.crash('b', { silent: true });
    const crashedAt = clock.now();
    await clock.advance(5000);
    // 3 ticks would have given it up by now; its own 10 have not passed yet
    expect(ab.isOpen).toBe(true);
    await clock.advanceUntil(() => !ab.isOpen, 10_000, 100);
    expect(clock.now() - crashedAt).toBeGreaterThanOrEqual(9000);
  });

  it('refuses to send a frame above maxFrameBytes and keeps the link', async () => {
    const { clock, ab, b } = await linked({ a: { maxFrameBytes: 10_000 } });
    expect(() => ab.send({ blob: Buffer.alloc(20_000) })).toThrowError(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }) as Error);
    ab.send('small');
    await clock.advance(5);
    expect(b.handler.messages.map((m) => m.message)).toEqual(['small']);
  });

  it('closes the link with a protocol error when the peer sends a frame above our maximum', async () => {
    const { clock, a, b, ab } = await linked({ b: { maxFrameBytes: 10_000 } });
    ab.send({ blob: Buffer.alloc(20_000) });
    await clock.advance(50);
    expect(b.handler.events).toContain('down rabbit@a FRAME_TOO_LARGE');
    expect(b.handler.messages).toHaveLength(0);
    expect(b.logger.some(/frame of \d+ bytes announced, maximum is 10000/)).toBe(true);
    expect(a.handler.events).toContain('down rabbit@b LINK_CLOSED');
  });

  it('applies backpressure: send() returns false above the high-water mark, waitForDrain resolves once drained, QUEUE_FULL at the cap', async () => {
    const { clock, ab, b } = await linked({
      bytesPerMs: 100,
      bufferBytes: 8 * 1024,
      a: { highWaterMarkBytes: 16 * 1024, maxQueuedBytes: 64 * 1024 },
    });
    const chunk = Buffer.alloc(1000);
    let sent = 0;
    while (ab.send(chunk)) sent++;
    sent++;
    expect(ab.writableNeedDrain).toBe(true);
    expect(sent).toBeLessThan(20);
    let drained = false;
    void ab.waitForDrain().then(() => (drained = true));
    await clock.advance(1);
    expect(drained).toBe(false);
    // The cap: keep queueing past the high-water mark until QUEUE_FULL.
    let full: unknown;
    try {
      for (let i = 0; i < 1000; i++) {
        ab.send(chunk);
        sent++;
      }
    } catch (error) {
      full = error;
    }
    expect(full).toMatchObject({ code: 'QUEUE_FULL' });
    expect(ab.queuedBytes).toBeLessThanOrEqual(64 * 1024);
    await clock.advanceUntil(() => drained, 10_000);
    await clock.advanceUntil(() => b.handler.messages.length === sent, 10_000);
    expect(ab.isOpen).toBe(true);
  });

  it('stops writing to the transport while it asks to wait, then sends the backlog in one write on drain', async () => {
    const { clock, network, ab, b } = await linked({ bytesPerMs: 100, bufferBytes: 4000 });
    const writes: number[] = [];
    network.tap = (from, _to, bytes) => {
      if (from === 'a') writes.push(bytes.length);
    };
    for (let i = 0; i < 30; i++) {
      ab.send(Buffer.alloc(1000));
      await clock.advance(0);
    }
    // Each frame is 1008 bytes (4 length + 1 kind + 3 msgpack bin16 header + 1000). The transport said "wait"
    // at the 4th write (4032 > 4000 bytes in flight): the other 26 stayed in the link's queue.
    expect(writes).toEqual([1008, 1008, 1008, 1008]);
    expect(ab.queuedBytes).toBeGreaterThan(20_000);
    await clock.advanceUntil(() => b.handler.messages.length === 30, 10_000);
    expect(writes.slice(4)).toEqual([26 * 1008]);
  });

  it('signals drain even when the high-water mark is below the transport buffer (the transport never says wait)', async () => {
    const { clock, ab } = await linked({ a: { highWaterMarkBytes: 2000 } });
    const results: boolean[] = [];
    for (let i = 0; i < 4; i++) results.push(ab.send(Buffer.alloc(1000)));
    expect(results).toEqual([true, false, false, false]);
    let drained = false;
    void ab.waitForDrain().then(() => (drained = true));
    await clock.advance(0);
    expect(drained).toBe(true);
    expect(ab.writableNeedDrain).toBe(false);
  });

  it('close() is orderly: queued messages arrive, the peer learns the reason, the local handler gets no error', async () => {
    const { clock, a, b, ab } = await linked();
    ab.send('one');
    ab.send('two');
    ab.close('maintenance');
    await clock.advance(10);
    expect(b.handler.messages.map((m) => m.message)).toEqual(['one', 'two']);
    expect(b.logger.some(/peer rabbit@a closed the link: maintenance/)).toBe(true);
    expect(a.handler.events).toEqual(['up rabbit@b', 'down rabbit@b local']);
    expect(() => ab.send('three')).toThrowError(expect.objectContaining({ code: 'LINK_CLOSED' }) as Error);
  });
});
