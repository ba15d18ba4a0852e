// What a user outside this repository gets: every package is built and packed (`npm pack`), the tarballs are installed
// into an empty project in the system's temp directory (no node_modules of this checkout above it; dependencies come
// from the npm registry), and there, with plain Node and the packages' own compiled output:
//   - ESM `import { startBroker } from '@warren/broker'` and CJS `require('@warren/broker')` round-trip a message;
//   - `npx broker`, `npx brokerctl`, `npx proxy -c -f <seed haproxy.cfg>`, `npx vrrpd -t -f <seed keepalived.conf>`
//     run the compiled binaries (vrrpd -t gives keepalived -t's verdict: the seed's interface is not on this
//     host), and `npx broker` serves AMQP;
//   - the root README's embedding example, copied verbatim, passes under vitest, and @warren/broker/testing's
//     per-worker broker serves a vitest suite through setupFiles;
//   - the declaration files type-check a consumer (tsc, NodeNext).
// Skipped, with the reason, when the npm registry cannot be reached.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, freePort, waitForPort } from '../helpers/broker-process.ts';

const PACKAGES = ['cluster-peer', 'broker', 'proxy', 'vrrp'];
// The consumer's own dependencies, from the registry: the client the README uses, vitest to run its example, and
// @types/node for the type check.
const CONSUMER_DEPS = ['@cloudamqp/amqp-client@^4', 'vitest@^3', '@types/node@^20'];
const REGISTRY_CHECK_MS = 20_000;
const BUILD_MS = 300_000; // tsc -b of four packages on a loaded 2-core machine
const INSTALL_MS = 400_000; // npm install, including raw-socket's node-gyp build
const COMMAND_MS = 120_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded), never throwing on a non-zero exit. */
function run(cmd: string, args: string[], opts: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? cleanEnv(), timeout: opts.timeoutMs ?? COMMAND_MS, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : null;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() + (err && code === null ? `\n${err.message}` : '') });
      },
    );
  });
}

/** The environment a user's shell would have: nothing from this test run that points into the checkout. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('VITEST') || k.startsWith('npm_') || k === 'INIT_CWD' || k === 'NODE_PATH') continue;
    env[k] = v;
  }
  return { ...env, NO_UPDATE_NOTIFIER: '1', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

const registry = await run('npm', ['ping'], { cwd: tmpdir(), timeoutMs: REGISTRY_CHECK_MS });
if (registry.code !== 0) {
  console.warn(`pack-install: skipped, the npm registry is not reachable (npm ping: ${(registry.stderr || registry.stdout).trim().split('\n').pop() ?? ''})`);
}

/** The first ```LANG block under a heading of the root README. */
function readmeBlock(heading: string, lang: string): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.split(`\n## ${heading}\n`)[1];
  const block = section?.match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'));
  if (!block?.[1]) throw new Error(`README.md: no \`\`\`${lang} block under "## ${heading}"`);
  return block[1];
}

describe.skipIf(registry.code !== 0)('packed and installed in an empty project', () => {
  let work = '';
  let project = '';

  beforeAll(async () => {
    const build = await run('npm', ['run', 'build'], { cwd: REPO, timeoutMs: BUILD_MS, env: cleanEnv() });
    expect(build.code, `npm run build failed:\n${build.stdout}\n${build.stderr}`).toBe(0);
    work = mkdtempSync(join(tmpdir(), 'warren-pack-'));
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    for (const p of PACKAGES) {
      const pack = await run('npm', ['pack', '--pack-destination', tarballs], { cwd: join(REPO, 'packages', p) });
      expect(pack.code, `npm pack in packages/${p}:\n${pack.stderr}`).toBe(0);
    }
    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2));
    const tgz = readdirSync(tarballs).map((f) => join(tarballs, f));
    const install = await run('npm', ['install', '--no-audit', '--no-fund', ...tgz, ...CONSUMER_DEPS], { cwd: project, timeoutMs: INSTALL_MS });
    expect(install.code, `npm install in the empty project:\n${install.stdout}\n${install.stderr}`).toBe(0);
    for (const f of ['haproxy-article1.cfg']) copyFileSync(join(REPO, 'test/proxy/fixtures', f), join(project, f));
    for (const f of ['keepalived-article1-master.conf']) copyFileSync(join(REPO, 'test/vrrp/fixtures', f), join(project, f));
  }, BUILD_MS + INSTALL_MS + 60_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is outside this checkout: the packages resolve to the installed compiled files', async () => {
    expect(existsSync(join(work, '..', 'node_modules'))).toBe(false);
    const r = await run(process.execPath, ['-e', "console.log(import.meta.resolve('@warren/broker'))", '--input-type=module'], { cwd: project });
    expect(r.stdout.trim()).toBe(`file://${project}/node_modules/@warren/broker/dist/index.js`);
    const tar = await run('tar', ['tzf', join(work, 'tarballs', 'warren-broker-0.1.0.tgz')], { cwd: work });
    expect(tar.stdout).toContain('package/dist/mgmt/ui.html');
    expect(tar.stdout).toContain('package/dist/index.d.ts');
    expect(tar.stdout).not.toContain('package/src/');
  });

  it('imports startBroker from plain Node ESM and round-trips a message', async () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { startBroker } from '@warren/broker';
import { AMQPClient } from '@cloudamqp/amqp-client';
const broker = await startBroker({ port: 0 });
const conn = await new AMQPClient(broker.url).connect();
const ch = await conn.channel();
const q = await ch.queueDeclare('');
await ch.basicPublish('', q.name, 'hello from esm');
console.log((await ch.basicGet(q.name))?.bodyString());
await conn.close();
await broker.close();
`,
    );
    const r = await run(process.execPath, ['esm.mjs'], { cwd: project });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from esm\n');
    expect(r.code).toBe(0);
  });

  it('requires @warren/broker from CommonJS and round-trips a message', async () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { startBroker } = require('@warren/broker');
(async () => {
  const { AMQPClient } = await import('@cloudamqp/amqp-client');
  const broker = await startBroker({ port: 0 });
  const conn = await new AMQPClient(broker.url).connect();
  const ch = await conn.channel();
  const q = await ch.queueDeclare('');
  await ch.basicPublish('', q.name, 'hello from cjs');
  console.log((await ch.basicGet(q.name))?.bodyString());
  await conn.close();
  await broker.close();
  // jest's globalSetup / globalTeardown: one broker for the run, its URL in AMQP_URL
  const setup = require('@warren/broker/testing');
  await setup({ rootDir: __dirname }, {});
  const again = await new AMQPClient(process.env.AMQP_URL).connect();
  await again.close();
  await setup.teardown();
  console.log('global setup served', process.env.AMQP_URL.startsWith('amqp://guest:guest@127.0.0.1:'));
})();
`,
    );
    const r = await run(process.execPath, ['cjs.cjs'], { cwd: project });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from cjs\nglobal setup served true\n');
    expect(r.code).toBe(0);
  });

  it("runs the README's embedding example verbatim, and @warren/broker/testing's per-worker broker, under vitest", async () => {
    writeFileSync(join(project, 'readme.test.ts'), readmeBlock('Embedding the broker in a test suite', 'ts'));
    writeFileSync(join(project, 'amqp-setup.ts'), `import { brokerForWorker } from '@warren/broker/testing';\nawait brokerForWorker();\n`);
    writeFileSync(
      join(project, 'worker.test.ts'),
      `import { AMQPClient } from '@cloudamqp/amqp-client';
import { expect, it } from 'vitest';
import { brokerForWorker } from '@warren/broker/testing';

it('gets this worker broker from AMQP_URL', async () => {
  expect(process.env.AMQP_URL).toBe((await brokerForWorker()).url);
  const conn = await new AMQPClient(process.env.AMQP_URL!).connect();
  const ch = await conn.channel();
  await ch.queueDeclare('jobs');
  await ch.basicPublish('', 'jobs', 'job 1');
  expect((await ch.basicGet('jobs'))?.bodyString()).toBe('job 1');
  await conn.close();
});
`,
    );
    writeFileSync(join(project, 'vitest.config.mjs'), `export default { test: { setupFiles: ['./amqp-setup.ts'] } };\n`);
    const r = await run('npx', ['--no', '--', 'vitest', 'run'], { cwd: project, env: cleanEnv({ CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' }) });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Tests\s+2 passed/);
  }, COMMAND_MS);

  it('type-checks a consumer against the declaration files (tsc, NodeNext)', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] },
        files: ['consumer.ts', 'consumer.cts'],
      }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { startBroker, type RunningBroker, Broker } from '@warren/broker';
import setup, { brokerForWorker, teardown } from '@warren/broker/testing';
import { LoadBalancer, parseConfigTexts } from '@warren/proxy';
import { loadConfig } from '@warren/vrrp';
const b: RunningBroker = await startBroker({ port: 0, heartbeat: 30 });
const port: number = b.port;
const inner: Broker = b.broker;
const url: string = (await brokerForWorker({ env: 'MY_URL' })).url;
const stop: () => Promise<void> = await setup();
await teardown();
void [port, inner, url, stop, LoadBalancer, parseConfigTexts, loadConfig];
`,
    );
    writeFileSync(
      join(project, 'consumer.cts'),
      `import broker = require('@warren/broker');
import testing = require('@warren/broker/testing');
async function main(): Promise<string> {
  const b = await broker.startBroker({ port: 0 });
  await testing.brokerForWorker();
  await testing.teardown();
  return b.url;
}
void main;
`,
    );
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, COMMAND_MS);

  it("the README's install recipe installs binaries and systemd units into a throwaway root", { timeout: INSTALL_MS + COMMAND_MS }, async () => {
    const recipe = readmeBlock('Installing on a host (systemd)', 'sh');
    const names = '@warren/broker @warren/proxy @warren/vrrp';
    expect(recipe).toContain(names);
    // the packages are not on the registry: the recipe installs the packed tarballs instead (cluster-peer included,
    // which the registry would give as the broker's dependency)
    const tgz = readdirSync(join(work, 'tarballs')).map((f) => join(work, 'tarballs', f)).join(' ');
    const root = join(work, 'root');
    const r = await run('sh', ['-eu', '-c', recipe.replace(names, tgz)], { cwd: work, timeoutMs: INSTALL_MS, env: cleanEnv({ ROOT: root }) });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const bin = join(root, 'usr/local/bin');
    expect((await run(join(bin, 'brokerctl'), ['--help'], { cwd: work })).stdout).toMatch(/^Usage\s+brokerctl \[-n <node>\]/);
    const check = await run(join(bin, 'proxy'), ['-c', '-q', '-f', join(project, 'haproxy-article1.cfg')], { cwd: work });
    expect(check.stdout + check.code).toBe('Configuration file is valid\n0');
    // (keepalived -t's verdict on the seed: exit 5, its interface ens33 is not on this host)
    expect((await run(join(bin, 'vrrpd'), ['-t', '-f', join(project, 'keepalived-article1-master.conf')], { cwd: work })).code).toBe(5);
    const units = join(root, 'etc/systemd/system');
    expect(readdirSync(units).sort()).toEqual(['warren-broker.service', 'warren-proxy.service', 'warren-vrrpd.service']);
    for (const d of ['etc/rabbitmq', 'etc/haproxy', 'etc/keepalived']) expect(existsSync(join(root, d))).toBe(true);
    // every command a unit runs is an installed binary: systemd-analyze verify checks them (and the unit syntax)
    // with /usr/local pointing into the throwaway root
    const staged = join(work, 'verify');
    mkdirSync(staged);
    for (const u of readdirSync(units)) {
      const text = readFileSync(join(units, u), 'utf8');
      expect(text).toMatch(/^ExecStart=\/usr\/local\/bin\//m);
      writeFileSync(join(staged, u), text.replaceAll('/usr/local/', `${root}/usr/local/`));
    }
    const hasAnalyze = (await run('sh', ['-c', 'command -v systemd-analyze'], { cwd: work })).code === 0;
    if (!hasAnalyze) {
      console.warn('pack-install: systemd-analyze not found; unit files not verified');
      return;
    }
    const verify = await run('systemd-analyze', ['verify', ...readdirSync(staged).map((u) => join(staged, u))], { cwd: work });
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.code).toBe(0);
  });

  it('npx broker --help and npx brokerctl --help run the compiled binaries', { timeout: COMMAND_MS }, async () => {
    const broker = await run('npx', ['--no', '--', 'broker', '--help'], { cwd: project });
    expect(broker.code).toBe(0);
    expect(broker.stdout).toMatch(/^usage: broker/);
    expect(broker.stdout).toContain('--port');
    const ctl = await run('npx', ['--no', '--', 'brokerctl', '--help'], { cwd: project });
    expect(ctl.code).toBe(0);
    expect(ctl.stdout).toMatch(/^Usage\s+brokerctl \[-n <node>\]/);
    expect(ctl.stdout).toContain('list_queues');
  });

  it('npx broker serves AMQP', async () => {
    const port = await freePort();
    const child = spawn(
      'npx',
      ['--no', '--', 'broker', '--memory', '--port', String(port), '--dist-port', '0', '--node-name', `pack${port}@localhost`, '--cookie-file', join(work, 'cookie')],
      { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitForPort(port, 60_000);
      writeFileSync(
        join(project, 'client.mjs'),
        `import { AMQPClient } from '@cloudamqp/amqp-client';
const conn = await new AMQPClient('amqp://guest:guest@127.0.0.1:${port}').connect();
const ch = await conn.channel();
const q = await ch.queueDeclare('');
await ch.basicPublish('', q.name, 'via the binary');
console.log((await ch.basicGet(q.name))?.bodyString(),);
await conn.close();
`,
      );
      const r = await run(process.execPath, ['client.mjs'], { cwd: project });
      expect(r.stdout, `${r.stderr}\nbroker output:\n${out}`).toBe('via the binary\n');
    } finally {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(-child.pid, 'SIGTERM');
        await exited;
      }
    }
    expect(out).toContain('Server startup complete');
    expect(out).not.toContain('tsx');
  }, 90_000);

  it('npx proxy -c -f checks a seed haproxy.cfg', async () => {
    const r = await run('npx', ['--no', '--', 'proxy', '-c', '-f', 'haproxy-article1.cfg'], { cwd: project });
    expect(r.stdout).toBe('Configuration file is valid\n');
    expect(r.code).toBe(0);
  });

  it('npx vrrpd -t -f checks a seed keepalived.conf', async () => {
    // the seed names its hosts' interface (ens33), which this machine does not have: keepalived -t parses the file and
    // exits 5 ("Non-existent interface specified in configuration"), and so does vrrpd -t
    const r = await run('npx', ['--no', '--', 'vrrpd', '-t', '-f', 'keepalived-article1-master.conf'], { cwd: project });
    expect(r.stdout + r.stderr).toContain('configuration parsed (1 vrrp_instance, 1 vrrp_script)');
    expect(r.stdout + r.stderr).toContain('interface ens33 for vrrp_instance VI_1 doesn');
    expect(r.code).toBe(5);
  });
});
