// Python's pika (Debian python3-pika) against the broker: test/interop/pika/scenarios.py runs every scenario in one
// process and prints JSON; each test asserts one scenario's result.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTarget, type Target } from './helpers.ts';

const SCRIPT = fileURLToPath(new URL('./pika/scenarios.py', import.meta.url));

/** A python3 that can import pika: Debian's /usr/bin/python3 first (a pyenv python3 may shadow it on PATH). */
function pythonWithPika(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', 'import pika'], { stdio: 'ignore', timeout: 10_000 });
      return py;
    } catch {
      /* next */
    }
  }
  return undefined;
}
const PY = pythonWithPika();

type Result = Record<string, Record<string, unknown>>;
let t: Target;
let results: Result = {};

describe.skipIf(PY === undefined)(PY === undefined ? 'pika: SKIPPED, no python3 can import pika (apt-get install python3-pika)' : 'pika', () => {
  beforeAll(async () => {
    t = await startTarget();
    const url = `${t.url}/%2F`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(PY!, [SCRIPT, url], { timeout: 40_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    results = JSON.parse(out) as Result;
  }, 45_000);
  afterAll(async () => {
    await t?.close();
  });

  const ok = (name: string): Record<string, unknown> => {
    const r = results[name];
    expect(r, `scenario ${name} ran`).toBeDefined();
    expect(r?.['exception'], String(r?.['trace'] ?? '')).toBeUndefined();
    return r!;
  };

  it('publishes with properties, basic_get with remaining count, nack-requeue redelivers, ack removes', () => {
    const r = ok('publish_get_ack');
    expect(r['first']).toEqual({ body: 'm0', remaining: 2, redelivered: false, content_type: 'text/plain', headers: { n: 7, s: 'x' }, message_id: 'id-1', delivery_mode: 2 });
    expect(r['again']).toEqual({ body: 'm0', redelivered: true });
    expect(r['rest']).toEqual(['m1', 'm2']);
  });

  it('basic_consume with basic_qos(prefetch_count=2) gets two deliveries until it acks', () => {
    const r = ok('consume_qos');
    expect(r['before_ack']).toBe(2);
    expect(r['after_ack']).toBe(4);
    expect(r['bodies']).toEqual(['c0', 'c1', 'c2', 'c3']);
  });

  it('confirm_delivery: routed publishes are acked, unroutable mandatory ones raise UnroutableError', () => {
    expect(ok('confirms')).toEqual({ routed: 'acked', unroutable: 'returned', count: 1 });
  });

  it('confirm_delivery: a publish refused by x-overflow reject-publish raises NackError and the channel goes on', () => {
    expect(ok('confirms_reject_publish')).toEqual({ full: 'nacked', after: 2 });
  });

  it('direct, fanout, topic and headers exchanges route as RabbitMQ does', () => {
    expect(ok('exchange_types')).toEqual({ direct: ['a'], fanout: ['x', 'y'], topic: ['web.error', 'audit.x.y'], headers: ['h1', 'h2'] });
  });

  it('a passive declare of a missing queue raises ChannelClosedByBroker 404 and the connection stays usable', () => {
    const r = ok('not_found');
    expect(r['error']).toBe(404);
    expect(String(r['text'])).toMatch(/^NOT_FOUND - /);
    expect(r['connection_open']).toBe(true);
  });

  it('a wrong password raises an authentication error carrying 403 ACCESS_REFUSED', () => {
    const r = ok('bad_password');
    expect(r['error']).toMatch(/Authentication/);
    expect(String(r['text'])).toMatch(/403/);
  });

  it('tx_select / tx_rollback / tx_commit', () => {
    expect(ok('tx')).toEqual({ body: 'committed', left: 0 });
  });
});
