// npm run differential -- --show SEED: runs one seed on both brokers and prints both observations side by side.
import { generate } from './ops.ts';
import { compare } from './differ.ts';
import { startRabbitmq, startWarren } from './targets.ts';

export async function show(seed: number, length: number): Promise<void> {
  const ops = generate(seed, length);
  const rabbit = await startRabbitmq();
  const warren = await startWarren();
  try {
    const o = await compare(warren, rabbit, ops);
    ops.forEach((op, i) => console.log(`op ${i}: ${JSON.stringify(op)}`));
    const n = Math.max(o.warren.length, o.rabbit.length);
    for (let i = 0; i < n; i++) {
      const w = o.warren[i];
      const r = o.rabbit[i];
      console.log(w === r ? `  = ${w}` : `  W ${w ?? '(none)'}\n  R ${r ?? '(none)'}`);
    }
  } finally {
    await warren.stop();
    await rabbit.stop();
  }
}
