/**
 * "Embedded start to accepting connections": run in a fresh Node process by the runner. Imports startBroker from
 * @warren/broker, starts it on a free port with a temp data dir, and times until a TCP connect succeeds.
 * Prints one JSON line {importMs, startMs}; startMs (startBroker() call -> first successful connect) is the figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, tcpConnectOnce } from './procs.ts';

interface EmbeddedBroker {
  port: number;
  close(): Promise<void>;
}

const port = await freePort();
const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-embedded-'));
try {
  const spec = '@warren/broker';
  const t0 = performance.now();
  const mod = (await import(spec)) as { startBroker(o: { port?: number; dataDir?: string }): Promise<EmbeddedBroker> };
  const t1 = performance.now();
  const broker = await mod.startBroker({ port, dataDir });
  const p = broker.port || port;
  while (!(await tcpConnectOnce(p, 1000))) {
    if (performance.now() - t1 > 10_000) throw new Error('no TCP connect within 10 s');
  }
  const t2 = performance.now();
  console.log(JSON.stringify({ importMs: t1 - t0, startMs: t2 - t1 }));
  await broker.close();
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).message }));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
