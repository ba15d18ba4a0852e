/**
 * One direction of a pipe: bytes read from `src` are written to `dst`, with backpressure, and `src`'s FIN becomes
 * `dst.end()`.
 *
 * Why not stream.pipe(): by default Node allocates a fresh 64 KiB buffer for every read, wraps it in a Buffer, pushes
 * it through the Readable machinery and frees it once written. On a bulk transfer that is most of the proxy's user
 * time, and the fresh pages cost page faults and cache misses in the kernel's copy into them. Here reads go into
 * buffers the relay chooses (Node's `onread` user-buffer mode, the same `recv()` into a reused buffer that haproxy
 * does), and the callback writes the bytes on at once, with no per-chunk closure or promise.
 *
 * Memory follows haproxy's idea of buffers taken from a pool while data is in transit and given back when empty
 * (tune.bufsize, 16 KiB):
 * - Idle and interactive sessions hold no buffer of their own. Their reads land in one process-wide buffer
 *   (SHARED_BUFFER_BYTES) and are copied out at once into a Buffer of exactly the bytes read, which the write then
 *   owns; so an idle connection costs no buffer at all.
 * - A direction whose reads fill the shared buffer while `dst` takes every write at once is a bulk transfer: it gets
 *   a private buffer, 64 KiB, growing up to READ_BUFFER_MAX_BYTES while reads fill it, so bulk data is never copied.
 *   All private buffers together stay under PRIVATE_BUDGET_BYTES; beyond it, directions stay on the shared buffer.
 * - A private buffer is reused only once the bytes in it are gone: a write that the kernel takes whole completes
 *   synchronously (`dst.writableLength` is back to 0). Otherwise (`dst` is slower than `src`) one more read goes to
 *   the shared buffer, and then reading stops until `dst` has written everything (backpressure). A stall that lasted
 *   longer than SLOW_STALL_MS is a slow reader: the private buffer is given back, so a slow reader holds at most one
 *   read in flight plus one shared-buffer copy. Private buffers are also given back after a run of small reads (the
 *   burst is over) and when the socket closes.
 *
 * `onread` is public for sockets that Node creates through net.connect(), but accepted sockets have no such option,
 * so the user buffer is installed through the same internal fields that option sets. If this Node does not have them,
 * the relay falls back to 'data' events with pause()/resume().
 */
import type { Socket } from 'node:net';

// haproxy's tune.bufsize: where idle and interactive sessions' reads land, and the most a slow reader's session
// holds beyond the read in flight.
export const SHARED_BUFFER_BYTES = 16 * 1024;
// A bulk transfer's first private buffer.
const PRIVATE_MIN_BYTES = 64 * 1024;
// Larger reads mean fewer callbacks and syscalls per GB: in bench/proxy, proxy CPU per GB piped fell by about 10%
// from 256 KiB to 512 KiB and again to 1 MiB.
export const READ_BUFFER_MAX_BYTES = 512 * 1024;
const GROWTH = 4;
// All private buffers of the process together: bulk transfers get large reads, and many stalled sessions cannot each
// pin READ_BUFFER_MAX_BYTES (200 slow readers held 300 MB that way).
export const PRIVATE_BUDGET_BYTES = 8 * 1024 * 1024;
// A write that waited longer than this was waiting for a slow reader, not for a busy peer in a bulk transfer.
const SLOW_STALL_MS = 20;
// After this many reads in a row that fill less than 1/SHRINK_RATIO of the private buffer, the burst is over.
const SHRINK_AFTER_READS = 32;
const SHRINK_RATIO = 64;

let shared: Buffer | null = null;
let privateBytes = 0;

/** The one buffer idle and interactive sessions read into; its bytes are copied out in the read callback. */
function sharedBuffer(): Buffer {
  shared ??= Buffer.allocUnsafe(SHARED_BUFFER_BYTES);
  return shared;
}

/** Bytes of private relay buffers held now (for tests and the memory bench). */
export function privateBufferBytes(): number {
  return privateBytes;
}

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
  (src as RelaySocket)[kDst] = dst;
  if (src.readableEnded) dst.end();
  else src.on('end', endDst);
  const f = mode === 'events' ? null : userBufferFields(src);
  const handle = (src as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (!f || !handle?.useUserBuffer) {
    relayEvents(src, dst);
    return 'events';
  }
  new UserBufferRelay(src, dst, f, handle as { useUserBuffer: (b: Uint8Array) => void });
  return 'user-buffer';
}

/**
 * Activity, for the inactivity timeouts (pipe.ts): each read from a socket and each completed write to it stores the
 * time on the socket. The time is a coarse clock that pipe.ts's sweep advances on every tick, so stamping is one
 * store, not a clock read nor a timer re-arm per read (what socket.setTimeout() costs).
 */
export const kActive = Symbol('active');
export const coarseClock = { now: 0 };
type ActiveSocket = Socket & { [kActive]: number };

// Memory: an idle session keeps its relays' listeners for its whole life, so they are functions shared by all
// relays (a closure each cost ~60 bytes plus its context per idle connection); they find their relay through the
// socket. Node calls the read callback as a method of the socket, and the buffer generator right after it.
const kDst = Symbol('relayDst');
const kRelay = Symbol('relay');
type RelaySocket = Socket & { [kDst]: Socket; [kRelay]: UserBufferRelay };
let nextBuffer: Buffer | null = null;

function endDst(this: RelaySocket): void {
  this[kDst].end();
}
function relayClosed(this: RelaySocket): void {
  this[kRelay].dropPrivate();
}
function relayRead(this: RelaySocket, n: number, b: Buffer): boolean {
  const r = this[kRelay];
  const more = r.onRead(n, b);
  nextBuffer = r.buf;
  return more;
}
/** The buffer of the next read, chosen by the read callback that Node has just called. */
function relayNextBuffer(): Buffer {
  return nextBuffer ?? sharedBuffer();
}

class UserBufferRelay {
  buf: Buffer = sharedBuffer(); // the buffer of the next read: the shared one or `priv`
  private priv: Buffer | null = null; // this direction's private buffer, if it has one
  private stalled = false; // dst has writes in flight
  private stalledAt = 0;
  private extraRead = false; // the one read allowed while stalled has been made
  private waiting = false; // reading stopped until dst has written everything
  private smallReads = 0;
  // One callback for every write: once dst has nothing left in flight, the stall is over. Callbacks of writes that
  // completed earlier can run while a later one is still pending, hence the check on writableLength.
  private readonly written: () => void;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    f: UserBufferFields,
    handle: { useUserBuffer: (b: Uint8Array) => void },
  ) {
    this.written = () => {
      (this.dst as ActiveSocket)[kActive] = coarseClock.now;
      if (!this.stalled || this.dst.writableLength > 0) return;
      this.endStall();
    };
    // Whatever src read before now sits in its Readable buffer: hand it on first, in order.
    for (let chunk: Buffer | null; (chunk = src.read() as Buffer | null) !== null; ) dst.write(chunk, this.written);
    (src as RelaySocket)[kRelay] = this;
    const s = src as unknown as Record<symbol, unknown>;
    s[f.buffer] = this.buf;
    s[f.callback] = relayRead;
    // Node asks for the buffer of the next read after each callback: that is how a direction changes buffers.
    s[f.generator] = relayNextBuffer;
    handle.useUserBuffer(this.buf);
    src.on('close', relayClosed);
    if (dst.writableLength > 0) {
      this.startStall();
      this.waiting = true;
      src.pause();
    } else {
      src.resume(); // in case whoever had src before paused it; its Readable buffer is empty, so nothing is emitted
    }
  }

  onRead(n: number, b: Buffer): boolean {
    (this.src as ActiveSocket)[kActive] = coarseClock.now;
    const fromShared = b !== this.priv;
    let chunk: Buffer;
    if (fromShared) {
      chunk = Buffer.allocUnsafe(n);
      b.copy(chunk, 0, 0, n);
    } else chunk = b.subarray(0, n);
    this.dst.write(chunk, this.written);
    if (this.dst.writableLength === 0) {
      // dst took it all: nothing of ours is in flight.
      if (n === b.length) this.grow(b.length);
      else if (!fromShared) {
        if (n * SHRINK_RATIO >= b.length) this.smallReads = 0;
        else if (++this.smallReads >= SHRINK_AFTER_READS) this.dropPrivate();
      }
      return true;
    }
    // The write is in flight, and Node may point into `b` if it is ours: no read may land there until it is done.
    // One more read may go to the shared buffer; after that, reading waits.
    if (!this.stalled) this.startStall();
    else if (this.extraRead) {
      this.waiting = true;
      return false;
    }
    this.extraRead = true;
    this.buf = sharedBuffer();
    return true;
  }

  private startStall(): void {
    this.stalled = true;
    this.stalledAt = Date.now();
    this.extraRead = false;
  }

  private endStall(): void {
    this.stalled = false;
    // A long wait means a slow reader: its session gives its private buffer back. A short one was a busy peer in a
    // bulk transfer: reading goes on into the private buffer, which is free again.
    if (this.priv && Date.now() - this.stalledAt > SLOW_STALL_MS) this.dropPrivate();
    this.buf = this.priv ?? sharedBuffer();
    if (this.waiting) {
      this.waiting = false;
      if (!this.src.destroyed) this.src.resume();
    }
  }

  /** Reads fill the buffer and dst keeps up: a larger private buffer, as far as the process-wide budget allows. */
  private grow(size: number): void {
    const next = this.priv === null ? PRIVATE_MIN_BYTES : Math.min(size * GROWTH, READ_BUFFER_MAX_BYTES);
    if (next <= (this.priv?.length ?? 0)) return;
    const held = this.priv?.length ?? 0;
    if (privateBytes - held + next > PRIVATE_BUDGET_BYTES) return;
    privateBytes += next - held;
    this.priv = Buffer.allocUnsafe(next);
    this.buf = this.priv;
    this.smallReads = 0;
  }

  dropPrivate(): void {
    if (this.priv === null) return;
    privateBytes -= this.priv.length;
    this.priv = null;
    this.smallReads = 0;
    if (!this.stalled) this.buf = sharedBuffer();
  }
}

/** The portable path: 'data' events, pause() while dst's buffer is full, resume() on 'drain'. */
function relayEvents(src: Socket, dst: Socket): void {
  src.on('data', (chunk: Buffer) => {
    (src as ActiveSocket)[kActive] = coarseClock.now;
    if (dst.write(chunk)) (dst as ActiveSocket)[kActive] = coarseClock.now;
    else src.pause();
  });
  dst.on('drain', () => {
    (dst as ActiveSocket)[kActive] = coarseClock.now;
    src.resume();
  });
}
