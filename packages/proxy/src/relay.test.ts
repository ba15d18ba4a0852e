// relay() over real loopback sockets: client → [accepted socket → relay → connected socket] → receiver.
import net, { type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PRIVATE_BUDGET_BYTES, privateBufferBytes, READ_BUFFER_MAX_BYTES, relay, SHARED_BUFFER_BYTES, type RelayMode } from './relay.ts';

const open: (Socket | net.Server)[] = [];
afterEach(() => {
  for (const x of open.splice(0)) 'destroy' in x ? x.destroy() : x.close();
});

function listen(onConn: (s: Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    open.push(s);
    onConn(s);
  });
  open.push(srv);
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));
}

function connect(port: number): Promise<Socket> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  open.push(s);
  return new Promise((r) => s.once('connect', () => r(s)));
}

/** client → relay → receiver. `beforeRelay` runs on the accepted socket before relay() is called. */
async function chain(mode: RelayMode, beforeRelay?: (accepted: Socket) => Promise<void>) {
  let receiver: Socket | null = null;
  const receiverPort = await listen((s) => (receiver = s));
  let proxied: Socket | null = null;
  const modes: RelayMode[] = [];
  let relayedNow: () => void = () => {};
  const relayed = new Promise<void>((r) => (relayedNow = r));
  const proxyPort = await listen((accepted) => {
    void (async () => {
      const out = await connect(receiverPort);
      if (beforeRelay) await beforeRelay(accepted);
      modes.push(relay(accepted, out, mode), relay(out, accepted, mode));
      proxied = out;
      relayedNow();
    })();
  });
  const client = await connect(proxyPort);
  const ready = async (): Promise<{ rx: Socket; proxied: Socket }> => {
    await relayed;
    const t0 = Date.now();
    while (!receiver && Date.now() - t0 < 2000) await sleep(5);
    expect(modes).toEqual([mode, mode]); // this Node supports the user buffer: the fallback is only taken when asked
    return { rx: receiver as unknown as Socket, proxied: proxied as unknown as Socket };
  };
  return { client, ready };
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 11)) & 0xff;
  return b;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(['user-buffer', 'events'] as RelayMode[])('relay (%s)', (mode) => {
  it('carries bulk data intact and in order, and a FIN, while the receiver reads slowly', async () => {
    const c = await chain(mode);
    const { rx } = await c.ready();
    const payload = pattern(6 * 1024 * 1024 + 123);
    const got: Buffer[] = [];
    rx.on('data', (d: Buffer) => {
      got.push(Buffer.from(d));
      if (got.length % 16 === 0) {
        rx.pause();
        setTimeout(() => rx.resume(), 2);
      }
    });
    const ended = new Promise<void>((r) => rx.once('end', () => r()));
    c.client.end(payload);
    await ended;
    const all = Buffer.concat(got);
    expect(all.length).toBe(payload.length);
    expect(all.equals(payload)).toBe(true);
  }, 20_000);

  it('keeps the bytes in order through a bulk burst, a trickle of small writes, and another burst', async () => {
    const c = await chain(mode);
    const { rx } = await c.ready();
    const parts = [pattern(3 * 1024 * 1024)];
    for (let i = 0; i < 80; i++) parts.push(Buffer.from(`small message ${i}\n`));
    parts.push(pattern(2 * 1024 * 1024 + 7).reverse());
    const expected = Buffer.concat(parts);
    const got: Buffer[] = [];
    rx.on('data', (d: Buffer) => got.push(Buffer.from(d)));
    const ended = new Promise<void>((r) => rx.once('end', () => r()));
    for (const p of parts) {
      c.client.write(p);
      // Small writes one at a time, so that each one is a read of its own at the relay.
      if (p.length < 100) await sleep(1);
    }
    c.client.end();
    await ended;
    expect(Buffer.concat(got).equals(expected)).toBe(true);
  }, 20_000);

  it('stops reading the sender while the receiver does not read (backpressure)', async () => {
    const c = await chain(mode);
    const { rx, proxied } = await c.ready();
    rx.pause();
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    // Far more than socket buffers hold: if the relay did not stop reading, it would all end up in its memory.
    for (let i = 0; i < 64; i++) {
      c.client.write(chunk);
      sent += chunk.length;
    }
    await sleep(300);
    // At most one read in flight, plus one more read into the shared buffer.
    const bound = mode === 'user-buffer' ? READ_BUFFER_MAX_BYTES + SHARED_BUFFER_BYTES : 2 * READ_BUFFER_MAX_BYTES;
    expect(proxied.writableLength).toBeLessThanOrEqual(bound);
    expect(c.client.writableLength).toBeGreaterThan(sent / 2); // most of it is still waiting at the sender
    let received = 0;
    rx.on('data', (d: Buffer) => (received += d.length));
    rx.resume();
    const t0 = Date.now();
    while (received < sent && Date.now() - t0 < 10_000) await sleep(20);
    expect(received).toBe(sent);
  }, 20_000);

  it('forwards data and a FIN that arrived before the relay was set up', async () => {
    const c = await chain(mode, async (accepted) => {
      // Wait until the client's bytes and FIN have been read into the socket's own buffer.
      const t0 = Date.now();
      while (accepted.readableLength < 5 && Date.now() - t0 < 2000) await sleep(5);
      await sleep(20);
      expect(accepted.readableLength).toBe(5);
    });
    c.client.end('early');
    const { rx } = await c.ready();
    let got = '';
    rx.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise<void>((r) => rx.once('end', () => r()));
    expect(got).toBe('early');
    // The other direction still works after the half-close.
    rx.end('late');
    let back = '';
    c.client.on('data', (d: Buffer) => (back += d.toString()));
    await new Promise<void>((r) => c.client.once('end', () => r()));
    expect(back).toBe('late');
  }, 10_000);

  it('forwards a FIN that came alone before the relay was set up', async () => {
    const c = await chain(mode, async (accepted) => {
      const t0 = Date.now();
      while (!accepted.readableEnded && Date.now() - t0 < 2000) await sleep(5);
      expect(accepted.readableEnded).toBe(true); // 'end' already emitted: nothing was buffered
    });
    c.client.end();
    const { rx } = await c.ready();
    rx.resume();
    await new Promise<void>((r) => rx.once('end', () => r()));
  }, 10_000);
});

describe('relay buffers (user-buffer)', () => {
  const waitUntil = async (cond: () => boolean, what: string): Promise<void> => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > 10_000) throw new Error(`timed out: ${what}`);
      await sleep(10);
    }
  };

  it('an idle or interactive session holds no buffer of its own; a bulk transfer does until it ends', async () => {
    const base = privateBufferBytes();
    const c = await chain('user-buffer');
    const { rx } = await c.ready();
    let got = '';
    rx.on('data', (d: Buffer) => (got += d.toString('latin1')));
    for (let i = 0; i < 20; i++) {
      c.client.write(`frame ${i}\n`);
      await sleep(1);
    }
    await waitUntil(() => got.endsWith('frame 19\n'), 'small frames');
    expect(privateBufferBytes()).toBe(base);
    let bulk = 0;
    rx.removeAllListeners('data');
    rx.on('data', (d: Buffer) => (bulk += d.length));
    const payload = pattern(8 * 1024 * 1024);
    c.client.write(payload);
    await waitUntil(() => privateBufferBytes() > base, 'a private buffer for the bulk transfer');
    await waitUntil(() => bulk === payload.length, 'bulk delivered');
    c.client.destroy();
    rx.destroy();
    await waitUntil(() => privateBufferBytes() === base, 'private buffer given back at close');
  }, 20_000);

  it('stalled sessions together hold no more private buffer than the process-wide budget, plus one shared-buffer read each', async () => {
    const base = privateBufferBytes();
    const sessions = await Promise.all(Array.from({ length: 24 }, () => chain('user-buffer')));
    const ready = await Promise.all(sessions.map((c) => c.ready()));
    for (const r of ready) r.rx.pause(); // readers that stopped reading
    const payload = pattern(4 * 1024 * 1024);
    for (const c of sessions) c.client.write(payload);
    await waitUntil(() => ready.every((r) => r.proxied.writableLength > 0), 'every session stalled');
    await sleep(300);
    expect(privateBufferBytes() - base).toBeLessThanOrEqual(PRIVATE_BUDGET_BYTES);
    const held = ready.map((r) => r.proxied.writableLength);
    for (const h of held) expect(h).toBeLessThanOrEqual(READ_BUFFER_MAX_BYTES + SHARED_BUFFER_BYTES);
    // All of them together: the budget, plus one shared-buffer read each (without the budget: 24 × 1 MiB).
    expect(held.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(PRIVATE_BUDGET_BYTES + 24 * SHARED_BUFFER_BYTES);
    let received = 0;
    for (const r of ready) {
      r.rx.on('data', (d: Buffer) => (received += d.length));
      r.rx.resume();
    }
    await waitUntil(() => received === 24 * payload.length, 'all bytes delivered');
    for (const c of sessions) c.client.destroy();
    for (const r of ready) r.rx.destroy();
    await waitUntil(() => privateBufferBytes() === base, 'private buffers given back');
  }, 30_000);
});
