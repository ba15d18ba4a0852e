// Types of the CommonJS entry (testing.cjs).
import type { RunningBroker as Running, TestBrokerOptions as Options } from '../dist/testing.js';
declare function setup(options?: Options): Promise<() => Promise<void>>;
declare namespace setup {
  type RunningBroker = Running;
  type TestBrokerOptions = Options;
  function teardown(): Promise<void>;
  function brokerForWorker(options?: Options): Promise<Running>;
  function stopWorkerBroker(): Promise<void>;
}
export = setup;
