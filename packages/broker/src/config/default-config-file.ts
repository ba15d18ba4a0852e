// Where the broker finds rabbitmq.conf when neither --config nor RABBITMQ_CONFIG_FILE names one.
import { existsSync } from 'node:fs';

/** RabbitMQ's default on Debian and in its generic packages ($RABBITMQ_CONFIG_FILE's default). */
export const DEFAULT_CONFIG_FILE = '/etc/rabbitmq/rabbitmq.conf';

/** The default file when it exists: as RabbitMQ, a node without one runs on defaults. */
export function defaultConfigFile(path: string = DEFAULT_CONFIG_FILE): string | undefined {
  return existsSync(path) ? path : undefined;
}
