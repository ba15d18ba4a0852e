// @warren/broker: an AMQP 0-9-1 broker. Embed it with startBroker(), or run the `broker` binary.
import { Broker, type BrokerOptions } from './server/broker.ts';

export { Broker, type BrokerOptions } from './server/broker.ts';

export interface RunningBroker {
  /** amqp://guest:guest@127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly broker: Broker;
  close(): Promise<void>;
}

/**
 * Starts a broker in this process. In memory unless dataDir is given; `port: 0` picks a free port.
 * Several brokers in one process are independent.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const broker = new Broker({ host: '127.0.0.1', ...options, port: options.port ?? 0 });
  await broker.start();
  const port = broker.port;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  return {
    url: `amqp://${broker.opts.defaultUser}:${broker.opts.defaultPass}@${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    broker,
    close: () => broker.stop(),
  };
}
