import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AMQP_PROTOCOL_HEADER, judgeAmqp, judgeHttp, probe } from './probe.ts';

// The first bytes of a connection.start frame: type 1, channel 0, size, class 10, method 10, version 0-9.
const START_FRAME = Buffer.from([1, 0, 0, 0, 0, 0, 6, 0, 10, 0, 10, 0, 9, 0xce]);

const servers: net.Server[] = [];
const conns: net.Socket[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
function listen(onConn: (s: net.Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer((c) => {
      c.on('error', () => {});
      conns.push(c);
      onConn(c);
    });
    servers.push(s);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
  });
}
async function freePort(): Promise<number> {
  const port = await listen(() => {});
  await new Promise((r) => (servers.pop() as net.Server).close(r));
  return port;
}

describe('judgeAmqp', () => {
  it('accepts a connection.start method frame', () => {
    expect(judgeAmqp(START_FRAME)).toMatchObject({ status: 'L7OK', ok: true });
  });
  it('waits for more bytes, then rejects wrong frames and protocol mismatches', () => {
    expect(judgeAmqp(START_FRAME.subarray(0, 5))).toBeNull();
    expect(judgeAmqp(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toMatchObject({ status: 'L7RSP' });
    expect(judgeAmqp(Buffer.from([1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 50]))).toMatchObject({ status: 'L7RSP', info: 'unexpected method 10.50' });
    expect(judgeAmqp(Buffer.from('AMQP\x00\x00\x09\x00', 'latin1'))).toMatchObject({ status: 'L7RSP', info: expect.stringContaining('mismatch') });
    expect(judgeAmqp(Buffer.alloc(0), true)).toMatchObject({ status: 'L7RSP' });
  });
});

describe('judgeHttp', () => {
  it('passes 2xx/3xx, fails others', () => {
    expect(judgeHttp(Buffer.from('HTTP/1.1 200 OK\r\n'))).toMatchObject({ status: 'L7OK', code: 200 });
    expect(judgeHttp(Buffer.from('HTTP/1.0 503 Service Unavailable\r\n'))).toMatchObject({ status: 'L7STS', code: 503 });
    expect(judgeHttp(Buffer.from('SSH-2.0\r\n'))).toMatchObject({ status: 'L7RSP' });
  });
});

describe('probe over real sockets', () => {
  it('tcp: L4OK on an open port, L4CON on a closed one', async () => {
    const port = await listen(() => {});
    expect(await probe({ kind: 'tcp', host: '127.0.0.1', port, connectTimeoutMs: 2000, readTimeoutMs: 2000 })).toMatchObject({ status: 'L4OK', ok: true });
    const closed = await freePort();
    expect(await probe({ kind: 'tcp', host: '127.0.0.1', port: closed, connectTimeoutMs: 2000, readTimeoutMs: 2000 })).toMatchObject({ status: 'L4CON', ok: false, info: 'Connection refused' });
  });
  it('amqp: sends the protocol header and passes on connection.start', async () => {
    let got: Buffer = Buffer.alloc(0);
    const port = await listen((c) => c.once('data', (d: Buffer) => ((got = d), c.write(START_FRAME))));
    const r = await probe({ kind: 'amqp', host: '127.0.0.1', port, connectTimeoutMs: 2000, readTimeoutMs: 2000 });
    expect(got.equals(AMQP_PROTOCOL_HEADER)).toBe(true);
    expect(r).toMatchObject({ status: 'L7OK', ok: true });
  });
  it('amqp: a server that accepts and never answers is L7TOUT, where a TCP check would pass', async () => {
    const port = await listen(() => {});
    expect(await probe({ kind: 'amqp', host: '127.0.0.1', port, connectTimeoutMs: 2000, readTimeoutMs: 150 })).toMatchObject({ status: 'L7TOUT', ok: false });
  });
  it('amqp: a server that closes at once is L7RSP', async () => {
    const port = await listen((c) => c.end());
    expect(await probe({ kind: 'amqp', host: '127.0.0.1', port, connectTimeoutMs: 2000, readTimeoutMs: 2000 })).toMatchObject({ status: 'L7RSP', ok: false });
  });
});
