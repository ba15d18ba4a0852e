/**
 * One health check against one server: the socket I/O at the edge of the health machinery.
 *
 * - tcp:  a TCP connect (haproxy's default check): L4OK / L4TOUT / L4CON.
 * - amqp: Warren's `option amqp-check`. After the connect, send the AMQP 0-9-1 protocol header and expect the
 *         broker's first frame to be a connection.start method frame (AMQP 0-9-1 §4.2.2: the server answers the
 *         header with Connection.Start on channel 0). A broker that accepts TCP but never speaks (wedged, overloaded,
 *         a port forwarder with nothing behind it) gives L7TOUT; anything else gives L7RSP.
 * - http: `option httpchk`: one request, a 2xx or 3xx status line passes (haproxy: configuration.txt "httpchk").
 */
import net from 'node:net';
import type { CheckKind } from '../config/types.ts';
import type { CheckResult, CheckStatus } from './check-result.ts';

export const AMQP_PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0 0 9 1
const AMQP_FRAME_METHOD = 1; // AMQP 0-9-1 §4.2.3
const AMQP_CONNECTION_START = (10 << 16) | 10; // class connection (10), method start (10)
const AMQP_FRAME_HEADER_BYTES = 7;

export interface ProbeSpec {
  kind: CheckKind;
  host: string;
  port: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  http?: { method: string; uri: string; version: string };
}

export function probe(spec: ProbeSpec): Promise<CheckResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    let connected = false;
    let done = false;
    let received: Buffer = Buffer.alloc(0);
    const socket = net.connect({ host: spec.host, port: spec.port });
    const finish = (status: CheckStatus, ok: boolean, info: string, code: number | null = null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, ok, info, code, durationMs: Math.round(performance.now() - started) });
    };
    let timer = setTimeout(() => finish('L4TOUT', false, 'connect timeout'), spec.connectTimeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish('L4CON', false, describeError(err));
      else finish(spec.kind === 'tcp' ? 'L4CON' : 'L7RSP', false, describeError(err));
    });
    socket.on('connect', () => {
      connected = true;
      if (spec.kind === 'tcp') return finish('L4OK', true, '');
      clearTimeout(timer);
      timer = setTimeout(() => finish('L7TOUT', false, 'no answer in time'), spec.readTimeoutMs);
      if (spec.kind === 'amqp') socket.write(AMQP_PROTOCOL_HEADER);
      else {
        const h = spec.http ?? { method: 'OPTIONS', uri: '/', version: 'HTTP/1.0' };
        socket.write(`${h.method} ${h.uri} ${h.version}\r\nConnection: close\r\n\r\n`);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const verdict = spec.kind === 'amqp' ? judgeAmqp(received) : judgeHttp(received);
      if (verdict) finish(verdict.status, verdict.ok, verdict.info, verdict.code ?? null);
    });
    socket.on('end', () => {
      const verdict = spec.kind === 'amqp' ? judgeAmqp(received, true) : judgeHttp(received, true);
      finish(verdict?.status ?? 'L7RSP', verdict?.ok ?? false, verdict?.info ?? 'connection closed by server');
    });
  });
}

interface Verdict {
  status: CheckStatus;
  ok: boolean;
  info: string;
  code?: number;
}

/** Decides once enough bytes are in; null means "need more". */
export function judgeAmqp(buf: Buffer, ended = false): Verdict | null {
  if (buf.length >= 4 && buf.toString('latin1', 0, 4) === 'AMQP') {
    // AMQP 0-9-1 §4.2.2: a server that rejects the header answers with the header it supports, then closes.
    if (buf.length < 8) return ended ? { status: 'L7RSP', ok: false, info: 'truncated protocol header' } : null;
    return { status: 'L7RSP', ok: false, info: `protocol mismatch, server speaks AMQP ${buf[5]}-${buf[6]}-${buf[7]}` };
  }
  if (buf.length < AMQP_FRAME_HEADER_BYTES + 4) {
    return ended ? { status: 'L7RSP', ok: false, info: buf.length ? 'short answer' : 'connection closed without answer' } : null;
  }
  const type = buf.readUInt8(0);
  const channel = buf.readUInt16BE(1);
  const method = buf.readUInt32BE(AMQP_FRAME_HEADER_BYTES);
  if (type !== AMQP_FRAME_METHOD || channel !== 0) return { status: 'L7RSP', ok: false, info: `unexpected frame type ${type} on channel ${channel}` };
  if (method !== AMQP_CONNECTION_START) return { status: 'L7RSP', ok: false, info: `unexpected method ${method >>> 16}.${method & 0xffff}` };
  return { status: 'L7OK', ok: true, info: 'connection.start received' };
}

export function judgeHttp(buf: Buffer, ended = false): Verdict | null {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return ended || buf.length > 8192 ? { status: 'L7RSP', ok: false, info: 'no status line' } : null;
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(buf.toString('latin1', 0, eol));
  if (!m) return { status: 'L7RSP', ok: false, info: 'invalid status line' };
  const code = Number(m[1]);
  return code >= 200 && code < 400 ? { status: 'L7OK', ok: true, info: 'OK', code } : { status: 'L7STS', ok: false, info: `HTTP status ${code}`, code };
}

function describeError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'Connection refused';
  if (err.code === 'ECONNRESET') return 'Connection reset by peer';
  return err.code ?? err.message;
}
