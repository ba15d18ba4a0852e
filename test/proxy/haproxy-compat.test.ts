// Side by side with the real haproxy 2.6 (skipped where it is not installed): the same config given to `haproxy` and
// to Warren's proxy must be refused with the same errors, or run with the same visible behaviour.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, freePort, HAPROXY, hasHaproxy, httpGet, runProxyCheck, startBackend, startHaproxy, startProxy, tempDir, waitFor, whoAnswers } from './helpers.ts';

afterEach(cleanup);

/** The `parsing [file:line] : ...` part of every ALERT line. */
const alerts = (out: string): string[] => [...out.matchAll(/^\[ALERT\].*?(parsing \[.*)$/gm)].map((m) => m[1] as string);

async function checkBoth(text: string): Promise<{ warren: { code: number | null; out: string }; haproxy: { code: number | null; out: string } }> {
  const file = join(tempDir(), 'haproxy.cfg');
  writeFileSync(file, text);
  const [warren, haproxy] = await Promise.all([runProxyCheck(file), runProxyCheck(file, HAPROXY)]);
  return { warren, haproxy };
}

const TCP_DEFAULTS = 'defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n';

describe.skipIf(!hasHaproxy)('side by side with haproxy 2.6', () => {
  it('contimeout, clitimeout and srvtimeout are refused with the same errors', async () => {
    const r = await checkBoth(
      'defaults\n    mode tcp\n    contimeout 5000\n    clitimeout 50000\n    srvtimeout 50000\n' +
        'frontend f\n    bind 127.0.0.1:1\n    clitimeout 1s\n    default_backend b\nbackend b\n    server a 127.0.0.1:2\n',
    );
    expect(r.haproxy.code).toBe(1);
    expect(r.warren.code).toBe(1);
    expect(alerts(r.haproxy.out)).toHaveLength(4);
    expect(alerts(r.warren.out)).toEqual(alerts(r.haproxy.out));
    expect(r.warren.out).not.toContain('deprecated spelling');
  });

  it('a timeout with two values is refused with the same error', async () => {
    const r = await checkBoth('defaults\n    mode tcp\n    timeout connect 5s\n    timeout server 5s 6s\nlisten l\n    bind 127.0.0.1:1\n    server a 127.0.0.1:2\n');
    expect(r.haproxy.code).toBe(1);
    expect(r.warren.code).toBe(1);
    expect(alerts(r.warren.out)).toEqual(alerts(r.haproxy.out));
  });

  it('two sections bound to the same address: the config is valid, and both sections take connections', async () => {
    const [a, b] = await Promise.all([startBackend('A'), startBackend('B')]);
    const port = await freePort();
    const text = (p: number): string =>
      `${TCP_DEFAULTS}listen first\n    bind 127.0.0.1:${p}\n    server a 127.0.0.1:${a.port}\n` +
      `listen second\n    bind 127.0.0.1:${p}\n    server b 127.0.0.1:${b.port}\n`;
    const check = await checkBoth(text(port));
    expect(check.haproxy.code).toBe(0);
    expect(check.warren.code).toBe(0);
    const seen = async (p: number): Promise<string[]> => {
      const tags = new Set<string>();
      for (let i = 0; i < 40 && tags.size < 2; i++) tags.add(await whoAnswers(p));
      return [...tags].sort();
    };
    await startHaproxy(text(port), port);
    expect(await seen(port)).toEqual(['A', 'B']);
    const warrenPort = await freePort();
    await startProxy(text(warrenPort));
    expect(await seen(warrenPort)).toEqual(['A', 'B']);
  });

  it('stats: the same CSV columns, a stats-only BACKEND UP, chkfail and chkdown counted as haproxy counts them, stats requests counted, the HTML column groups', async () => {
    const live = await startBackend('L');
    const [closed1, closed2, closed3] = [await freePort(), await freePort(), await freePort()];
    const text = (tcpPort: number, gonePort: number, statsPort: number): string =>
      `${TCP_DEFAULTS}listen tcp\n    bind 127.0.0.1:${tcpPort}\n` +
      `    server live 127.0.0.1:${live.port} check inter 100 rise 1 fall 2\n` +
      `    server dead 127.0.0.1:${closed1} check inter 100 rise 1 fall 2\n` +
      `listen gone\n    bind 127.0.0.1:${gonePort}\n` +
      `    server d1 127.0.0.1:${closed2} check inter 100 rise 1 fall 2\n` +
      `    server d2 127.0.0.1:${closed3} check inter 100 rise 1 fall 2\n` +
      `listen monitor\n    bind 127.0.0.1:${statsPort}\n    mode http\n    stats enable\n    stats uri /stats\n    stats refresh 5s\n`;
    type Rows = Map<string, Record<string, string>>;
    const csv = async (port: number): Promise<{ header: string; rows: Rows }> => {
      const body = (await httpGet(port, '/stats;csv')).body;
      const [header, ...lines] = body.trim().split('\n') as [string, ...string[]];
      const names = header.slice(2).split(',');
      const rows: Rows = new Map();
      for (const l of lines) {
        const f = l.split(',');
        rows.set(`${f[0]}/${f[1]}`, Object.fromEntries(names.map((n, i) => [n, f[i] ?? ''])));
      }
      return { header, rows };
    };
    const observe = async (statsPort: number) => {
      // Several check intervals with `dead`, `d1` and `d2` DOWN, then two page views.
      await waitFor(async () => (await csv(statsPort)).rows.get('gone/BACKEND')?.status === 'DOWN', 10_000, 'gone DOWN');
      const first = await csv(statsPort);
      await new Promise((r) => setTimeout(r, 800));
      const html = (await httpGet(statsPort, '/stats')).body;
      const later = await csv(statsPort);
      return { first, later, html };
    };
    const hp = [await freePort(), await freePort(), await freePort()] as const;
    await startHaproxy(text(...hp), hp[2]);
    const h = await observe(hp[2]);
    const wp = [await freePort(), await freePort(), await freePort()] as const;
    await startProxy(text(...wp));
    const w = await observe(wp[2]);

    // Soft: each difference from haproxy is reported, not only the first.
    expect.soft(w.later.header).toBe(h.later.header);
    for (const r of [h, w]) {
      const rows = r.later.rows;
      expect.soft(rows.get('monitor/BACKEND')?.status).toBe('UP');
      expect.soft(rows.get('tcp/BACKEND')?.status).toBe('UP');
      expect.soft(rows.get('tcp/BACKEND')?.chkdown).toBe('0'); // its server went DOWN, the backend did not
      expect.soft(rows.get('gone/BACKEND')).toMatchObject({ status: 'DOWN', chkdown: '1' }); // two servers down, one transition
      expect.soft(rows.get('tcp/dead')).toMatchObject({ status: 'DOWN', chkfail: '1', chkdown: '1' });
      expect.soft(r.first.rows.get('tcp/dead')?.chkfail).toBe('1'); // no more failures counted while DOWN
      const fe = rows.get('monitor/FRONTEND') as Record<string, string>;
      expect.soft(Number(fe.req_tot)).toBeGreaterThanOrEqual(3); // the CSV fetches and the page view
      expect.soft(Number(fe.stot)).toBeGreaterThanOrEqual(1);
      expect.soft(Number(fe.hrsp_2xx)).toBeGreaterThanOrEqual(2);
    }
    const groups = (html: string): string => /(<th colspan=\d+>[A-Za-z ]+<\/th>)+/.exec(html)?.[0] ?? '';
    expect.soft(groups(h.html)).toContain('Session rate');
    expect.soft(groups(w.html)).toBe(groups(h.html));
  });
});
