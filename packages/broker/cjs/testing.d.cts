// Types of the CommonJS entry (testing.cjs).
import type { RunningBroker, TestBrokerOptions } from '../dist/testing.js';
export type { RunningBroker, TestBrokerOptions } from '../dist/testing.js';
declare function setup(options?: TestBrokerOptions): Promise<() => Promise<void>>;
declare namespace setup {
  export function teardown(): Promise<void>;
  export function brokerForWorker(options?: TestBrokerOptions): Promise<RunningBroker>;
  export function stopWorkerBroker(): Promise<void>;
}
export = setup;
