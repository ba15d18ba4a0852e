import { describe, expect, it } from 'vitest';
import { effectivePriority, trackEffect, trackStep, type TrackHealth } from './track.ts';

describe('rise/fall hysteresis', () => {
  const feed = (h: TrackHealth, results: boolean[], rise: number, fall: number): (boolean | undefined)[] =>
    results.map((ok) => (h = trackStep(h, ok, rise, fall)).good);

  it('fall 2: one failure is tolerated, two in a row turn it bad', () => {
    expect(feed({ good: true, streak: 0 }, [false, true, false, false, false], 1, 2)).toEqual([true, true, true, false, false]);
  });
  it('rise 3: three successes in a row turn it good again', () => {
    expect(feed({ good: false, streak: 0 }, [true, true, false, true, true, true], 3, 1)).toEqual([false, false, false, false, false, true]);
  });
});

describe('before the first result (keepalived SCRIPT_INIT_STATE_INIT)', () => {
  it('the first result alone decides, whatever rise and fall', () => {
    expect(trackStep({ good: undefined, streak: 0 }, true, 3, 3).good).toBe(true);
    expect(trackStep({ good: undefined, streak: 0 }, false, 3, 3).good).toBe(false);
  });
  it('adds no weight (priority 200, not 202, at start) and a weight-0 script holds the instance back', () => {
    expect(trackEffect(undefined, 2)).toEqual({ delta: 0, fault: false });
    expect(trackEffect(undefined, -20)).toEqual({ delta: 0, fault: false });
    expect(trackEffect(undefined, 0)).toEqual({ delta: 0, fault: false, pending: true });
  });
});

describe('weights (keepalived)', () => {
  it('weight 0: failure is a fault', () => {
    expect(trackEffect(false, 0)).toEqual({ delta: 0, fault: true });
    expect(trackEffect(true, 0)).toEqual({ delta: 0, fault: false });
  });
  it('positive weight adds while good; negative weight subtracts while bad', () => {
    expect(trackEffect(true, 2)).toEqual({ delta: 2, fault: false });
    expect(trackEffect(false, 2)).toEqual({ delta: 0, fault: false });
    expect(trackEffect(false, -20)).toEqual({ delta: -20, fault: false });
    expect(trackEffect(true, -20)).toEqual({ delta: 0, fault: false });
  });
  it('reverse flips the direction of the adjustment', () => {
    expect(trackEffect(true, 10, true)).toEqual({ delta: -10, fault: false });
    expect(trackEffect(false, 10, true)).toEqual({ delta: 0, fault: false });
    expect(trackEffect(false, -10, true)).toEqual({ delta: 10, fault: false });
  });
  it('effective priority stays in 1..254; the owner stays 255', () => {
    expect(effectivePriority(100, [10, -5])).toBe(105);
    expect(effectivePriority(250, [10])).toBe(254);
    expect(effectivePriority(5, [-50])).toBe(1);
    expect(effectivePriority(255, [-50])).toBe(255);
  });
});
