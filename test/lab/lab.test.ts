// The teaching lab end to end, as a teacher runs it: `lab up` (network namespaces, the seeds' topology), two
// scenarios with a client publishing and consuming through the virtual IP (0 confirmed messages lost each), the live
// page in Chromium showing a kill within a second, then `lab down` leaving no process, namespace, link or file.
// Needs root and ip netns (skipped otherwise, with the reason); run under `flock /tmp/warren-netns.lock`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUnavailable } from '../vrrp/lab.ts';
import { leftovers } from '../../packages/lab/src/lab.ts';
import { readEvents, readState } from '../../packages/lab/src/state.ts';

const LAB = new URL('../../packages/lab/bin/lab', import.meta.url).pathname;
// names carry the branch tag; a subnet no other test uses
const PREFIX = 'i21t';
const SUBNET = '10.221.22';
const DIR = join(mkdtempSync(join(tmpdir(), 'warren-lab-test-')), 'lab');
// (made when the file loads: removed even when the netns tests are skipped or filtered out)
afterAll(() => rmSync(dirname(DIR), { recursive: true, force: true }));
const why = labUnavailable();
if (why !== undefined) console.warn(`lab test skipped: ${why}`);

function lab(args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const c = spawn(LAB, [...args, '--dir', DIR, '--prefix', PREFIX, '--subnet', SUBNET], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(t);
      res({ code: code ?? -1, out });
    });
  });
}

interface Page {
  goto(url: string): Promise<unknown>;
  click(sel: string): Promise<void>;
  waitForSelector(sel: string, o?: { state?: string; timeout?: number }): Promise<unknown>;
  getAttribute(sel: string, name: string): Promise<string | null>;
  screenshot(o: { path: string; fullPage?: boolean }): Promise<unknown>;
}
interface Browser {
  newPage(o?: object): Promise<Page>;
  close(): Promise<void>;
}
const CHROMIUM = '/usr/bin/chromium';

async function chromium(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found`;
  const name = 'playwright-core';
  try {
    const pw = (await import(name)) as { chromium: { launch(o: object): Promise<Browser> } };
    return await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  } catch (e) {
    return `playwright-core: ${(e as Error).message}`;
  }
}

describe.skipIf(why !== undefined)('the teaching lab', () => {
  let upOut = '';
  beforeAll(async () => {
    const r = await lab(['up'], 300_000);
    upOut = r.out;
    expect(r.code, r.out).toBe(0);
  }, 320_000);

  afterAll(async () => {
    // whatever happened above, nothing may stay behind
    await lab(['down'], 120_000);
    rmSync(dirname(DIR), { recursive: true, force: true });
  }, 130_000);

  it('lab up builds the seeds topology: 1 disc + 2 ram nodes, both proxies see all brokers UP, haproxy02 holds the VIP', async () => {
    expect(upOut).toMatch(/rabbitmq02 .*disc node/);
    expect(upOut).toMatch(/rabbitmq01 .*ram node/);
    expect(upOut).toMatch(/rabbitmq03 .*ram node/);
    expect(upOut).toContain(`virtual IP ${SUBNET}.46: haproxy02`);
    const cfg = readFileSync(join(DIR, 'haproxy01', 'haproxy.cfg'), 'utf8');
    expect(cfg).toContain(`server rabbitmq01.kevin.cn ${SUBNET}.40:5672 check inter 3s rise 1 fall 2`);
    const st = await lab(['status'], 60_000);
    expect(st.out).toMatch(/haproxy01 .*backends: rabbitmq01 UP rabbitmq02 UP rabbitmq03 UP/);
  }, 120_000);

  it('two scenarios pass with 0 confirmed messages lost: mirrored-failover and vip-failover', async () => {
    const r = await lab(['run', 'mirrored-failover', 'vip-failover'], 600_000);
    console.log(r.out);
    expect(r.out).toContain('PASS mirrored-failover');
    expect(r.out).toContain('PASS vip-failover');
    const lost = [...r.out.matchAll(/client: (\d+) confirmed, \d+ received, (\d+) lost/g)];
    expect(lost.length).toBe(2);
    for (const m of lost) {
      expect(Number(m[1])).toBeGreaterThan(0);
      expect(Number(m[2])).toBe(0);
    }
    expect(existsSync(join(DIR, 'runs', 'vip-failover.svg'))).toBe(true);
    expect(r.code).toBe(0);
  }, 620_000);

  it('the live page shows a kill within a second (Chromium)', async (ctx) => {
    const b = await chromium();
    if (typeof b === 'string') return ctx.skip(`browser: ${b}`);
    try {
      const port = readState(DIR)?.pagePort;
      expect(port).toBeTypeOf('number');
      const page = await b.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('#host-rabbitmq03[data-state="running"]', { timeout: 20_000 });
      await page.click('#host-rabbitmq03 button[data-action="kill"]');
      await page.waitForSelector('#host-rabbitmq03[data-state="down"]', { timeout: 10_000 });
      // when the page drew the change (its own clock, the same machine's): Playwright's polling is not the page's delay
      const shownAt = Number(await page.getAttribute('#host-rabbitmq03', 'data-since'));
      await page.waitForSelector('#events >> text=kill -9 everything on rabbitmq03', { timeout: 5000 });
      // the lab logs the kill once the process is gone: from then to the page showing it
      const killed = readEvents(DIR).find((e) => e.text === 'kill -9 everything on rabbitmq03');
      expect(killed).toBeDefined();
      const shownMs = shownAt - killed!.t;
      console.log(`the page shows the kill ${shownMs} ms after the broker was gone`);
      if (process.env['LAB_SCREENSHOT']) await page.screenshot({ path: process.env['LAB_SCREENSHOT'], fullPage: true });
      expect(shownMs).toBeLessThan(1000);
      await page.click('#host-rabbitmq03 button[data-action="restart"]');
      await page.waitForSelector('#host-rabbitmq03[data-state="running"]', { timeout: 10_000 });
    } finally {
      await b.close();
    }
  }, 120_000);

  it('lab down leaves nothing behind', async () => {
    const r = await lab(['down'], 120_000);
    expect(r.code, r.out).toBe(0);
    expect(leftovers(DIR, PREFIX)).toEqual([]);
    // and again: idempotent
    expect((await lab(['down'], 60_000)).code).toBe(0);
  }, 200_000);
});

// Without root: the same cluster and proxies on loopback ports, no VRRP. (Runs as root too, beside the netns lab's
// names: its own directory, no namespaces.)
describe('the teaching lab on loopback (lab up --loopback)', () => {
  const LO = join(mkdtempSync(join(tmpdir(), 'warren-lab-lo-test-')), 'lab');
  const lo = (args: string[], timeoutMs: number) =>
    new Promise<{ code: number; out: string }>((res) => {
      const c = spawn(LAB, [...args, '--dir', LO], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.once('exit', (code) => {
        clearTimeout(t);
        res({ code: code ?? -1, out });
      });
    });
  afterAll(async () => {
    await lo(['down'], 120_000);
    rmSync(dirname(LO), { recursive: true, force: true });
  }, 130_000);

  it('up says VRRP needs root; mirrored-failover passes with 0 lost; the VRRP scenarios are skipped; down leaves nothing', async () => {
    const up = await lo(['up', '--loopback', '--no-page'], 300_000);
    expect(up.code, up.out).toBe(0);
    expect(up.out).toContain('VRRP needs root');
    expect(up.out).toMatch(/haproxy02 .*backends: rabbitmq01 UP rabbitmq02 UP rabbitmq03 UP/);
    const r = await lo(['run', 'mirrored-failover', 'vip-failover'], 400_000);
    console.log(r.out);
    expect(r.out).toContain('PASS mirrored-failover');
    expect(r.out).toContain('SKIP vip-failover: needs the network namespaces');
    expect(r.out).toMatch(/client: [1-9]\d* confirmed, \d+ received, 0 lost/);
    expect(r.code).toBe(0);
    const down = await lo(['down'], 120_000);
    expect(down.code, down.out).toBe(0);
    expect(existsSync(LO)).toBe(false);
    expect(leftovers(LO, 'wlab').filter((l) => l.startsWith('process') || l === LO)).toEqual([]);
  }, 900_000);
});
