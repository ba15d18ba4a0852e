// The `proxy` binary: `-c` on the seed configs and on broken ones, the seed configs running (addresses rewritten to
// loopback), the stats page, SIGHUP reload and SIGTERM graceful stop.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, cli, connect, HERE, httpGet, runProxyCheck, sleep, spawnProxy, startBackend, tempDir, waitFor, whoAnswers } from './helpers.ts';

afterEach(cleanup);

const fixture = (name: string): string => readFileSync(join(HERE, 'fixtures', name), 'utf8');

describe('proxy -c', () => {
  it.each(['haproxy-article0.cfg', 'haproxy-article1.cfg'])('accepts the seed config %s unchanged', async (name) => {
    const r = await runProxyCheck(join(HERE, 'fixtures', name));
    expect(r.out).toContain('Configuration file is valid');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\[WARNING\].*'chroot' : not implemented and ignored/);
  });

  it('rejects a broken config naming file, line and directive', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.cfg');
    writeFileSync(file, 'defaults\n mode tcp\n timeout connect 5x\nlisten l\n bind :1\n server a 127.0.0.1:1 check inter 5000 rise two\n');
    const r = await runProxyCheck(file);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`parsing [${file}:3] : 'timeout connect' : expects a time value, got '5x'`);
    expect(r.out).toContain(`parsing [${file}:6] : 'server' : 'rise' expects an integer`);
    expect(r.out).not.toContain('Configuration file is valid');
  });
});

describe('seed configs running', () => {
  it('article 1: round robin over three servers and the /stats page', async () => {
    const backends = await Promise.all(['1', '2', '3'].map((n) => startBackend(`R${n}`)));
    const dir = tempDir();
    let text = fixture('haproxy-article1.cfg')
      .replace('bind :5671', 'bind 127.0.0.1:0')
      .replace('bind :8100', 'bind 127.0.0.1:0')
      .replace(/pidfile \S+/, `pidfile ${join(dir, 'proxy.pid')}`);
    backends.forEach((b, i) => (text = text.replace(`rabbit${i + 1}:5672`, `127.0.0.1:${b.port}`)));
    const p = await spawnProxy(text, dir);
    const port = p.ports.get('rabbitmq_cluster') as number;
    const seen = [await whoAnswers(port), await whoAnswers(port), await whoAnswers(port)];
    expect(seen.sort()).toEqual(['R1', 'R2', 'R3']);
    expect(readFileSync(join(dir, 'proxy.pid'), 'utf8').trim()).toBe(String(p.proc.pid));
    const mon = p.ports.get('monitor') as number;
    const html = await httpGet(mon, '/stats');
    expect(html.status).toBe(200);
    expect(html.headers.refresh).toBe('5');
    expect(html.body).toContain('rabbitmq_cluster');
    expect(html.body).toMatch(/rabbit1[\s\S]*rabbit2[\s\S]*rabbit3/);
    const csv = await httpGet(mon, '/stats;csv');
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toMatch(/^# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout/);
    const rabbit1 = lines.find((l) => l.startsWith('rabbitmq_cluster,rabbit1,'))?.split(',');
    expect(rabbit1?.[7]).toBe('1'); // stot
    expect(rabbit1?.[17]).toMatch(/^UP/); // status
    const json = JSON.parse((await httpGet(mon, '/stats;json')).body) as { pxname: string; svname: string; stot?: number }[];
    expect(json.find((r) => r.svname === 'BACKEND' && r.pxname === 'rabbitmq_cluster')?.stot).toBe(3);
    expect((await httpGet(mon, '/other')).status).toBe(503);
    p.proc.kill('SIGTERM');
    await new Promise((r) => p.proc.once('exit', r));
    expect(existsSync(join(dir, 'proxy.pid'))).toBe(false);
  });

  it('article 0: frontends/backends, stats with auth and realm, the stats socket', async () => {
    const backends = await Promise.all(['1', '2', '3'].map((n) => startBackend(`K${n}`)));
    const dir = tempDir();
    let text = fixture('haproxy-article0.cfg')
      .replace('listen statics 0.0.0.0:8888', 'listen statics 127.0.0.1:0')
      .replace(/bind 0\.0\.0\.0:\d+/g, 'bind 127.0.0.1:0')
      .replace('stats socket /var/lib/haproxy/stats', `stats socket ${join(dir, 'stats.sock')}`)
      .replace(/pidfile \S+/, `pidfile ${join(dir, 'proxy.pid')}`);
    backends.forEach((b, i) => (text = text.replace(new RegExp(`192\\.168\\.1\\.4${i}:(5672|15672)`, 'g'), `127.0.0.1:${b.port}`)));
    const p = await spawnProxy(text, dir);
    const amqp = p.ports.get('kevin_rabbitMQ_cluster_frontend') as number;
    const mgmt = p.ports.get('kevin_rabbitMQ_cluster_management_frontend') as number;
    expect([await whoAnswers(amqp), await whoAnswers(amqp), await whoAnswers(amqp)].sort()).toEqual(['K1', 'K2', 'K3']);
    expect(await whoAnswers(mgmt)).toMatch(/^K[123]$/);
    const st = p.ports.get('statics') as number;
    const denied = await httpGet(st, '/');
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Basic realm="Haproxy statistic"');
    expect((await httpGet(st, '/', 'laijingli:wrong')).status).toBe(401);
    const ok = await httpGet(st, '/', 'laijingli:xxxxx');
    expect(ok.status).toBe(200);
    expect(ok.headers.refresh).toBe('60');
    expect(ok.body).toContain('rabbitmq01.kevin.cn');
    const sock = join(dir, 'stats.sock');
    await cli(sock, 'disable server kevin_rabbitMQ_cluster_backend/rabbitmq01.kevin.cn');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await whoAnswers(amqp));
    expect([...seen].sort()).toEqual(['K2', 'K3']);
    expect(await cli(sock, 'show stat')).toMatch(/kevin_rabbitMQ_cluster_backend,rabbitmq01\.kevin\.cn,.*MAINT/);
  });
});

describe('signals', () => {
  const cfg = (servers: string) =>
    `global\n maxconn 100\ndefaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\nlisten l\n bind 127.0.0.1:0\n${servers}`;

  it('SIGHUP reloads without dropping established connections; a bad config keeps the old one', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const p = await spawnProxy(cfg(` server a 127.0.0.1:${a.port}\n`));
    const port = p.ports.get('l') as number;
    const held = await connect(port);
    expect(await held.line()).toBe('A');
    writeFileSync(p.cfg, cfg(` server b 127.0.0.1:${b.port}\n`));
    p.proc.kill('SIGHUP');
    await p.waitForLog(/reloaded configuration/);
    expect(await whoAnswers(port)).toBe('B'); // same listening port, new servers
    held.socket.write('after reload\n');
    await waitFor(() => held.data().includes('after reload'), 5000, 'echo on the old session');
    writeFileSync(p.cfg, cfg(` server b 127.0.0.1:${b.port} wieght 3\n`));
    p.proc.kill('SIGHUP');
    await p.waitForLog(/reload aborted/);
    expect(p.stderr()).toMatch(/unknown server keyword 'wieght'/);
    expect(await whoAnswers(port)).toBe('B');
  });

  it('SIGTERM stops accepting, lets established sessions finish, then exits', async () => {
    const a = await startBackend('A');
    const p = await spawnProxy(cfg(` server a 127.0.0.1:${a.port}\n`));
    const port = p.ports.get('l') as number;
    const held = await connect(port);
    await held.line();
    const exited = new Promise<number | null>((r) => p.proc.once('exit', (code) => r(code)));
    p.proc.kill('SIGTERM');
    await p.waitForLog(/stopping gracefully/);
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => (s.destroy(), resolve(false)));
          s.once('error', () => resolve(true));
        }),
      5000,
      'listener closed',
    );
    held.socket.write('still served\n');
    await waitFor(() => held.data().includes('still served'), 5000, 'echo during graceful stop');
    await sleep(100);
    expect(p.proc.exitCode).toBeNull();
    held.socket.end();
    expect(await exited).toBe(0);
  });
});
