import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { MemoryTrimmer } from './memory-trim.ts';

describe('MemoryTrimmer', () => {
  it('collects once after the live sessions dropped by 100 or more, not on a steady churn', () => {
    const clock = new ManualClock();
    let collections = 0;
    const t = new MemoryTrimmer(clock, () => collections++);
    for (let i = 0; i < 1000; i++) {
      t.sessions(50); // short sessions coming and going around 50 alive
      t.sessions(49);
    }
    clock.advance(10_000);
    expect(collections).toBe(0);
    for (let n = 50; n <= 2000; n++) t.sessions(n);
    for (let n = 2000; n >= 0; n--) t.sessions(n);
    expect(collections).toBe(0); // not at once: 2 s later
    clock.advance(2000);
    expect(collections).toBe(1);
    clock.advance(10_000);
    expect(collections).toBe(1);
  });
});
