import { describe, expect, it } from 'vitest';
import { RateCounter } from './rate-counter.ts';

describe('RateCounter', () => {
  it('counts this second, plus last second weighted by what is left of this one, and keeps the maximum', () => {
    const r = new RateCounter();
    for (let i = 0; i < 10; i++) r.add(5_000 + i);
    expect(r.rate(5_500)).toBe(10);
    expect(r.rate(6_000)).toBe(10); // all of the previous second
    expect(r.rate(6_500)).toBe(5); // half of it
    r.add(6_500);
    expect(r.rate(6_500)).toBe(6);
    expect(r.rate(8_000)).toBe(0); // two seconds on: nothing left
    expect(r.max).toBe(10);
  });
});
