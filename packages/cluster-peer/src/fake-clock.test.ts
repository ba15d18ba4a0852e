import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.ts';

describe('FakeClock', () => {
  it('fires timers in due order, creation order on ties, and only when advanced past them', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@20'), 20);
    const cancelled = clock.setTimeout(() => fired.push('never'), 15);
    clock.clearTimeout(cancelled);
    await clock.advance(19);
    expect(fired).toEqual(['a@10']);
    expect(clock.now()).toBe(19);
    await clock.advance(1);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('runs promise continuations at the simulated time they belong to', async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(resolve, ms));
    void (async () => {
      await sleep(10);
      seen.push(clock.now());
      await sleep(10);
      seen.push(clock.now());
    })();
    await clock.advance(100);
    expect(seen).toEqual([10, 20]);
  });

  it('fires timers scheduled by timers within the same advance', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 5);
    clock.advanceSync(10);
    expect(fired).toEqual([5, 10]);
  });
});
