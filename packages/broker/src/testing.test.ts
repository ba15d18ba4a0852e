// @warren/broker/testing: one broker per worker, remembered across the test files a worker runs (module registries are
// reset per file, the global object is not), its URL in the environment; the global setup and its teardown.
import { AMQPClient } from '@cloudamqp/amqp-client';
import { afterAll, describe, expect, it, vi } from 'vitest';
import setup, { brokerForWorker, stopWorkerBroker, teardown } from './testing.ts';

async function roundTrip(url: string): Promise<string | null | undefined> {
  const conn = await new AMQPClient(url).connect();
  const ch = await conn.channel();
  const q = await ch.queueDeclare('');
  await ch.basicPublish('', q.name, 'ping');
  const body = (await ch.basicGet(q.name))?.bodyString();
  await conn.close();
  return body;
}

describe('brokerForWorker', () => {
  afterAll(() => stopWorkerBroker());

  it('starts one broker, sets AMQP_URL, and gives the same broker to later calls and to a reloaded module', async () => {
    const a = await brokerForWorker();
    expect(process.env['AMQP_URL']).toBe(a.url);
    expect(await roundTrip(a.url)).toBe('ping');
    expect(await brokerForWorker()).toBe(a);
    vi.resetModules(); // what a runner does between test files
    const reloaded = (await import('./testing.ts')) as typeof import('./testing.ts');
    expect(await reloaded.brokerForWorker()).toBe(a);
  });

  it('stopWorkerBroker stops it; the next call starts a new one, with options (env name)', async () => {
    const a = await brokerForWorker();
    await stopWorkerBroker();
    await expect(roundTrip(a.url)).rejects.toThrow();
    const b = await brokerForWorker({ env: 'MY_AMQP_URL' });
    expect(b).not.toBe(a);
    expect(process.env['MY_AMQP_URL']).toBe(b.url);
    expect(await roundTrip(b.url)).toBe('ping');
  });
});

describe('global setup', () => {
  it('starts a broker for the run (ignoring the runner argument), sets AMQP_URL and returns its teardown', async () => {
    const done = await setup({ rootDir: '/somewhere', testPathPattern: '' } as never);
    const url = process.env['AMQP_URL']!;
    expect(url).toMatch(/^amqp:\/\/guest:guest@127\.0\.0\.1:\d+$/);
    expect(await roundTrip(url)).toBe('ping');
    expect(done).toBe(teardown);
    await done();
    await expect(roundTrip(url)).rejects.toThrow();
  });
});
