// Messages as they cross the peer links (forwarded publishes, remote deliveries, the mirrors' stream): exchange,
// routing key, the properties as encoded in AMQP (flags + values) and the body, each a msgpack value.
import { Message } from '../queue/message.ts';
import { Writer } from '../amqp/writer.ts';
import { Reader } from '../amqp/reader.ts';
import * as M from '../amqp/methods.ts';

/** A message's properties as AMQP encodes them: the bytes received from the publisher, or encoded now. */
export function rawProps(msg: Message): Buffer {
  if (msg.rawProperties !== null) return msg.rawProperties;
  const w = new Writer(64);
  M.encodeProperties(w, msg.properties);
  return w.take();
}

/**
 * A Buffer over a binary the peer codec decoded: a copy of its own, or a view into a frame that is its own (one
 * reassembled from split socket reads, codec.ts unpackBody), or a view into a frame's part unpacked with
 * unpackViews(); copied (into Node's pool for small ones) when asked.
 */
function view(b: Uint8Array, copy: boolean): Buffer {
  if (copy) return Buffer.from(b);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Builds Messages from what a peer sent. A stream of messages usually repeats its properties (same content type,
 * delivery mode, headers): properties equal to the previous message's share its decoded object and raw bytes, which
 * nothing mutates (a change of properties builds a new object), as the channel does for publishes.
 */
export class MessageDecoder {
  private lastRaw: Buffer | null = null;
  private lastProps: M.BasicProperties | null = null;

  /** copy: the binaries are views into a larger buffer that the message must not keep alive (a sync batch). */
  decode(exchange: string, routingKey: string, props: Uint8Array, body: Uint8Array, timestamp: number, copy = false): Message {
    let raw = this.lastRaw;
    let properties = this.lastProps;
    if (raw === null || properties === null || !raw.equals(props)) {
      // (kept by every later message with the same properties: always a copy of its own)
      raw = view(props, true);
      properties = M.decodeProperties(new Reader(raw, 2), raw.readUInt16BE(0));
      this.lastRaw = raw;
      this.lastProps = properties;
    }
    return new Message(exchange, routingKey, properties, raw, view(body, copy), timestamp);
  }
}
