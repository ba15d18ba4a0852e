/**
 * The bench's load generator, briefly: against the discard server (rates are measured, confirms come back) and
 * against Warren's broker binary (a publish-then-drain run where every published message is confirmed and received).
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startDiscard, startWarren, warrenBin, type RunningBroker } from '../../bench/src/brokers.ts';
import { runPerf } from '../../bench/src/perf.ts';
import { defaultPerfOptions } from '../../bench/src/types.ts';

const started: RunningBroker[] = [];
afterAll(async () => {
  for (const b of started) await b.stop();
});

describe('bench load generator', () => {
  it('measures publish, confirm and receive rates against the discard server', async () => {
    const discard = await startDiscard();
    started.push(discard);
    const r = await runPerf({
      ...defaultPerfOptions,
      uri: discard.uri,
      brokerPid: discard.pid,
      warmupSec: 0.5,
      durationSec: 1,
      confirm: 50,
      autoack: true,
      timeoutSec: 20,
    });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.sentRate).toBeGreaterThan(1000);
    expect(r.receivedRate).toBeGreaterThan(1000);
    // Within the window every confirm answers a publish: no more confirms than publishes plus one window.
    expect(r.confirmed).toBeLessThanOrEqual(r.sent + 50);
    expect(r.confirmed).toBeGreaterThan(0);
    expect(r.latency.count).toBe(r.received);
    expect(r.brokerRssBytes).toBeGreaterThan(0);
  }, 30_000);

  it.skipIf(!existsSync(warrenBin))('publishes, confirms and drains every message through Warren', async () => {
    const warren = await startWarren();
    started.push(warren);
    const r = await runPerf({
      ...defaultPerfOptions,
      uri: warren.uri,
      brokerPid: warren.pid,
      mode: 'publish-then-drain',
      producers: 2,
      producerProcs: 1,
      pmessages: 2000,
      confirm: 100,
      timeoutSec: 20,
    });
    expect(r.error).toBeUndefined();
    expect(r.sent).toBe(4000);
    expect(r.confirmed).toBe(4000);
    expect(r.received).toBe(4000);
    expect(r.rssQueuedBytes).toBeGreaterThan(0);
  }, 30_000);
});
