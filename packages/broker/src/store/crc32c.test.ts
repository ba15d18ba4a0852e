import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';

/** One byte at a time, straight from the definition: the reference the sliced version must agree with. */
function bitwise(bytes: Uint8Array, start: number, end: number, crc: number): number {
  let c = ~crc >>> 0;
  for (let i = start; i < end; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0x82f63b78 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('gives the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and ascending
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
  });

  it('agrees with the bitwise definition on every alignment, length and chaining', () => {
    const big = Buffer.alloc(4096);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 13;
    for (let off = 0; off < 8; off++) {
      const b = big.subarray(off);
      for (const len of [0, 1, 5, 15, 16, 31, 32, 33, 47, 64, 100, 1024, 1031]) {
        for (const start of [0, 1, 3, 9]) {
          const end = start + len;
          expect(crc32c(b, start, end, 7)).toBe(bitwise(b, start, end, 7));
          // two ranges chained equal one over both
          expect(crc32c(b, start + (len >> 1), end, crc32c(b, start, start + (len >> 1)))).toBe(bitwise(b, start, end, 0));
        }
      }
    }
  });
});
