import { Packr } from 'msgpackr';
import { PeerError } from './errors.ts';

/*
 * Frame format (all integers big-endian):
 *
 *   +----------------+--------+---------------------------------------------+
 *   | length: uint32 | kind:u8| body: length - 1 bytes                      |
 *   +----------------+--------+---------------------------------------------+
 *
 * length counts kind + body, so it is at least 1 and at most maxFrameBytes; anything else is a protocol error
 * detected from the 4 length bytes alone, before a single body byte is buffered. Bodies by kind:
 *
 *   HELLO, CHALLENGE, PROOF, ACCEPT, REFUSE   msgpack map (handshake.ts)
 *   HEARTBEAT                                 empty
 *   MESSAGE                                   msgpack value
 *   REQUEST, REPLY                            request id: uint32, msgpack value
 *   REPLY_ERROR                               request id: uint32, msgpack {message, code?}
 *   GOODBYE                                   msgpack {reason}
 */
export const FrameKind = {
  HELLO: 0x01,
  CHALLENGE: 0x02,
  PROOF: 0x03,
  ACCEPT: 0x04,
  REFUSE: 0x05,
  HEARTBEAT: 0x10,
  MESSAGE: 0x11,
  REQUEST: 0x12,
  REPLY: 0x13,
  REPLY_ERROR: 0x14,
  GOODBYE: 0x15,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const FRAME_HEADER_BYTES = 4;
/** Before the peer is authenticated, frames are tiny; an unauthenticated client must not make us buffer more. */
export const HANDSHAKE_MAX_FRAME_BYTES = 1024;
/**
 * Default ceiling for one frame after the handshake: RabbitMQ 4's default max_message_size is 16 MiB, and a
 * mirrored message carries its properties beside the body, so leave room above it.
 */
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/**
 * Plain msgpack (no msgpackr records or structure sharing), so each frame decodes on its own and any msgpack
 * implementation can read it. One instance per process is enough: packing is synchronous.
 * copyBuffers: a decoded binary (a message body) would otherwise be a view into the received socket chunk, and a
 * queue keeping a 100-byte body would keep the whole 64 KiB chunk alive with it.
 */
export const packr = new Packr({ useRecords: false, moreTypes: false, copyBuffers: true });

/**
 * A message packed for PeerLink.sendPacked(). The bytes are msgpackr's buffer, valid until the next pack in this
 * process: hand them to every link before packing anything else.
 */
export function packMessage(message: unknown): Buffer {
  return packr.pack(message);
}

const innerPackr = new Packr({ useRecords: false, moreTypes: false });
const viewUnpackr = new Packr({ useRecords: false, moreTypes: false, copyBuffers: false });

/**
 * For a message with many binaries (the mirrors' stream of message bodies): the part holding them is packed on its
 * own and sent as one binary inside the message, so the receiving codec copies (allocates) it once instead of once per
 * binary, and unpackViews() hands the binaries out as views into that copy. Those views keep the whole part alive:
 * copy one that is kept long on its own. The bytes are valid until the next packInner().
 */
export function packInner(value: unknown): Buffer {
  return innerPackr.pack(value);
}

/** Unpacks what packInner() packed: binaries are views into bytes. */
export function unpackViews(bytes: Uint8Array): unknown {
  return viewUnpackr.unpack(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

export interface FrameSink {
  /**
   * body excludes the kind byte. Unless owned, it shares memory with the received chunk: copy it to keep it. An owned
   * body (a frame that arrived split across chunks, reassembled in a buffer of its own) may be kept as it is.
   */
  onFrame(kind: number, body: Buffer, owned: boolean): void;
}

/**
 * Splits a byte stream into frames. When a whole frame sits in the received chunk it is handed out as a subarray of
 * that chunk (no copy); only a frame split across chunks is copied, once, into a buffer of its exact size. Can be
 * paused between frames (the handshake pauses it when it is done, and the link resumes it), keeping unread bytes.
 */
export class FrameDecoder {
  maxFrameBytes: number;
  private sink: FrameSink | null;
  private paused = false;
  /** Bytes received while paused. */
  private held: Buffer | null = null;
  /** The frame being reassembled across chunks (kind + body), and how much of it is filled. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  /** A length header split across chunks. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;

  constructor(sink: FrameSink | null, maxFrameBytes: number) {
    this.sink = sink;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Stops handing out frames after the current one; later bytes are kept until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(sink: FrameSink): void {
    this.sink = sink;
    this.paused = false;
    const held = this.held;
    this.held = null;
    if (held !== null) this.push(held);
  }

  /** Throws PeerError (FRAME_TOO_LARGE, PROTOCOL_ERROR) on a bad length; the stream is then unusable. */
  push(chunk: Buffer): void {
    if (this.paused) {
      this.held = this.held === null ? chunk : Buffer.concat([this.held, chunk]);
      return;
    }
    const length = chunk.length;
    let offset = 0;
    while (offset < length) {
      if (this.paused) {
        this.held = chunk.subarray(offset);
        return;
      }
      const partial = this.partial;
      if (partial !== null) {
        const n = Math.min(partial.length - this.partialFilled, length - offset);
        chunk.copy(partial, this.partialFilled, offset, offset + n);
        this.partialFilled += n;
        offset += n;
        if (this.partialFilled === partial.length) {
          this.partial = null;
          this.emit(partial, true);
        }
      } else if (this.headerFilled > 0 || length - offset < FRAME_HEADER_BYTES) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, length - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + n);
        this.headerFilled += n;
        offset += n;
        if (this.headerFilled === FRAME_HEADER_BYTES) {
          this.headerFilled = 0;
          this.partial = Buffer.allocUnsafe(this.checkLength(this.header.readUInt32BE(0)));
          this.partialFilled = 0;
        }
      } else {
        const frameLength = this.checkLength(chunk.readUInt32BE(offset));
        const start = offset + FRAME_HEADER_BYTES;
        if (length - start >= frameLength) {
          offset = start + frameLength;
          this.emit(chunk.subarray(start, offset), false);
        } else {
          // Split frame: its own buffer, never a shared one, because msgpackr may return Buffers that point into it.
          const partial = Buffer.allocUnsafe(frameLength);
          this.partialFilled = chunk.copy(partial, 0, start, length);
          this.partial = partial;
          offset = length;
        }
      }
    }
  }

  private checkLength(frameLength: number): number {
    if (frameLength > this.maxFrameBytes) {
      throw new PeerError(
        'FRAME_TOO_LARGE',
        `frame of ${frameLength} bytes announced, maximum is ${this.maxFrameBytes}`,
      );
    }
    if (frameLength < 1) throw new PeerError('PROTOCOL_ERROR', 'empty frame (length 0)');
    return frameLength;
  }

  private emit(frame: Buffer, owned: boolean): void {
    this.sink!.onFrame(frame[0]!, frame.subarray(1), owned);
  }
}

/** Bytes to reserve so small frames never cause a new chunk each. */
const WRITER_CHUNK_BYTES = 64 * 1024;

/**
 * Accumulates outgoing frames back to back and hands them out as one Buffer per flush, so several frames cost one
 * socket write. Buffers handed out are never written again (the transport may hold them until sent): the writer
 * moves on in the same chunk and starts a new chunk when the current one is full.
 */
export class FrameWriter {
  private chunk: Buffer = Buffer.allocUnsafe(WRITER_CHUNK_BYTES);
  private start = 0;
  private position = 0;

  get pendingBytes(): number {
    return this.position - this.start;
  }

  /** kind + optional request id + payload, preceded by its length. */
  write(kind: number, id: number, withId: boolean, payload: Uint8Array | null): void {
    const bodyLength = 1 + (withId ? 4 : 0) + (payload === null ? 0 : payload.length);
    this.reserve(FRAME_HEADER_BYTES + bodyLength);
    const chunk = this.chunk;
    let p = this.position;
    chunk.writeUInt32BE(bodyLength, p);
    chunk[p + 4] = kind;
    p += 5;
    if (withId) {
      chunk.writeUInt32BE(id, p);
      p += 4;
    }
    if (payload !== null) {
      chunk.set(payload, p);
      p += payload.length;
    }
    this.position = p;
  }

  /** The frames written since the last take(), or null if none. */
  take(): Buffer | null {
    if (this.position === this.start) return null;
    const out = this.chunk.subarray(this.start, this.position);
    if (this.chunk.length > 4 * WRITER_CHUNK_BYTES) {
      // A backlog grew the chunk; do not keep megabytes per link once it is gone.
      this.chunk = Buffer.allocUnsafe(WRITER_CHUNK_BYTES);
      this.position = 0;
    }
    this.start = this.position;
    return out;
  }

  private reserve(bytes: number): void {
    if (this.chunk.length - this.position >= bytes) return;
    const pending = this.position - this.start;
    // Doubling keeps a long backlog (peer not draining) linear in copies.
    const next = Buffer.allocUnsafe(Math.max(WRITER_CHUNK_BYTES, 2 * (pending + bytes)));
    this.chunk.copy(next, 0, this.start, this.position);
    this.chunk = next;
    this.start = 0;
    this.position = pending;
  }
}

/** Encodes one frame on its own (handshake and tests). */
export function encodeFrame(kind: number, payload: Uint8Array | null): Buffer {
  const writer = new FrameWriter();
  writer.write(kind, 0, false, payload);
  return writer.take()!;
}

/**
 * msgpack decode that turns a malformed body into a PROTOCOL_ERROR naming the frame kind. The binaries of an owned
 * body (FrameSink) are views into it, which is then kept alive by them: it holds nothing else (measured on a mirror
 * of a busy queue, whose 20-100 KB frames mostly arrive split across socket reads: one copy of every body less, and
 * about a tenth of its main thread's time); those of a body in a shared chunk are copies.
 */
export function unpackBody(body: Uint8Array, kind: number, owned = false): unknown {
  try {
    return owned ? viewUnpackr.unpack(body) : packr.unpack(body);
  } catch (error) {
    const snippet = Buffer.from(body.subarray(0, 16)).toString('hex');
    throw new PeerError(
      'PROTOCOL_ERROR',
      `malformed msgpack in frame kind 0x${kind.toString(16)} (${body.length} bytes, starting ${snippet}): ${(error as Error).message}`,
    );
  }
}
