import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('reads haproxy time units, milliseconds by default', () => {
    expect(parseDuration('5000')).toBe(5000);
    expect(parseDuration('3s')).toBe(3000);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('100ms')).toBe(100);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1500us')).toBe(2);
    expect(parseDuration('0')).toBe(0);
  });
  it('rejects anything else', () => {
    expect(parseDuration('5 s')).toBeNull();
    expect(parseDuration('-1')).toBeNull();
    expect(parseDuration('1y')).toBeNull();
    expect(parseDuration('')).toBeNull();
  });
});
