import { describe, expect, it } from 'vitest';
import { HealthCounter } from './health-counter.ts';

describe('HealthCounter (haproxy rise/fall hysteresis)', () => {
  it('starts UP but goes DOWN at the first failure', () => {
    const h = new HealthCounter(2, 3);
    expect(h.up).toBe(true);
    expect(h.failure()).toBe('down');
    expect(h.describe()).toBe('DOWN');
  });
  it('needs fall failures to go down once fully up, and rise successes to come back', () => {
    const h = new HealthCounter(2, 3);
    expect(h.success()).toBeNull(); // jumps to the top: fully up
    expect(h.describe()).toBe('UP');
    expect(h.failure()).toBeNull();
    expect(h.describe()).toBe('UP 2/3');
    expect(h.failure()).toBeNull();
    expect(h.describe()).toBe('UP 1/3');
    expect(h.failure()).toBe('down');
    expect(h.success()).toBeNull();
    expect(h.describe()).toBe('DOWN 1/2');
    expect(h.success()).toBe('up');
    expect(h.describe()).toBe('UP');
  });
  it('a success in the middle of a fall resets the count', () => {
    const h = new HealthCounter(2, 3, 4);
    h.failure();
    h.failure();
    expect(h.success()).toBeNull();
    expect(h.describe()).toBe('UP');
    h.failure();
    h.failure();
    expect(h.up).toBe(true);
  });
  it('rise 1 fall 1 flips on every result', () => {
    const h = new HealthCounter(1, 1);
    expect(h.failure()).toBe('down');
    expect(h.success()).toBe('up');
    expect(h.failure()).toBe('down');
  });
  it('picks inter, fastinter or downinter like srv_getinter()', () => {
    const h = new HealthCounter(2, 3, 4);
    expect(h.interval(1000, 100, 5000)).toBe(1000);
    h.failure();
    expect(h.interval(1000, 100, 5000)).toBe(100);
    h.failure();
    h.failure();
    expect(h.up).toBe(false);
    expect(h.interval(1000, 100, 5000)).toBe(5000);
    h.success();
    expect(h.interval(1000, 100, 5000)).toBe(100);
    expect(h.interval(1000, null, null)).toBe(1000);
  });
});
