// Health checks against real backend processes: fall x inter to go DOWN, rise x inter to come back, the AMQP-aware
// check catching a wedged server, and on-marked-down shutdown-sessions.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, connect, sleep, startBackend, startProxy, stats, waitFor, whoAnswers } from './helpers.ts';

afterEach(cleanup);

const DEFAULTS = 'defaults\n mode tcp\n timeout connect 500ms\n timeout client 10s\n timeout server 10s\n';
const INTER = 100;

describe('health checks', () => {
  it('a killed backend is marked DOWN after fall checks and back UP after rise checks', async () => {
    const a = await startBackend('A');
    const b = await startBackend('B');
    const { port, lb, log } = await startProxy(
      `${DEFAULTS}listen l\n bind 127.0.0.1:0\n option redispatch\n` +
        ` server a 127.0.0.1:${a.port} check inter ${INTER} rise 2 fall 3\n server b 127.0.0.1:${b.port} check inter ${INTER} rise 2 fall 3\n`,
    );
    await waitFor(() => stats(lb, 'l', 'a').status === 'UP' && stats(lb, 'l', 'a').check_status === 'L4OK', 5000, 'a fully UP');
    const killedAt = Date.now();
    await a.kill();
    await waitFor(() => stats(lb, 'l', 'a').status === 'DOWN', 5000, 'a DOWN');
    // fall = 3 failed checks, inter apart: at least 2 intervals after the kill.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2 * INTER);
    const row = stats(lb, 'l', 'a');
    expect(row).toMatchObject({ check_status: 'L4CON', last_chk: 'Connection refused', chkdown: 1 });
    expect(log.lines.some((l) => /Server l\/a is DOWN, reason: Layer4 connection problem/.test(l))).toBe(true);
    expect(await whoAnswers(port('l'))).toBe('B');
    expect(await whoAnswers(port('l'))).toBe('B');
    // Bring it back on the same port: rise = 2 good checks.
    const back = await startBackend('A', { port: a.port });
    const backAt = Date.now();
    await waitFor(() => stats(lb, 'l', 'a').status === 'UP', 5000, 'a UP again');
    expect(Date.now() - backAt).toBeGreaterThanOrEqual(INTER);
    expect(log.lines.some((l) => /Server l\/a is UP/.test(l))).toBe(true);
    const seq = [await whoAnswers(port('l')), await whoAnswers(port('l'))].sort().join('');
    expect(seq).toBe('AB');
    await back.kill();
  });

  it('option amqp-check catches a server that accepts TCP but never speaks AMQP; a TCP check does not', async () => {
    const wedged = await startBackend('W', { silent: true });
    const { lb } = await startProxy(
      `${DEFAULTS}listen amqp\n bind 127.0.0.1:0\n option amqp-check\n timeout check 200ms\n server w 127.0.0.1:${wedged.port} check inter ${INTER} rise 1 fall 2\n` +
        `listen plain\n bind 127.0.0.1:0\n server w 127.0.0.1:${wedged.port} check inter ${INTER} rise 1 fall 2\n`,
    );
    await waitFor(() => stats(lb, 'amqp', 'w').status === 'DOWN', 5000, 'wedged server DOWN');
    expect(stats(lb, 'amqp', 'w')).toMatchObject({ check_status: 'L7TOUT', check_desc: 'Layer7 timeout' });
    expect(stats(lb, 'amqp', 'BACKEND').status).toBe('DOWN');
    await waitFor(() => stats(lb, 'plain', 'w').check_status === 'L4OK', 5000, 'tcp check ran');
    expect(stats(lb, 'plain', 'w').status).toBe('UP');
  });

  it('on-marked-down shutdown-sessions closes established sessions; without it they stay', async () => {
    const a = await startBackend('A', { health: true });
    const { port, lb } = await startProxy(
      `${DEFAULTS}listen kill\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} check port ${a.healthPort} inter ${INTER} rise 1 fall 1 on-marked-down shutdown-sessions\n` +
        `listen keep\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} check port ${a.healthPort} inter ${INTER} rise 1 fall 1\n`,
    );
    await waitFor(() => stats(lb, 'kill', 'a').check_status === 'L4OK' && stats(lb, 'keep', 'a').check_status === 'L4OK', 5000, 'checks ran');
    const killed = await connect(port('kill'));
    const kept = await connect(port('keep'));
    expect(await killed.line()).toBe('A');
    expect(await kept.line()).toBe('A');
    a.proc.kill('SIGUSR2'); // closes the health port only; the data port and both sessions stay up
    await waitFor(() => stats(lb, 'kill', 'a').status === 'DOWN' && stats(lb, 'keep', 'a').status === 'DOWN', 5000, 'marked DOWN');
    await killed.ended;
    kept.socket.write('still here\n');
    await waitFor(() => kept.data().includes('still here'), 5000, 'echo through the kept session');
    expect(kept.socket.destroyed).toBe(false);
  });

  it('on-marked-up shutdown-backup-sessions moves clients off the backup when the active server returns', async () => {
    const a = await startBackend('A', { health: true });
    const bk = await startBackend('K');
    const { port, lb } = await startProxy(
      `${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} check port ${a.healthPort} inter ${INTER} rise 1 fall 1 on-marked-up shutdown-backup-sessions\n` +
        ` server k 127.0.0.1:${bk.port} backup\n`,
    );
    a.proc.kill('SIGUSR2'); // health port closed: a goes DOWN, the backup takes over
    await waitFor(() => stats(lb, 'l', 'a').status === 'DOWN', 5000, 'a DOWN');
    const onBackup = await connect(port('l'));
    expect(await onBackup.line()).toBe('K');
    a.proc.kill('SIGUSR2'); // health port back: a comes UP and the backup session is shut down
    await waitFor(() => stats(lb, 'l', 'a').status === 'UP', 5000, 'a UP');
    await onBackup.ended;
    expect(await whoAnswers(port('l'))).toBe('A');
  });

  it('fastinter and downinter pace the checks by state', async () => {
    const a = await startBackend('A');
    const { lb } = await startProxy(`${DEFAULTS}listen l\n bind 127.0.0.1:0\n server a 127.0.0.1:${a.port} check inter 5s fastinter 50 downinter 5s rise 1 fall 20\n`);
    // Starts UP at `rise` (transitional), so checks run at fastinter until fully up.
    await sleep(600);
    expect(stats(lb, 'l', 'a').status).toBe('UP');
    await a.kill();
    await sleep(300);
    // inter is 5s: without fastinter, no failure would have been seen yet; with fall 20 it is still UP.
    const row = stats(lb, 'l', 'a');
    expect(row.status).toBe('UP');
    expect(Number(row.chkfail)).toBe(0);
  });
});
