// Starts an in-memory broker with the management plugin, for trying the web UI or rabbitmqadmin by hand:
//   node --conditions=warren-source --import tsx test/mgmt/serve.ts [http-port]
// Prints {"amqp": PORT, "http": PORT} and runs until SIGTERM/SIGINT.
import { startBroker } from '../../packages/broker/src/index.ts';
import { startManagement } from '../../packages/broker/src/mgmt/index.ts';

async function main(): Promise<void> {
  const b = await startBroker({ port: 0 });
  const m = await startManagement(b.broker, { port: Number(process.argv[2] ?? 0), sampleIntervalMs: 1000 });
  process.stdout.write(`${JSON.stringify({ amqp: b.port, http: m.port })}\n`);
  const stop = async (): Promise<void> => {
    await m.close();
    await b.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

void main();
