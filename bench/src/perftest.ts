/**
 * Stand-alone PerfTest-style command line:
 *
 *   node --conditions=warren-source --import tsx bench/src/perftest.ts --uri amqp://guest:guest@127.0.0.1:5672/ -x 1 -y 1 -s 16 -z 10
 *   node --conditions=warren-source --import tsx bench/src/perftest.ts --rabbitmq ...     (starts a throw-away RabbitMQ first)
 *   node --conditions=warren-source --import tsx bench/src/perftest.ts --warren ...       (starts Warren's broker binary first;
 *                                     --warren-cpu-prof DIR runs it under node --cpu-prof)
 *   node --conditions=warren-source --import tsx bench/src/perftest.ts --discard ...      (the load generator's own ceiling)
 *
 * Prints the result as JSON. See bench/README.md for every option.
 */
import { startDiscard, startRabbitmq, startWarren, type RunningBroker } from './brokers.ts';
import { runPerf } from './perf.ts';
import { defaultPerfOptions, type ExchangeType, type PerfOptions } from './types.ts';

export const perfHelp = `options (PerfTest names in parentheses):
  --uri URI                 broker to test (or --rabbitmq / --warren / --discard to start one)
  --producers N (-x)        producers (default 1)          --consumers N (-y)   consumers (default 1)
  --producer-procs N        OS processes for producers     --consumer-procs N   OS processes for consumers
  --size BYTES (-s)         message size, >= 16 (default 16)
  --time SEC (-z)           measured seconds (default 10)  --warmup SEC         warm-up seconds (default 2)
  --persistent (-f persistent)                             --durable            durable queue(s)
  --confirm N (-c)          publisher-confirm window per producer (0 = off)
  --prefetch N (-q)         basic.qos per consumer (0 = unlimited)
  --autoack (-a)            no-ack consumers (default) ;   --ack   manual acks
  --multi-ack N (-A)        ack every N messages with multiple=true
  --rate N (-r)             total publish rate, msg/s (0 = unlimited)
  --pmessages N (-C)        messages per producer, then stop
  --exchange NAME (-e)      --type direct|fanout|topic|headers (-t)   --queue PREFIX (-u)   --queues N
  --routing-key KEY (-k)    --topic-bindings N   --idle-connections N
  --queue-args k=v,k=v      e.g. x-max-length=100000,x-queue-type=classic
  --publish-then-drain      publish pmessages per producer with nobody consuming, then drain
  --timeout SEC             hard limit for the run (default: time + warm-up + 60)`;

export function parsePerfArgs(argv: string[], base: PerfOptions): PerfOptions {
  const o: PerfOptions = { ...base, queueArgs: { ...base.queueArgs } };
  let timeoutSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(val());
      if (!Number.isFinite(n)) throw new Error(`${a} needs a number`);
      return n;
    };
    switch (a) {
      case '--uri': o.uri = val(); break;
      case '-x': case '--producers': o.producers = num(); break;
      case '-y': case '--consumers': o.consumers = num(); break;
      case '--producer-procs': o.producerProcs = num(); break;
      case '--consumer-procs': o.consumerProcs = num(); break;
      case '-s': case '--size': o.size = num(); break;
      case '-z': case '--time': o.durationSec = num(); break;
      case '--warmup': o.warmupSec = num(); break;
      case '-f': if (val() === 'persistent') o.persistent = true; break;
      case '--persistent': o.persistent = true; break;
      case '--durable': o.durableQueue = true; break;
      case '-c': case '--confirm': o.confirm = num(); break;
      case '-q': case '--prefetch': o.prefetch = num(); o.autoack = false; break;
      case '-a': case '--autoack': o.autoack = true; break;
      case '--ack': o.autoack = false; break;
      case '-A': case '--multi-ack': o.multiAck = num(); o.autoack = false; break;
      case '-r': case '--rate': o.rate = num(); break;
      case '-C': case '--pmessages': o.pmessages = num(); break;
      case '-e': case '--exchange': o.exchange = val(); break;
      case '-t': case '--type': o.exchangeType = val() as ExchangeType; break;
      case '-u': case '--queue': o.queue = val(); break;
      case '--queues': o.queues = num(); break;
      case '-k': case '--routing-key': o.routingKey = val(); break;
      case '--topic-bindings': o.topicBindings = num(); break;
      case '--idle-connections': o.idleConnections = num(); break;
      case '--queue-args':
        for (const kv of val().split(',')) {
          const [k, v = ''] = kv.split('=');
          if (!k) continue;
          o.queueArgs[k] = /^-?\d+$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
        }
        break;
      case '--publish-then-drain': o.mode = 'publish-then-drain'; break;
      case '--timeout': o.timeoutSec = num(); timeoutSet = true; break;
      default:
        throw new Error(`unknown option ${a}\n${perfHelp}`);
    }
  }
  if (!timeoutSet) o.timeoutSec = o.durationSec + o.warmupSec + 60;
  return o;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(perfHelp);
    return;
  }
  const which = ['--rabbitmq', '--warren', '--discard'].find((f) => args.includes(f));
  let rest = args.filter((a) => a !== which);
  const profIdx = rest.indexOf('--warren-cpu-prof');
  const cpuProfDir = profIdx >= 0 ? rest[profIdx + 1] : undefined;
  if (profIdx >= 0) rest = rest.filter((_a, i) => i !== profIdx && i !== profIdx + 1);
  let broker: RunningBroker | undefined;
  try {
    if (which === '--rabbitmq') broker = await startRabbitmq((s) => console.error(s));
    else if (which === '--warren') broker = await startWarren(cpuProfDir ? { cpuProfDir } : {});
    else if (which === '--discard') broker = await startDiscard();
    const o = parsePerfArgs(rest, { uri: broker?.uri ?? 'amqp://guest:guest@127.0.0.1:5672/', ...defaultPerfOptions });
    if (broker) o.brokerPid = broker.pid;
    o.onProgress = (line) => process.stderr.isTTY && process.stderr.write(`\r\x1b[K${line}`);
    const r = await runPerf(o);
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    console.log(JSON.stringify({ broker: broker?.name ?? o.uri, brokerStartMs: broker?.startMs, ...r }, null, 2));
    process.exitCode = r.ok ? 0 : 1;
  } finally {
    await broker?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
