// A short run of the coverage-guided fuzzer over every target (engine.ts, targets.ts), replaying the saved
// regression inputs (fixtures/<target>/) first: no crash and no hang. The soak is `npm run fuzz -- --target X --runs N`.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Fuzzer } from './engine.ts';
import { TARGETS } from './targets.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x25);
/** per target; eight targets stay well under a minute */
const MS = Number(process.env['FUZZ_MS'] ?? 2500);

describe('coverage-guided fuzzing', () => {
  for (const [name, make] of Object.entries(TARGETS)) {
    it(`${name}: no crash or hang in ${MS} ms of inputs (seed ${SEED}), saved regressions included`, async () => {
      const target = make();
      try {
        const fuzzer = new Fuzzer(target, { runs: Number.MAX_SAFE_INTEGER, seed: SEED, maxMs: MS, hangMs: 10_000, corpusDir: join(import.meta.dirname, 'fixtures', name) });
        const s = await fuzzer.run();
        expect(s.crashes.map((c) => c.error.split('\n')[0])).toEqual([]);
        expect(s.hangs).toBe(0);
        // the coverage guidance works: mutations reached code the seeds alone did not
        expect(s.features).toBeGreaterThan(s.seedFeatures);
      } finally {
        await target.close?.();
      }
    }, 30_000);
  }
});
