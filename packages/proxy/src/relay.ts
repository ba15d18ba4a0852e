/**
 * One direction of a pipe: bytes read from `src` are written to `dst`, with backpressure, and `src`'s FIN becomes
 * `dst.end()`.
 *
 * Why not stream.pipe(): by default Node allocates a fresh 64 KiB buffer for every read, wraps it in a Buffer, pushes
 * it through the Readable machinery and frees it once written. On a bulk transfer that is most of the proxy's user
 * time, and the fresh pages cost page faults and cache misses in the kernel's copy into them. Here each direction
 * reads into one buffer of its own (Node's `onread` user-buffer mode, the same `recv()` into a reused buffer that
 * haproxy does), and the callback writes the bytes on at once, with no per-chunk allocation, closure or promise.
 *
 * A buffer is reused only once the bytes in it are gone: a write that the kernel takes whole completes
 * synchronously (`dst.writableLength` is back to 0); otherwise Node still points into the buffer. Then one more read
 * goes into a second buffer, and after that reading stops until dst has written everything (the write callbacks),
 * which is also the backpressure. A direction starts with a small buffer, so an idle connection costs little, grows
 * it when a read fills it, up to READ_BUFFER_MAX_BYTES for bulk transfers, and shrinks it when reads are small again.
 *
 * `onread` is public for sockets that Node creates through net.connect(), but accepted sockets have no such option,
 * so the user buffer is installed through the same internal fields that option sets. If this Node does not have them,
 * the relay falls back to 'data' events with pause()/resume().
 */
import type { Socket } from 'node:net';

// What an idle session holds: one buffer per direction (stream.pipe() held none between reads; haproxy releases its
// 16 KiB buffers when they are empty). 4 KiB holds the small frames of an interactive AMQP connection; a read that
// fills it grows it at once.
export const READ_BUFFER_MIN_BYTES = 4 * 1024;
// Larger reads mean fewer callbacks and syscalls per GB: in bench/proxy, proxy CPU per GB piped fell by about 10%
// from 256 KiB to 512 KiB and again to 1 MiB. 512 KiB keeps a bulk session's worst case at 2 MiB (two buffers each
// way).
export const READ_BUFFER_MAX_BYTES = 512 * 1024;
const GROWTH = 4;
// A session whose reads have become small again (a burst is over) goes back to the small buffer, so a long-lived
// connection does not keep bulk-sized buffers: after this many reads in a row that fill less than 1/SHRINK_RATIO.
const SHRINK_AFTER_READS = 32;
const SHRINK_RATIO = 64;

interface UserBufferFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let fields: UserBufferFields | null | undefined;

/** The internal symbols behind net.Socket's `onread` option (lib/net.js: kBuffer, kBufferCb, kBufferGen). */
function userBufferFields(socket: Socket): UserBufferFields | null {
  if (fields !== undefined) return fields;
  const syms = Object.getOwnPropertySymbols(socket);
  const find = (name: string): symbol | undefined => syms.find((s) => s.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  const ok = buffer && callback && generator && typeof handle?.useUserBuffer === 'function';
  fields = ok ? { buffer, callback, generator } : null;
  return fields;
}

export type RelayMode = 'user-buffer' | 'events';

/**
 * Starts relaying src → dst. Data that src has already buffered (read before the relay was set up) goes first.
 * `mode` is for tests; by default the user buffer is used where this Node supports it. Returns the mode used.
 */
export function relay(src: Socket, dst: Socket, mode?: RelayMode): RelayMode {
  // A FIN that came with nothing buffered, before the relay existed, has already been emitted as 'end'.
  if (src.readableEnded) dst.end();
  else src.on('end', () => dst.end());
  const f = mode === 'events' ? null : userBufferFields(src);
  const handle = (src as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (!f || !handle?.useUserBuffer) {
    relayEvents(src, dst);
    return 'events';
  }
  new UserBufferRelay(src, dst, f, handle as { useUserBuffer: (b: Uint8Array) => void });
  return 'user-buffer';
}

class UserBufferRelay {
  private buf: Buffer = Buffer.allocUnsafe(READ_BUFFER_MIN_BYTES);
  // A second buffer that reads go into while the first one is still being written (double buffering), so the
  // kernel's receive queue keeps draining while a write waits; allocated on the first write that does not complete.
  private spare: Buffer | null = null;
  private spareFree = true;
  private waiting = false;
  private smallReads = 0;
  // One callback for every write: it resumes reading once dst has nothing left in flight. Callbacks of writes that
  // completed earlier can run while a later one is still pending, hence the check on writableLength.
  private readonly written: () => void;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    f: UserBufferFields,
    handle: { useUserBuffer: (b: Uint8Array) => void },
  ) {
    this.written = () => {
      if (!this.waiting || this.dst.writableLength > 0) return;
      this.waiting = false;
      this.spareFree = true;
      if (!this.src.destroyed) this.src.resume();
    };
    // Whatever src read before now sits in its Readable buffer: hand it on first, in order.
    for (let chunk: Buffer | null; (chunk = src.read() as Buffer | null) !== null; ) dst.write(chunk, this.written);
    const s = src as unknown as Record<symbol, unknown>;
    s[f.buffer] = this.buf;
    s[f.callback] = (n: number, b: Buffer): boolean => this.onRead(n, b);
    // Node asks for the buffer of the next read after each callback: that is how it grows.
    s[f.generator] = (): Buffer => this.buf;
    handle.useUserBuffer(this.buf);
    if (dst.writableLength > 0) {
      this.waiting = true;
      src.pause();
    } else {
      src.resume(); // in case whoever had src before paused it; its Readable buffer is empty, so nothing is emitted
    }
  }

  private onRead(n: number, b: Buffer): boolean {
    this.dst.write(b.subarray(0, n), this.written);
    if (n === b.length && b.length < READ_BUFFER_MAX_BYTES) {
      this.buf = Buffer.allocUnsafe(Math.min(b.length * GROWTH, READ_BUFFER_MAX_BYTES));
      this.spare = null;
    }
    if (this.dst.writableLength === 0) {
      this.spareFree = true; // writes complete in order: nothing of ours is in flight
      if (n * SHRINK_RATIO >= b.length) this.smallReads = 0;
      else if (b.length > READ_BUFFER_MIN_BYTES && ++this.smallReads >= SHRINK_AFTER_READS) this.shrink();
      return true;
    }
    // The write is in flight and Node points into `b`: no read may land there until it is done. One more read may
    // go into another buffer; after that, reading waits.
    if (!this.spareFree) {
      this.waiting = true;
      return false;
    }
    this.spareFree = false;
    if (this.buf === b) {
      const next = this.spare ?? Buffer.allocUnsafe(b.length);
      this.spare = b;
      this.buf = next;
    } // else it just grew: the new buffer is the free one, and `b` is dropped once written
    return true;
  }

  private shrink(): void {
    this.smallReads = 0;
    this.buf = Buffer.allocUnsafe(READ_BUFFER_MIN_BYTES);
    this.spare = null;
  }
}

/** The portable path: 'data' events, pause() while dst's buffer is full, resume() on 'drain'. */
function relayEvents(src: Socket, dst: Socket): void {
  src.on('data', (chunk: Buffer) => {
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
}
