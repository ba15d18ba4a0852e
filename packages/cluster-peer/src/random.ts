import { randomBytes, randomInt } from 'node:crypto';

/**
 * Randomness as a dependency: handshake nonces, incarnation numbers and reconnect jitter. Production uses
 * cryptoRandom; a simulator passes a SeededRandom so that a run is reproducible from its seed.
 */
export interface Random {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  bytes(size: number): Uint8Array;
}

class CryptoRandom implements Random {
  float(): number {
    return randomInt(0, 2 ** 48 - 1) / 2 ** 48;
  }

  uint32(): number {
    return randomBytes(4).readUInt32BE(0);
  }

  bytes(size: number): Uint8Array {
    return randomBytes(size);
  }
}

export const cryptoRandom: Random = new CryptoRandom();

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter), seeded through splitmix32. Not for secrets: only for
 * simulations, where the same seed must give the same run.
 */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  float(): number {
    return this.uint32() / 2 ** 32;
  }

  bytes(size: number): Uint8Array {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i += 4) {
      const v = this.uint32();
      out[i] = v & 0xff;
      if (i + 1 < size) out[i + 1] = (v >>> 8) & 0xff;
      if (i + 2 < size) out[i + 2] = (v >>> 16) & 0xff;
      if (i + 3 < size) out[i + 3] = v >>> 24;
    }
    return out;
  }
}
