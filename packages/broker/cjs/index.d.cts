// Types of the CommonJS entry (index.cjs): the ES module's API behind async functions.
import type { BrokerOptions, RunningBroker } from '../dist/index.js';
export type { BrokerOptions, RunningBroker } from '../dist/index.js';
export declare function startBroker(options?: BrokerOptions): Promise<RunningBroker>;
export declare function load(): Promise<typeof import('../dist/index.js')>;
