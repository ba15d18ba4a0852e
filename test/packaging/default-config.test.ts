// Without --config (and RABBITMQ_CONFIG_FILE) the broker reads /etc/rabbitmq/rabbitmq.conf, as RabbitMQ does. The
// test must not touch the host's /etc: it bind-mounts a scratch directory there in a private mount namespace
// (unshare -m), so it needs root and skips without it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_BIN, freePort, waitForPort } from '../helpers/broker-process.ts';

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
if (!canUnshare) console.warn('default-config: skipped, needs root and unshare -m (a private mount namespace)');

describe.skipIf(!canUnshare)('broker default configuration file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-etc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads /etc/rabbitmq/rabbitmq.conf when no --config is given', async () => {
    const port = await freePort();
    const etc = join(dir, 'rabbitmq');
    spawnSync('mkdir', ['-p', etc]);
    writeFileSync(join(etc, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, WARREN_COOKIE_FILE: join(dir, 'cookie'), WARREN_NODE_REGISTRY: join(dir, 'registry') };
    delete env['RABBITMQ_CONFIG_FILE'];
    const script = 'mkdir -p /etc/rabbitmq && mount --bind "$1" /etc/rabbitmq && shift && exec "$@"';
    const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', etc, BROKER_BIN, '--memory', '--dist-port', '0', '--node-name', `etc${port}@localhost`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitForPort(port, 60_000); // no --port: the port came from the file
      expect(out).toContain('config file /etc/rabbitmq/rabbitmq.conf');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
