import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StatusServer } from './status.ts';

function get(opts: { socketPath?: string; port?: number; path: string }): Promise<{ code: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...opts, host: '127.0.0.1' }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(b) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('status server', () => {
  const source = () => ({ routerId: 'r1', instances: [{ name: 'VI_1', state: 'MASTER' }] });

  it('serves JSON on a TCP port and per instance', async () => {
    const s = new StatusServer(source);
    const addr = await s.listen({ port: 0 });
    const port = Number(/:(\d+)$/.exec(addr)![1]);
    expect(await get({ port, path: '/' })).toEqual({ code: 200, body: source() });
    expect(await get({ port, path: '/instances/VI_1' })).toEqual({ code: 200, body: { name: 'VI_1', state: 'MASTER' } });
    expect((await get({ port, path: '/instances/nope' })).code).toBe(404);
    await s.close();
  });

  it('serves JSON on a unix socket, replacing a stale one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vrrp-status-'));
    const sock = join(dir, 's.sock');
    const s1 = new StatusServer(source);
    await s1.listen({ socket: sock });
    await s1.close();
    const s2 = new StatusServer(source);
    expect(await s2.listen({ socket: sock })).toBe(`unix:${sock}`);
    expect((await get({ socketPath: sock, path: '/' })).body).toEqual(source());
    await s2.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
