import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameKind, packr } from '../codec.ts';
import { dialPeer } from '../dial.ts';
import { Handshake, NONCE_BYTES } from '../handshake.ts';
import { cryptoRandom } from '../random.ts';
import type { PeerLink } from '../peer-link.ts';
import { MAX_PENDING_HANDSHAKES, MAX_PENDING_PER_SOURCE, PeerServer } from '../peer-server.ts';
import { CapturingLogger, RecordingHandler } from '../test-support.ts';
import { TcpTransport } from './tcp.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: { maxFrameBytes?: number } = {}) {
  const logger = new CapturingLogger();
  const handler = new RecordingHandler();
  const peerServer = new PeerServer({ nodeName: 'rabbit@server', cookie: 'TCPCOOKIE', transport: new TcpTransport(), handler, logger, ...options });
  const address = await peerServer.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => peerServer.close());
  return { logger, handler, address };
}

function waitUntil(predicate: () => boolean, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (predicate()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error('condition not met'));
      }
    }, 5);
  });
}

describe('TcpTransport with PeerServer and dialPeer', { timeout: 10_000 }, () => {
  it('links over loopback and carries requests and many messages', async () => {
    const s = await server();
    const options = { nodeName: 'rabbit@client', cookie: 'TCPCOOKIE', transport: new TcpTransport(), handler: new RecordingHandler(), logger: new CapturingLogger() };
    const link: PeerLink = await dialPeer(options, 'rabbit@server', s.address);
    cleanups.push(() => link.close());
    expect(await link.request({ echo: 42 })).toBe(42);
    for (let i = 0; i < 10_000; i++) link.send(i);
    await waitUntil(() => s.handler.messages.length === 10_000);
    expect(s.handler.messages[9_999]!.message).toBe(9_999);
  });

  it('rejects a dial with the wrong cookie on both ends', async () => {
    const s = await server();
    const logger = new CapturingLogger();
    const config = { nodeName: 'rabbit@client', cookie: 'WRONG', transport: new TcpTransport(), handler: new RecordingHandler(), logger };
    await expect(dialPeer(config, 'rabbit@server', s.address)).rejects.toMatchObject({ code: 'COOKIE_MISMATCH' });
    await waitUntil(() => s.logger.some(/cookie mismatch/));
    expect(s.logger.some(/^error peer rabbit@client: cookie mismatch \(connection from 127\.0\.0\.1:\d+ refused\)$/)).toBe(true);
    expect(logger.some(/^error peer rabbit@server: cookie mismatch \(connection to 127\.0\.0\.1:\d+ refused by the peer\)$/)).toBe(true);
    expect(s.handler.events).toEqual([]);
  });

  it('drops a client that is not a peer (an AMQP header) at once, without buffering what it announces', async () => {
    const s = await server();
    const socket = net.connect(s.address.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    await closed;
    expect(s.logger.some(/unknown node: during handshake: frame of 1095586128 bytes announced, maximum is 1024/)).toBe(true);
  });

  it('drops the oldest idle connection, not the newcomer, beyond MAX_PENDING_PER_SOURCE pending handshakes', async () => {
    const s = await server();
    const sockets: net.Socket[] = [];
    cleanups.push(() => sockets.forEach((socket) => socket.destroy()));
    const closed: number[] = [];
    for (let i = 0; i < MAX_PENDING_PER_SOURCE + 3; i++) {
      const socket = net.connect(s.address.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => closed.push(i));
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    }
    await waitUntil(() => closed.length === 3);
    expect(closed.sort((a, b) => a - b)).toEqual([0, 1, 2]);
    expect(s.logger.lines.filter((l) => l.includes('handshakes from 127.0.0.1 already in progress')).length).toBe(3);
  });

  it(`links a peer promptly while 320 idle connections are held open and reopened (caps ${MAX_PENDING_HANDSHAKES} and ${MAX_PENDING_PER_SOURCE})`, async () => {
    const s = await server();
    const sockets = new Set<net.Socket>();
    let stop = false;
    cleanups.push(() => {
      stop = true;
      sockets.forEach((socket) => socket.destroy());
    });
    // a stranger keeps 320 sockets open, opening a new one whenever one is dropped
    const open = (): void => {
      if (stop) return;
      const socket = net.connect(s.address.port, '127.0.0.1');
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        setTimeout(open, 100);
      });
    };
    for (let i = 0; i < 320; i++) open();
    await waitUntil(() => s.logger.lines.filter((l) => l.includes('already in progress')).length > 100, 8000);
    for (let i = 0; i < 3; i++) {
      const options = { nodeName: `rabbit@client${i}`, cookie: 'TCPCOOKIE', transport: new TcpTransport(), handler: new RecordingHandler(), logger: new CapturingLogger() };
      const link: PeerLink = await dialPeer(options, 'rabbit@server', s.address);
      cleanups.push(() => link.close());
      expect(await link.request({ echo: i })).toBe(i);
    }
  });

  it('links a hand-written client that follows the documented protocol, and drops it on a malformed frame', async () => {
    const s = await server();
    const socket = net.connect(s.address.port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const handshake = new Handshake({
      role: 'initiator',
      localNode: 'rabbit@raw',
      localIncarnation: 1,
      cookie: Buffer.from('TCPCOOKIE'),
      nonce: cryptoRandom.bytes(NONCE_BYTES),
      expectedRemote: 'rabbit@server',
    });
    let linked = false;
    const decoder = new FrameDecoder(
      {
        onFrame(kind, body) {
          if (linked) return;
          const step = handshake.receive(kind, body);
          if (step.reply !== null) socket.write(step.reply);
          if (step.done !== null) {
            linked = true;
            socket.write(encodeFrame(FrameKind.MESSAGE, packr.pack({ hello: 'from raw' })));
          }
        },
      },
      1 << 20,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.write(handshake.start()!);
    await waitUntil(() => s.handler.messages.length === 1);
    expect(s.handler.messages[0]).toEqual({ from: 'rabbit@raw', message: { hello: 'from raw' } });
    socket.write(encodeFrame(FrameKind.MESSAGE, Buffer.from([0x01, 0x02])));
    await closed;
    expect(s.handler.events).toEqual(['up rabbit@raw', 'down rabbit@raw PROTOCOL_ERROR']);
    expect(s.logger.some(/malformed msgpack in frame kind 0x11 \(2 bytes, starting 0102\)/)).toBe(true);
  });
});
