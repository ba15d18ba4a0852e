// The web UI in a real browser: Debian's chromium driven by playwright-core. Logs in with the broker's users, walks
// every tab, watches live refresh, closes a connection and adds and removes a policy from the page.
// Needs playwright-core (npm) and /usr/bin/chromium (Debian package chromium); skips with a message otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { amqp, http, startEnv, until, type Env } from './helpers.ts';
import { localCounts, type ClusterView } from '../../packages/broker/src/mgmt/index.ts';

// the few playwright calls used here (playwright-core is optional, so its types may be absent)
interface Locator {
  textContent(): Promise<string | null>;
  count(): Promise<number>;
  click(): Promise<void>;
  isVisible(): Promise<boolean>;
}
interface Page {
  goto(url: string): Promise<unknown>;
  fill(sel: string, v: string): Promise<void>;
  click(sel: string): Promise<void>;
  selectOption(sel: string, v: string): Promise<unknown>;
  waitForSelector(sel: string, o?: { state?: string; timeout?: number }): Promise<unknown>;
  locator(sel: string): Locator;
  screenshot(o: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(ev: string, fn: (x: { message?: string; text?: () => string }) => void): void;
  setDefaultTimeout(ms: number): void;
}
interface Browser {
  newPage(o?: object): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: { launch(o: object): Promise<Browser> };
}

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env['MGMT_SCREENSHOT_DIR'] ?? join(tmpdir(), 'warren-mgmt-screenshots');

async function loadPlaywright(): Promise<Playwright | string> {
  if (!existsSync(CHROMIUM)) return `browser test skipped: ${CHROMIUM} not found (CI needs: apt-get install -y chromium)`;
  const name = 'playwright-core';
  try {
    return (await import(name)) as Playwright;
  } catch {
    return 'browser test skipped: playwright-core is not installed (the root needs: npm install -D playwright-core)';
  }
}

const pw = await loadPlaywright();
if (typeof pw === 'string') console.warn(pw);

describe.skipIf(typeof pw === 'string')('web UI in chromium', () => {
  let env: Env;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  let self = '';
  let peerSynced = false;

  beforeAll(async () => {
    // a two-node cluster view: this node (disc) and a ram peer holding a mirror of the ha.* queues
    const view: ClusterView = {
      nodes: () => [
        { name: self, type: 'disc', running: true, partitions: [] },
        { name: 'rabbit@peer', type: 'ram', running: true, partitions: [], stats: { mem_used: 50 * 1024 * 1024, uptime: 60_000 } },
      ],
      queueLocation: (_v, q) => (q.startsWith('ha.') ? { node: self, mirrors: ['rabbit@peer'], synchronisedMirrors: peerSynced ? ['rabbit@peer'] : [] } : { node: self, mirrors: [], synchronisedMirrors: [] }),
      queueCounts: (queues) => Promise.resolve(localCounts(queues)),
    };
    env = await startEnv({ cluster: view, sampleIntervalMs: 250 });
    self = env.b.broker.opts.nodeName;
    browser = await (pw as Playwright).chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(8000);
    page.on('pageerror', (e) => pageErrors.push(e.message ?? String(e)));
  });
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  /** Runs a step; on failure saves a screenshot and names it in the error. */
  async function step(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      mkdirSync(SHOTS, { recursive: true });
      const file = join(SHOTS, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      throw new Error(`${name}: ${(err as Error).message}\nscreenshot: ${file}`);
    }
  }
  const text = async (sel: string): Promise<string> => (await page.locator(sel).textContent()) ?? '';
  const tab = async (name: string): Promise<void> => {
    await page.click(`#tabs a[data-tab="${name}"]`);
    await page.waitForSelector(`#view[data-view="${name}"]`);
  };
  const waitText = async (sel: string, re: RegExp, timeout = 8000): Promise<string> => {
    const end = Date.now() + timeout;
    for (;;) {
      const t = (await page.locator(sel).count()) > 0 ? await text(sel) : '';
      if (re.test(t)) return t;
      if (Date.now() > end) throw new Error(`${sel}: '${t}' does not match ${re}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('logs in, walks the tabs, refreshes live, closes a connection, adds and removes a policy', async () => {
    await http(env, 'PUT', '/api/queues/%2F/ha.orders', { durable: true });
    await http(env, 'PUT', '/api/queues/%2F/plain', { durable: false });
    await http(env, 'PUT', '/api/exchanges/%2F/web-exchange', { type: 'fanout' });
    await http(env, 'PUT', '/api/users/viewer', { password: 'v', tags: 'monitoring' });
    const { client, conn } = await amqp(env);
    const ch = await conn.channel();
    for (let i = 0; i < 5; i++) await ch.basicPublish('', 'ha.orders', `o${i}`);

    await step('login refused', async () => {
      await page.goto(env.base + '/');
      await page.waitForSelector('#login-form');
      await page.fill('#login-user', 'guest');
      await page.fill('#login-pass', 'wrong');
      await page.click('#login-button');
      await waitText('#error', /Login failed/);
    });

    await step('a user without a management tag is refused', async () => {
      await http(env, 'PUT', '/api/users/app-only', { password: 'a', tags: '' });
      await page.fill('#login-user', 'app-only');
      await page.fill('#login-pass', 'a');
      await page.click('#login-button');
      await waitText('#error', /Not management user/);
      await page.fill('#login-user', 'guest');
    });

    await step('login and overview', async () => {
      await page.fill('#login-pass', 'guest');
      await page.click('#login-button');
      await page.waitForSelector('#view[data-view="overview"]');
      expect(await text('#whoami')).toBe('guest');
      await waitText('#total-ready .v', /^5$/);
      expect(await text('#count-connections .v')).toBe('1');
      expect(await text('#count-queues .v')).toBe('2');
      expect(await text('#alarms')).toContain('None');
      expect(await page.locator('#rates-chart polyline').count()).toBe(3);
    });

    await step('nodes', async () => {
      await tab('nodes');
      const local = await text(`#view tr[data-id="${self}"]`);
      expect(local).toContain('disc');
      expect(local).toContain('running');
      const peer = await text('#view tr[data-id="rabbit@peer"]');
      expect(peer).toContain('ram');
      expect(peer).toContain('50.0 MiB');
    });

    await step('queues with mirrors and live refresh', async () => {
      await page.selectOption('#refresh', '2000');
      await tab('queues');
      const row = '#view tr[data-id="//ha.orders"]';
      expect(await text(`${row} .q-ready`)).toBe('5');
      expect(await text(row)).toContain('+rabbit@peer');
      expect(await text(row)).toContain('0/1 synchronised');
      expect(await page.locator(`${row} .mirror.unsync`).count()).toBe(1);
      expect(await text('#view tr[data-id="//plain"]')).not.toContain('synchronised');
      for (let i = 0; i < 3; i++) await ch.basicPublish('', 'ha.orders', `late${i}`);
      // no reload: the page refreshes itself
      await waitText(`${row} .q-ready`, /^8$/);
      // the mirror catches up: the page shows it in sync
      peerSynced = true;
      await waitText(row, /1\/1 synchronised/);
      expect(await page.locator(`${row} .mirror.unsync`).count()).toBe(0);
    });

    await step('exchanges and users', async () => {
      await tab('exchanges');
      expect(await text('#view tr[data-id="//web-exchange"]')).toContain('fanout');
      expect(await text('#view')).toContain('(AMQP default)');
      await tab('users');
      expect(await text('#view tr[data-id="viewer"]')).toContain('monitoring');
      expect(await text('#view tr[data-id="guest"]')).toContain('administrator');
    });

    await step('close a connection from the page', async () => {
      const closed = new Promise<string>((resolve) => {
        client.onerror = (err) => resolve(err.message);
      });
      await tab('connections');
      await page.waitForSelector('#view button[data-close-conn]');
      expect(await text('#view')).toContain('guest');
      await page.click('#view button[data-close-conn]');
      expect(await closed).toMatch(/CONNECTION_FORCED/);
      await waitText('#view', /No connections/);
    });

    await step('add a policy from the page', async () => {
      await tab('policies');
      expect(await text('#view')).toContain('No policies');
      await page.fill('#policy-name', 'ha-all');
      await page.fill('#policy-pattern', '^ha\\.');
      await page.selectOption('#policy-apply', 'queues');
      await page.fill('#policy-priority', '1');
      await page.fill('#policy-definition', 'ha-mode = all\nha-sync-mode = automatic');
      await page.click('#policy-add');
      await waitText('#view tr[data-id="//ha-all"]', /ha-mode: "all"/);
      const p = await http(env, 'GET', '/api/policies/%2F/ha-all');
      expect(p.json).toEqual({ vhost: '/', name: 'ha-all', pattern: '^ha\\.', 'apply-to': 'queues', definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' }, priority: 1 });
      expect(env.b.broker.vhosts.get('/')!.queues.get('ha.orders')!.policy?.name).toBe('ha-all');
      await tab('queues');
      expect(await text('#view tr[data-id="//ha.orders"]')).toContain('ha-all');
    });

    await step('invalid policy shows the broker reason', async () => {
      await tab('policies');
      await page.fill('#policy-name', 'broken');
      await page.fill('#policy-pattern', '.*');
      await page.fill('#policy-definition', 'no-such-key = 1');
      await page.click('#policy-add');
      await waitText('#error', /Validation failed/);
      expect((await http(env, 'GET', '/api/policies/%2F/broken')).status).toBe(404);
    });

    await step('remove the policy from the page', async () => {
      await page.click('#view button[data-delete-policy]');
      await waitText('#view', /No policies/);
      await until(() => http(env, 'GET', '/api/policies'), (r) => r.json.length === 0);
      expect(env.b.broker.vhosts.get('/')!.queues.get('ha.orders')!.policy).toBeNull();
    });

    await step('log out and log in as a monitoring user', async () => {
      await page.click('#logout');
      await page.waitForSelector('#login-form');
      expect(await page.locator('#app').isVisible()).toBe(false);
      await page.fill('#login-user', 'viewer');
      await page.fill('#login-pass', 'v');
      await page.click('#login-button');
      await page.waitForSelector('#view[data-view="overview"]');
      expect(await text('#whoami')).toBe('viewer');
      // monitoring opens nodes but not users or policies
      expect(await page.locator('#tabs a[data-tab="users"]').isVisible()).toBe(false);
      expect(await page.locator('#tabs a[data-tab="policies"]').isVisible()).toBe(false);
      await tab('nodes');
      expect(await text('#view')).toContain('rabbit@peer');
    });

    expect(pageErrors).toEqual([]);
  });
});
