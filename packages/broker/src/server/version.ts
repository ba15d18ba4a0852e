// What the broker says it is: clients, the management API and /metrics read these. Kept apart from broker.ts so the
// modules that only need a name and a version (connection, mgmt) do not import the broker.
export const PRODUCT = 'RabbitMQ';
/** the RabbitMQ version Warren answers as (server-properties, management overview) */
export const VERSION = '3.10.0';
export const WARREN_VERSION = '0.1.0';
