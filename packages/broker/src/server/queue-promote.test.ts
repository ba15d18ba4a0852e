// The metadata log's promotion rule, applied alike on every node: a mirror takes over a queue only from the master
// the log names, only if the log records it as synchronised, and only on the version of that record it proposed on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../index.ts';
import type { Queue } from '../queue/queue.ts';

let running: RunningBroker;
beforeAll(async () => {
  running = await startBroker({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await running.close();
});

function declare(name: string): Queue {
  const b = running.broker;
  b.applyMeta({ op: 'queue.declare', vhost: '/', name, durable: false, exclusive: false, autoDelete: false, args: {}, node: 'rabbit@a', owner: 0 });
  return b.vhosts.get('/')!.queues.get(name)!;
}

describe('queue.promote', () => {
  it('applies only to a recorded mirror, and only on the record version it was proposed on', () => {
    const b = running.broker;
    const q = declare('promote-cas');
    const record = (synced: string[]): void =>
      b.applyMeta({ op: 'queue.mirrors', vhost: '/', name: q.name, master: 'rabbit@a', epoch: q.masterEpoch, base: q.mirrorsVersion, synced });
    record(['rabbit@b']);
    const seen = q.mirrorsVersion;
    // the master drops b (cut off), then records it again once it caught up: b's proposal from while it was cut off
    // (made on the version it last saw) must not make it the master now
    record([]);
    record(['rabbit@b']);
    b.applyMeta({ op: 'queue.promote', vhost: '/', name: q.name, from: 'rabbit@a', to: 'rabbit@b', version: seen });
    expect(q.node).toBe('rabbit@a');
    // not recorded: refused whatever the version
    b.applyMeta({ op: 'queue.promote', vhost: '/', name: q.name, from: 'rabbit@a', to: 'rabbit@c', version: q.mirrorsVersion });
    expect(q.node).toBe('rabbit@a');
    // another master epoch (the queue went away from a and back): refused
    b.applyMeta({ op: 'queue.promote', vhost: '/', name: q.name, from: 'rabbit@a', to: 'rabbit@b', epoch: q.masterEpoch + 1, version: q.mirrorsVersion });
    expect(q.node).toBe('rabbit@a');
    const epoch = q.masterEpoch;
    b.applyMeta({ op: 'queue.promote', vhost: '/', name: q.name, from: 'rabbit@a', to: 'rabbit@b', epoch, version: q.mirrorsVersion });
    expect(q.node).toBe('rabbit@b');
    expect(q.masterEpoch).toBe(epoch + 1);
    expect(q.syncedMirrors).toEqual([]);
  });

  it('a handover without a version (ha-promote-on-shutdown, or an older log entry) needs only the record', () => {
    const b = running.broker;
    const q = declare('promote-handover');
    b.applyMeta({ op: 'queue.mirrors', vhost: '/', name: q.name, master: 'rabbit@a', epoch: q.masterEpoch, base: q.mirrorsVersion, synced: ['rabbit@b'] });
    b.applyMeta({ op: 'queue.promote', vhost: '/', name: q.name, from: 'rabbit@a', to: 'rabbit@b', shutdown: true });
    expect(q.node).toBe('rabbit@b');
  });
});
