/**
 * @warren/broker/testing: a broker for a test suite in one call.
 *
 * Per worker (vitest `setupFiles`): each worker process gets its own in-memory broker on a free port, so parallel
 * workers never see each other's queues. (jest gives every test file a global object of its own: there, use the
 * global setup below, or startBroker in a file's beforeAll.)
 *
 *   // vitest.config.ts: test: { setupFiles: ['./amqp-setup.ts'] }
 *   // amqp-setup.ts:
 *   import { brokerForWorker } from '@warren/broker/testing';
 *   await brokerForWorker();            // process.env.AMQP_URL = amqp://guest:guest@127.0.0.1:PORT
 *
 * Once for the whole run (vitest or jest `globalSetup: ['@warren/broker/testing']`): the default export starts one
 * broker in the runner's process before the workers start, sets AMQP_URL, which the workers inherit, and returns its
 * teardown (vitest calls it; jest calls the `teardown` export from `globalTeardown`).
 */
import { startBroker, type RunningBroker } from './index.ts';
import type { BrokerOptions } from './server/broker.ts';

export type { RunningBroker } from './index.ts';

export interface TestBrokerOptions extends BrokerOptions {
  /** The environment variable that receives the broker's URL; default AMQP_URL. */
  env?: string;
}

// One broker per worker: vitest reloads modules for every test file but keeps the worker's global object, so the
// broker is remembered there, under a key no test will use.
const WORKER_KEY = Symbol.for('@warren/broker/testing:worker');
const GLOBAL_KEY = Symbol.for('@warren/broker/testing:global');
type Slots = Record<symbol, Promise<RunningBroker> | undefined>;

function remember(key: symbol, options: TestBrokerOptions): Promise<RunningBroker> {
  const slots = globalThis as unknown as Slots;
  let started = slots[key];
  if (started === undefined) {
    const { env, ...brokerOptions } = options;
    started = startBroker({ port: 0, ...brokerOptions }).then((b) => {
      process.env[env ?? 'AMQP_URL'] = b.url;
      return b;
    });
    started.catch(() => {
      if (slots[key] === started) slots[key] = undefined; // a failed start may be retried
    });
    slots[key] = started;
  }
  return started;
}

/**
 * Starts this worker's broker (in memory, a free port on 127.0.0.1) the first time it is called in a worker and
 * returns the same one afterwards; sets `process.env.AMQP_URL` (or `options.env`) to its URL. The broker lives as long
 * as the worker; `stopWorkerBroker()` stops it earlier.
 */
export function brokerForWorker(options: TestBrokerOptions = {}): Promise<RunningBroker> {
  return remember(WORKER_KEY, options);
}

/** Stops the broker brokerForWorker() started in this worker, if any. */
export async function stopWorkerBroker(): Promise<void> {
  await forget(WORKER_KEY);
}

async function forget(key: symbol): Promise<void> {
  const slots = globalThis as unknown as Slots;
  const started = slots[key];
  slots[key] = undefined;
  if (started) await (await started).close();
}

/**
 * Global setup for vitest and jest: one broker for the whole run, started before the workers, its URL in
 * `process.env.AMQP_URL` (the workers inherit it). Returns the teardown, which vitest calls; for jest, point
 * `globalTeardown` at a module that calls `teardown()`.
 */
export default async function setup(options: TestBrokerOptions = {}): Promise<() => Promise<void>> {
  // vitest passes its TestProject, jest its (globalConfig, projectConfig): neither is broker options
  const opts = isPlainOptions(options) ? options : {};
  await remember(GLOBAL_KEY, opts);
  return teardown;
}

/** Stops the broker the global setup started. */
export async function teardown(): Promise<void> {
  await forget(GLOBAL_KEY);
}

function isPlainOptions(o: unknown): o is TestBrokerOptions {
  return typeof o === 'object' && o !== null && Object.getPrototypeOf(o) === Object.prototype && !('rootDir' in o) && !('config' in o);
}
