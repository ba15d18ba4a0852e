// Weighted balancing, backup/disabled servers and the runtime API, with real backend processes behind the proxy.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadBalancer } from '../../packages/proxy/src/load-balancer.ts';
import { cleanup, connect, waitFor, cli, startBackend, startProxy, stats, tempDir, whoAnswers } from './helpers.ts';

afterEach(cleanup);

const DEFAULTS = 'defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n timeout server 10s\n';

async function sequence(port: number, n: number, lb?: LoadBalancer): Promise<string> {
  let out = '';
  for (let i = 0; i < n; i++) out += await whoAnswers(port, lb);
  return out;
}

describe('balancing across backend processes', () => {
  it('roundrobin follows the weights (3:1)', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port, lb } = await startProxy(
      `${DEFAULTS}listen rmq\n bind 127.0.0.1:0\n balance roundrobin\n server a 127.0.0.1:${a.port} weight 3\n server b 127.0.0.1:${b.port} weight 1\n`,
    );
    const seq = await sequence(port('rmq'), 8);
    expect([...seq].filter((c) => c === 'A').length).toBe(6);
    expect([...seq].filter((c) => c === 'B').length).toBe(2);
    expect(seq).not.toContain('BB');
    expect(stats(lb, 'rmq', 'a').stot).toBe(6);
    expect(stats(lb, 'rmq', 'BACKEND').stot).toBe(8);
  });

  it('first fills the first server up to its maxconn before using the next', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port } = await startProxy(
      `${DEFAULTS}listen l\n bind 127.0.0.1:0\n balance first\n server a 127.0.0.1:${a.port} maxconn 2\n server b 127.0.0.1:${b.port} maxconn 2\n`,
    );
    // Sequential connections always fit on the first server.
    expect(await sequence(port('l'), 4)).toBe('AAAA');
  });

  it('leastconn sends new connections to the least loaded server', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port, lb } = await startProxy(`${DEFAULTS}listen l\n bind 127.0.0.1:0\n balance leastconn\n server a 127.0.0.1:${a.port}\n server b 127.0.0.1:${b.port}\n`);
    const held = await connect(port('l'));
    const first = await held.line();
    // While one session stays open on `first`, every new short session goes to the other server.
    const other = first === 'A' ? 'B' : 'A';
    await waitFor(() => lb.sessionCount === 1, 5000, 'one session');
    for (let i = 0; i < 3; i++) {
      expect(await whoAnswers(port('l'))).toBe(other);
      await waitFor(() => lb.sessionCount === 1, 5000, 'one session');
    }
  });

  it('disabled servers take nothing; backup servers only when no active server is usable', async () => {
    const [a, b, c] = await Promise.all([startBackend('A'), startBackend('B'), startBackend('C')]);
    const { port, lb } = await startProxy(
      `${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} check inter 100 fall 1 rise 1\n` +
        ` server b 127.0.0.1:${b.port} disabled\n server c 127.0.0.1:${c.port} backup\n`,
    );
    expect(await sequence(port('l'), 3)).toBe('AAA');
    await a.kill();
    await waitFor(() => stats(lb, 'l', 'a').status === 'DOWN', 5000, 'a DOWN');
    expect(await sequence(port('l'), 2)).toBe('CC');
    expect(stats(lb, 'l', 'b').stot).toBe(0);
  });

  it('runtime API over the stats socket: disable, enable, drain and weights', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const sock = join(tempDir(), 'admin.sock');
    const { port, lb } = await startProxy(
      `global\n stats socket ${sock} level admin\n${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n server b 127.0.0.1:${b.port}\n`,
    );
    const p = port('l');
    expect(await cli(sock, 'disable server l/a')).toBe('');
    expect(stats(lb, 'l', 'a').status).toBe('MAINT');
    expect(await sequence(p, 3)).toBe('BBB');
    await cli(sock, 'enable server l/a');
    await cli(sock, 'set server l/b state drain');
    expect(stats(lb, 'l', 'b').status).toBe('DRAIN');
    expect(await sequence(p, 3)).toBe('AAA');
    await cli(sock, 'set server l/b state ready');
    await cli(sock, 'set weight l/a 0');
    expect(await cli(sock, 'get weight l/a')).toBe('0 (initial 1)\n');
    expect(await sequence(p, 2)).toBe('BB');
    await cli(sock, 'set server l/a weight 2');
    const seq = await sequence(p, 6);
    expect([...seq].filter((x) => x === 'A').length).toBe(4);
    expect(await cli(sock, 'set weight l/nope 1')).toBe('No such server.\n');
    expect(await cli(sock, 'show stat')).toMatch(/^# pxname,svname,/);
    expect(await cli(sock, 'show servers state l')).toMatch(/l a 127\.0\.0\.1:\d+ 2 0 2 1/);
  });

  it('a user-level socket may read but not change anything', async () => {
    const a = await startBackend('A');
    const sock = join(tempDir(), 'user.sock');
    await startProxy(`global\n stats socket ${sock} level user\n${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n`);
    expect(await cli(sock, 'disable server l/a')).toBe('Permission denied\n');
    expect(await cli(sock, 'show info')).toMatch(/Name: warren-proxy/);
  });
});

describe('stats page admin', () => {
  it('POST commands and haproxy form actions need stats admin and auth', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const { port, lb } = await startProxy(
      `${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port}\n server b 127.0.0.1:${b.port}\n` +
        'listen stats\n bind 127.0.0.1:0\n mode http\n stats uri /admin\n stats auth ops:secret\n stats admin if TRUE\n' +
        'listen ro\n bind 127.0.0.1:0\n mode http\n stats uri /ro\n',
    );
    const auth = { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` };
    const url = `http://127.0.0.1:${port('stats')}/admin`;
    expect((await fetch(`${url};cmd`, { method: 'POST', body: 'disable server l/a' })).status).toBe(401);
    const r = await fetch(`${url};cmd`, { method: 'POST', body: 'disable server l/a', headers: auth });
    expect(r.status).toBe(200);
    expect(stats(lb, 'l', 'a').status).toBe('MAINT');
    expect(await sequence(port('l'), 2)).toBe('BB');
    const form = await fetch(url, { method: 'POST', body: 'b=l&s=a&s=b&action=drain', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/admin;st=DONE');
    expect(stats(lb, 'l', 'a').status).toBe('DRAIN');
    expect(stats(lb, 'l', 'b').status).toBe('DRAIN');
    const html = await (await fetch(url, { headers: auth })).text();
    expect(html).toContain('<select name=action>');
    const ro = await fetch(`http://127.0.0.1:${port('ro')}/ro;cmd`, { method: 'POST', body: 'enable server l/a' });
    expect(ro.status).toBe(403);
    expect(stats(lb, 'l', 'a').status).toBe('DRAIN');
  });
});
