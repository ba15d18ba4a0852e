// npm run differential -- --seeds N [--from S] [--length L] [--no-shrink] [--parallel P] | --list S1,S2,... | --show SEED | --serve-rabbitmq
// Runs N generated sequences against Warren (embedded) and a private RabbitMQ 3.10, prints every stable difference as
// a minimal ready-to-paste test, and ends with the figures (sequences run, rate, differences, nondeterministic seeds).
import { dropVhosts, soak } from './differ.ts';
import { findRabbitmq, startRabbitmq, startWarren } from './targets.ts';
import { show } from './show.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<void> {
  if (findRabbitmq() === null) {
    console.error('rabbitmq-server is not installed (apt-get install rabbitmq-server): nothing to compare against');
    process.exit(2);
  }
  if (process.argv.includes('--serve-rabbitmq')) {
    // keeps one RabbitMQ node up for several soak chunks (WARREN_DIFF_RABBIT=AMQP:HTTP); stops on SIGINT/SIGTERM
    const r = await startRabbitmq();
    console.log(`WARREN_DIFF_RABBIT=${new URL(r.amqpUrl).port}:${new URL(r.mgmtUrl).port}`);
    const stop = (): void => void r.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return;
  }
  if (process.argv.includes('--show')) {
    await show(arg('show', 1), arg('length', 30));
    process.exit(0);
  }
  const seeds = arg('seeds', 100);
  const from = arg('from', 1);
  const length = arg('length', 30);
  const rabbit = await startRabbitmq();
  const warren = await startWarren();
  const t0 = Date.now();
  let code = 0;
  try {
    // --list 5,17,23: those seeds only (e.g. a soak's differing seeds again, after a fix)
    const li = process.argv.indexOf('--list');
    const list = li >= 0 ? process.argv[li + 1]!.split(/[ ,]+/).filter((x) => x !== '').map(Number) : undefined;
    const r = await soak(warren, rabbit, from, seeds, { ...(list ? { seeds: [...list] } : {}), length, log: (s) => console.log(s), shrinkDiffs: !process.argv.includes('--no-shrink'), parallel: arg('parallel', 4) });
    const s = (Date.now() - t0) / 1000;
    if (process.env['DIFF_PROF']) console.log(Object.fromEntries(Object.entries((await import('./runner.ts')).PROF).map(([k, v]) => [k, Math.round(v / r.ran / 2)])));
    console.log(`ran ${r.ran} sequences (seeds ${from}..${from + seeds - 1}, ${length} operations each) in ${s.toFixed(0)} s (${(r.ran / s).toFixed(2)}/s): ${r.differences.length} differences, ${r.nondeterministic.length} nondeterministic`);
    if (r.differences.length > 0) {
      console.log(`differing seeds: ${r.differences.map((d) => d.seed).join(' ')}`);
      code = 1;
    }
  } finally {
    await dropVhosts(rabbit);
    await warren.stop();
    await rabbit.stop();
  }
  process.exit(code);
}

void main();
