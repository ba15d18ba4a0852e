// The differential tester in CI: a fixed set of generated sequences run on Warren and on a private RabbitMQ 3.10; any
// stable difference fails the test and is printed, shrunk, as a ready-to-paste test. Skipped, saying so, when
// rabbitmq-server is not installed (.ci/run installs it). A soak: npm run differential -- --seeds N.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { soak } from './differ.ts';
import { findRabbitmq, startRabbitmq, startWarren, type RunningTarget } from './targets.ts';

const HAVE_RABBITMQ = findRabbitmq() !== null;
if (!HAVE_RABBITMQ) console.warn('differential.test.ts skipped: rabbitmq-server is not installed (apt-get install rabbitmq-server)');

/** fixed seeds: the same sequences on every run */
const SEEDS_FROM = 1;
const SEEDS = 24;

describe.skipIf(!HAVE_RABBITMQ)('Warren and RabbitMQ 3.10 observe the same', () => {
  let rabbit: RunningTarget | null = null;
  let warren: RunningTarget | null = null;
  beforeAll(async () => {
    [rabbit, warren] = await Promise.all([startRabbitmq(), startWarren()]);
  }, 240_000);
  afterAll(async () => {
    await warren?.stop();
    await rabbit?.stop();
  }, 60_000);

  it(`seeds ${SEEDS_FROM}..${SEEDS_FROM + SEEDS - 1}`, async () => {
    const log: string[] = [];
    const r = await soak(warren!, rabbit!, SEEDS_FROM, SEEDS, { parallel: 4, log: (s) => log.push(s) });
    if (r.differences.length > 0) console.log(log.join('\n'));
    expect(r.ran).toBe(SEEDS);
    expect(r.differences.map((d) => `seed ${d.seed}: Warren ${d.diff?.warren} / RabbitMQ ${d.diff?.rabbit}`)).toEqual([]);
  }, 600_000);
});
