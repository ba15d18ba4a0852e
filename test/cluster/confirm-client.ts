// A one-shot AMQP client for tests that run brokers in network namespaces (started there with `ip netns exec`):
//   confirm-client.ts URL publish QUEUE COUNT DEADLINE_MS PREFIX   declares QUEUE (durable) on the node it connects
//       to, publishes COUNT persistent messages PREFIX-<i> with confirms, and stops at DEADLINE_MS;
//       prints {"confirmed": [...], "nacked": [...], "unconfirmed": n}
//   confirm-client.ts URL drain QUEUE   empties QUEUE with basic.get; prints {"bodies": {"body": times, ...}}
import { AMQPClient } from '@cloudamqp/amqp-client';

const [url = '', mode = '', queue = '', countArg = '0', deadlineArg = '10000', prefix = 'm'] = process.argv.slice(2);

async function publish(): Promise<object> {
  const conn = await new AMQPClient(url).connect();
  const ch = await conn.channel();
  await ch.confirmSelect();
  await ch.queueDeclare(queue, { durable: true });
  const confirmed: string[] = [];
  const nacked: string[] = [];
  const count = Number(countArg);
  let settled = 0;
  const done = new Promise<void>((resolve) => {
    const settle = (): void => {
      if (++settled === count) resolve();
    };
    for (let i = 0; i < count; i++) {
      const body = `${prefix}-${i}`;
      ch.basicPublish('', queue, body, { deliveryMode: 2 }).then(
        () => {
          confirmed.push(body);
          settle();
        },
        () => {
          nacked.push(body);
          settle();
        },
      );
    }
  });
  await Promise.race([done, new Promise((r) => setTimeout(r, Number(deadlineArg)))]);
  const out = { confirmed: [...confirmed], nacked: [...nacked], unconfirmed: count - confirmed.length - nacked.length };
  conn.close().catch(() => {});
  return out;
}

async function drain(): Promise<object> {
  const conn = await new AMQPClient(url).connect();
  const ch = await conn.channel();
  const bodies: Record<string, number> = {};
  for (;;) {
    const m = await ch.basicGet(queue, { noAck: true });
    if (!m) break;
    const b = m.bodyToString() ?? '';
    bodies[b] = (bodies[b] ?? 0) + 1;
  }
  await conn.close();
  return { bodies };
}

const work = mode === 'publish' ? publish() : mode === 'drain' ? drain() : Promise.reject(new Error(`unknown mode ${mode}`));
work.then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`confirm-client: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
