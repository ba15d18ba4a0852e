// Connection handling through the proxy: retries and redispatch, timeouts, maxconn queueing, half-close and bulk
// data with backpressure. Backends are separate processes; a dead server is a port nothing listens on.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, connect, sleep, startBackend, startProxy, stats, waitFor, whoAnswers } from './helpers.ts';

afterEach(cleanup);

async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('retries and redispatch', () => {
  it('with option redispatch, a connection to a dead server moves to a live one', async () => {
    const b = await startBackend('B');
    const dead = await deadPort();
    const { port, lb } = await startProxy(
      `defaults\n mode tcp\n timeout connect 200ms\n retries 1\n option redispatch\nlisten l\n bind 127.0.0.1:0\n` +
        ` server dead 127.0.0.1:${dead}\n server b 127.0.0.1:${b.port}\n`,
    );
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push(await whoAnswers(port('l')));
    expect(answers).toEqual(['B', 'B', 'B', 'B']);
    expect(stats(lb, 'l', 'dead')).toMatchObject({ econ: 2, wretr: 2, wredis: 2 });
    expect(stats(lb, 'l', 'BACKEND')).toMatchObject({ wredis: 2, econ: 2 });
  });

  it('without it, the same server is retried and the client is closed once retries run out', async () => {
    const b = await startBackend('B');
    const dead = await deadPort();
    const { port, lb } = await startProxy(
      `defaults\n mode tcp\n timeout connect 100ms\n retries 2\nlisten l\n bind 127.0.0.1:0\n server dead 127.0.0.1:${dead}\n server b 127.0.0.1:${b.port}\n`,
    );
    const answers = [await whoAnswers(port('l')), await whoAnswers(port('l'))];
    expect(answers.sort()).toEqual(['', 'B']);
    expect(stats(lb, 'l', 'dead')).toMatchObject({ econ: 3, wretr: 2, wredis: 0 });
  });
});

describe('timeouts', () => {
  it('timeout client closes an idle session; traffic keeps it alive', async () => {
    const a = await startBackend('A');
    const { port } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\n timeout client 300ms\n timeout server 10s\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    const busy = await connect(port('l'));
    const idle = await connect(port('l'));
    await busy.line();
    await idle.line();
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      busy.socket.write(`ping${i}\n`);
      await sleep(100);
    }
    await idle.ended;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(busy.data()).toContain('ping5');
    expect(busy.socket.readableEnded).toBe(false);
  });

  it('timeout server closes a session whose server stays silent', async () => {
    const w = await startBackend('W', { silent: true });
    const { port, lb } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n timeout server 300ms\nlisten l\n bind 127.0.0.1:0\n server w 127.0.0.1:${w.port}\n`);
    const c = await connect(port('l'));
    c.socket.write('hello?\n');
    await c.ended;
    await waitFor(() => lb.sessionCount === 0, 2000, 'session gone');
  });

  it('timeout tunnel supersedes client and server timeouts once connected', async () => {
    const a = await startBackend('A');
    const { port } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n timeout tunnel 300ms\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    const c = await connect(port('l'));
    await c.line();
    await c.ended;
  });

  it('timeout client 0 means no timeout', async () => {
    const a = await startBackend('A');
    const { port } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\n timeout client 0\n timeout server 0\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    const c = await connect(port('l'));
    await c.line();
    await sleep(500);
    c.socket.write('late\n');
    await waitFor(() => c.data().includes('late'), 5000, 'echo after idling');
  });

  it('timeout connect bounds a connect that gets no answer', async () => {
    // A TEST-NET-1 address (RFC 5737) is never routed: the SYN goes unanswered, or the route is refused at once.
    const b = await startBackend('B');
    const { port, lb } = await startProxy(
      `defaults\n mode tcp\n timeout connect 150ms\n retries 1\n option redispatch\nlisten l\n bind 127.0.0.1:0\n server void 192.0.2.1:9\n server b 127.0.0.1:${b.port}\n`,
    );
    expect(await whoAnswers(port('l'))).toBe('B');
    expect(await whoAnswers(port('l'))).toBe('B');
    expect(stats(lb, 'l', 'void').econ).toBe(1);
  });
});

describe('maxconn and queueing', () => {
  it('a server at its maxconn queues new sessions until a slot frees', async () => {
    const a = await startBackend('A');
    const { port, lb } = await startProxy(`defaults\n mode tcp\n timeout connect 5s\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} maxconn 1\n`);
    const first = await connect(port('l'));
    expect(await first.line()).toBe('A');
    const second = await connect(port('l'));
    await waitFor(() => stats(lb, 'l', 'BACKEND').qcur === 1, 5000, 'queued');
    await sleep(200);
    expect(second.data()).toBe('');
    expect(stats(lb, 'l', 'a').scur).toBe(1);
    first.socket.destroy();
    expect(await second.line()).toBe('A');
    expect(stats(lb, 'l', 'BACKEND')).toMatchObject({ qcur: 0, qmax: 1 });
  });

  it('timeout queue closes a session that waited too long', async () => {
    const a = await startBackend('A');
    const { port } = await startProxy(`defaults\n mode tcp\n timeout connect 5s\n timeout queue 200ms\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} maxconn 1\n`);
    const first = await connect(port('l'));
    await first.line();
    const second = await connect(port('l'));
    await second.ended;
    expect(second.data()).toBe('');
    first.socket.write('x\n');
    await waitFor(() => first.data().includes('x'), 5000, 'first session unaffected');
  });

  // All test clients come from 127.0.0.1, so `balance source` sends every one of them to the same server.
  const sourceCfg = (a: number, b: number, extra = ''): string =>
    `defaults\n mode tcp\n timeout connect 5s\n timeout queue 10s\nlisten l\n bind 127.0.0.1:0\n balance source\n${extra}` +
    ` server a 127.0.0.1:${a} maxconn 1 maxqueue 1\n server b 127.0.0.1:${b} maxconn 1 maxqueue 1\n`;

  it('balance source waits for the hashed server; beyond its maxqueue a session is closed', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port, lb } = await startProxy(sourceCfg(a.port, b.port));
    const first = await connect(port('l'));
    const tag = await first.line();
    const mine = tag === 'A' ? 'a' : 'b';
    const other = tag === 'A' ? 'b' : 'a';
    const second = await connect(port('l'));
    await waitFor(() => stats(lb, 'l', mine).qcur === 1, 5000, 'second session queued on its server');
    expect(stats(lb, 'l', other).scur).toBe(0); // the other server is free, but not this client's server
    const third = await connect(port('l'));
    await third.ended; // maxqueue 1: no room left in the server's queue
    expect(third.data()).toBe('');
    expect(stats(lb, 'l', mine)).toMatchObject({ qcur: 1, qmax: 1, qlimit: 1, econ: 1 });
    first.socket.destroy();
    expect(await second.line()).toBe(tag);
    expect(stats(lb, 'l', mine).qcur).toBe(0);
  });

  it('with option redispatch, a session beyond maxqueue goes to another server', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port, lb } = await startProxy(sourceCfg(a.port, b.port, ' option redispatch\n'));
    const first = await connect(port('l'));
    const tag = await first.line();
    const second = await connect(port('l'));
    await waitFor(() => stats(lb, 'l', 'BACKEND').qcur === 1, 5000, 'second session queued');
    const third = await connect(port('l'));
    expect(await third.line()).toBe(tag === 'A' ? 'B' : 'A');
    expect(second.data()).toBe('');
    first.socket.destroy();
    expect(await second.line()).toBe(tag);
  });

  it('frontend maxconn holds extra connections until a session ends', async () => {
    const a = await startBackend('A');
    const { port, lb } = await startProxy(`defaults\n mode tcp\n timeout connect 5s\nlisten l\n bind 127.0.0.1:0\n maxconn 1\n server a 127.0.0.1:${a.port}\n`);
    const first = await connect(port('l'));
    await first.line();
    const second = await connect(port('l'));
    await sleep(200);
    expect(second.data()).toBe('');
    expect(stats(lb, 'l', 'FRONTEND')).toMatchObject({ scur: 1, status: 'FULL', qcur: 1 });
    first.socket.destroy();
    expect(await second.line()).toBe('A');
  });
});

describe('data path', () => {
  it('pipes bulk data both ways with backpressure and forwards a half-close', async () => {
    const a = await startBackend('A');
    const { port, lb } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 13)) & 0xff;
    const received: Buffer[] = [];
    const sock = net.connect({ port: port('l'), host: '127.0.0.1', allowHalfOpen: true });
    sock.on('data', (d: Buffer) => received.push(d));
    const ended = new Promise<void>((r) => sock.once('end', () => r()));
    await new Promise((r) => sock.once('connect', r));
    sock.end(payload); // data, then FIN: the echo server sees end only after all data, and ends its side
    await ended;
    const all = Buffer.concat(received);
    expect(all.subarray(0, 2).toString()).toBe('A\n');
    expect(all.length).toBe(payload.length + 2);
    expect(all.subarray(2).equals(payload)).toBe(true);
    sock.destroy();
    await waitFor(() => lb.sessionCount === 0, 5000, 'session closed after both FINs');
    expect(stats(lb, 'l', 'FRONTEND')).toMatchObject({ bin: payload.length, bout: payload.length + 2 });
  });

  it('keeps the other direction open after one side half-closes', async () => {
    const a = await startBackend('A');
    const { port } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\nlisten l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    // The backend greets, echoes, and ends after our FIN: the greeting must still arrive after we half-close.
    const c = await connect(port('l'));
    c.socket.end('bye\n');
    await c.ended;
    expect(c.data()).toBe('A\nbye\n');
  });
});
