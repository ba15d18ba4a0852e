// Syslog output over UDP: per-session tcplog lines and server state changes, filtered by facility and level.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, connect, startBackend, startProxy, stats, waitFor, whoAnswers } from './helpers.ts';

const receivers: dgram.Socket[] = [];
afterEach(async () => {
  await cleanup();
  for (const r of receivers.splice(0)) r.close();
});

async function syslogReceiver(): Promise<{ port: number; lines: string[] }> {
  const sock = dgram.createSocket('udp4');
  receivers.push(sock);
  const lines: string[] = [];
  sock.on('message', (m) => lines.push(m.toString()));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, lines };
}

describe('log', () => {
  it('option tcplog sends one line per session; dontlognull drops empty ones; state changes go out at alert', async () => {
    const a = await startBackend('A');
    const b = await startBackend('B');
    const rx = await syslogReceiver();
    const { port, lb } = await startProxy(
      `global\n log 127.0.0.1:${rx.port} local2 notice\n` +
        'defaults\n mode tcp\n log global\n option tcplog\n option dontlognull\n timeout connect 1s\n' +
        `listen rmq\n bind 127.0.0.1:0\n log 127.0.0.1:${rx.port} local0 info\n` +
        ` server a 127.0.0.1:${a.port} check inter 100 rise 1 fall 1\n server b 127.0.0.1:${b.port}\n`,
    );
    expect(await whoAnswers(port('rmq'), lb)).toBe('A');
    // local0 (16) * 8 + info (6) = 134
    await waitFor(() => rx.lines.some((l) => l.startsWith('<134>')), 5000, 'tcplog line');
    const line = rx.lines.find((l) => l.startsWith('<134>')) as string;
    expect(line).toMatch(/^<134>\w{3} [ \d]\d \d\d:\d\d:\d\d proxy\[\d+\]: 127\.0\.0\.1:\d+ \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] rmq rmq\/a 0\/\d+\/\d+ 2 -- 1\/1\/1\/1\/0 0\/0$/);
    // A session that carries no byte either way is not logged.
    const before = rx.lines.length;
    const silent = await startBackend('S', { silent: true });
    const { port: port2, lb: lb2 } = await startProxy(
      `defaults\n mode tcp\n option tcplog\n option dontlognull\n timeout connect 1s\n timeout server 200ms\nlisten quiet\n bind 127.0.0.1:0\n log 127.0.0.1:${rx.port} local0 info\n server s 127.0.0.1:${silent.port}\n`,
    );
    const c = await connect(port2('quiet'));
    c.socket.destroy();
    await waitFor(() => lb2.sessionCount === 0, 5000, 'session closed');
    // The state change of rmq/a is an alert (1): local0 -> <129>, and local2 (notice) -> <145>.
    await a.kill();
    await waitFor(() => stats(lb, 'rmq', 'a').status === 'DOWN', 5000, 'a DOWN');
    await waitFor(() => rx.lines.some((l) => l.startsWith('<145>') && l.includes('Server rmq/a is DOWN')), 5000, 'alert to the global target');
    expect(rx.lines.some((l) => l.startsWith('<129>') && l.includes('Server rmq/a is DOWN'))).toBe(true);
    expect(rx.lines.slice(before).some((l) => l.includes(' quiet '))).toBe(false);
    // The global target is at notice: the info-level tcplog lines never reached local2.
    expect(rx.lines.some((l) => l.startsWith('<150>'))).toBe(false);
  });

  it('without tcplog, a "Connect from" line per accepted connection', async () => {
    const a = await startBackend('A');
    const rx = await syslogReceiver();
    const { port, lb } = await startProxy(`defaults\n mode tcp\n timeout connect 1s\nlisten l\n bind 127.0.0.1:0\n log 127.0.0.1:${rx.port} local1 debug\n server a 127.0.0.1:${a.port}\n`);
    await whoAnswers(port('l'), lb);
    await waitFor(() => rx.lines.length > 0, 5000, 'connect line');
    expect(rx.lines[0]).toMatch(new RegExp(`^<142>.*: Connect from 127\\.0\\.0\\.1:\\d+ to 127\\.0\\.0\\.1:${port('l')} \\(l/TCP\\)$`));
  });
});
