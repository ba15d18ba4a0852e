export * from './packet.ts';
export * from './machine.ts';
export * from './config.ts';
export { Daemon, DaemonError, type DaemonOptions } from './daemon.ts';
export { VrrpInstance } from './instance.ts';
export { FakeClock, REAL_CLOCK, type Clock } from './scheduler.ts';
export { trackStep, trackEffect, effectivePriority } from './track.ts';
