/** Raw bulk TCP throughput: `conns` connections each upload `bytesPerConn` to the sink through a target port. */
import net from 'node:net';

const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

function upload(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('end', () => {
      s.destroy();
      if (Number(answer) !== bytes) reject(new Error(`sink counted ${answer}, sent ${bytes}`));
      else resolve();
    });
    s.once('connect', () => {
      let left = bytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          const more = s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
          if (!more) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
}

/** Returns MB/s (10^6 bytes per second) over all connections. */
export async function bulkThroughput(port: number, conns: number, bytesPerConn: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conns }, () => upload(port, bytesPerConn)));
  const s = (performance.now() - t0) / 1000;
  return (conns * bytesPerConn) / s / 1e6;
}
