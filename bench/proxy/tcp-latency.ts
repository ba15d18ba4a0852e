/**
 * Round-trip latency of small messages at a fixed rate over one connection to an echo server: what a proxy adds on
 * the path, without a broker's own latency on top. Messages are 64-byte frames carrying their sequence number; the
 * echo returns the same bytes, possibly coalesced, so replies are matched by sequence number.
 */
import net from 'node:net';

const FRAME = 64;

export interface Rtt {
  p50us: number;
  p99us: number;
  maxUs: number;
}

export async function tcpRtt(port: number, ratePerS: number, seconds: number): Promise<Rtt> {
  const total = Math.round(ratePerS * seconds);
  const sentAt = new Float64Array(total);
  const rtts = new Float64Array(total);
  let received = 0;
  let pending: Buffer = Buffer.alloc(0);
  const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => s.once('connect', r));
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  s.on('data', (d: Buffer) => {
    const now = performance.now();
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    let off = 0;
    while (pending.length - off >= FRAME) {
      const seq = pending.readUInt32LE(off);
      rtts[seq] = (now - (sentAt[seq] as number)) * 1000;
      received++;
      off += FRAME;
    }
    pending = pending.subarray(off);
    if (received === total) done();
  });
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * ratePerS));
      while (sent < due) {
        const b = Buffer.alloc(FRAME);
        b.writeUInt32LE(sent, 0);
        sentAt[sent] = performance.now();
        s.write(b);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
  s.destroy();
  const sorted = Array.from(rtts.subarray(0, received)).sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  return { p50us: pct(50), p99us: pct(99), maxUs: sorted[sorted.length - 1] ?? NaN };
}
