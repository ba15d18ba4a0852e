/**
 * PerfTest-style load generator: declares the topology, forks producer / consumer / idle-connection worker
 * processes (worker.ts), runs warm-up + a measured window (or publish-then-drain), and gathers rates, end-to-end
 * latency, broker RSS/CPU (from /proc) and the CPU of the busiest client process. Every run stops by itself.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { Histogram, type HistogramData } from './hist.ts';
import { cpuPercent, machineCpu, sampleTree, type ProcSample } from './procstat.ts';
import { sleep, stopProcess, track } from './procs.ts';
import type { Counters, PerfOptions, PerfResult, WorkerConfig, WorkerMsg } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

/** The checkout's short commit, for the results ('unknown' outside a git checkout). */
export function headCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
const workerPath = join(here, 'worker.ts');

class Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  done = false;
  doneCounters: Counters | undefined;
  finalCounters: Counters | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (v: { counters: Counters; hist?: HistogramData }) => void>();
  private readonly finalWaiters: (() => void)[] = [];
  private readonly doneWaiters: (() => void)[] = [];

  constructor(
    readonly label: string,
    cfg: WorkerConfig,
    onError: (msg: string) => void,
  ) {
    this.child = track(
      fork(workerPath, [], {
        cwd: repoRoot,
        execArgv: ['--conditions=warren-source', '--import', 'tsx'],
        env: { ...process.env, BENCH_WORKER: JSON.stringify(cfg) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    this.child.on('message', (raw) => {
      const m = raw as WorkerMsg;
      if (m.type === 'ready') readyResolve();
      else if (m.type === 'error') {
        readyReject(new Error(m.message));
        onError(m.message);
      } else if (m.type === 'snap') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.(m.hist ? { counters: m.counters, hist: m.hist } : { counters: m.counters });
      } else if (m.type === 'done') {
        this.done = true;
        this.doneCounters = m.counters;
        for (const w of this.doneWaiters.splice(0)) w();
      } else if (m.type === 'final') {
        this.finalCounters = m.counters;
        for (const w of this.finalWaiters.splice(0)) w();
      }
    });
    void this.exited.then((code) => {
      readyReject(new Error(`${label} exited with code ${code} before it was ready`));
      for (const w of this.finalWaiters.splice(0)) w();
      for (const w of this.doneWaiters.splice(0)) w();
    });
  }

  send(m: object): void {
    if (this.child.connected) this.child.send(m);
  }

  snap(hist: 'none' | 'reset' | 'take'): Promise<{ counters: Counters; hist?: HistogramData } | undefined> {
    if (!this.child.connected) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        res(undefined);
      }, 10_000);
      this.pending.set(id, (v) => {
        clearTimeout(t);
        res(v);
      });
      this.send({ type: 'snap', id, hist });
    });
  }

  waitDone(): Promise<void> {
    if (this.done || this.child.exitCode !== null) return Promise.resolve();
    return new Promise((r) => this.doneWaiters.push(r));
  }

  async stop(): Promise<void> {
    const got = new Promise<void>((r) => this.finalWaiters.push(r));
    this.send({ type: 'stop' });
    await Promise.race([got, sleep(6000)]);
    await Promise.race([this.exited, sleep(3000)]);
    await stopProcess(this.child, 1000);
  }
}

function split(total: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out.filter((n) => n > 0);
}

function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

export async function runPerf(o: PerfOptions): Promise<PerfResult> {
  const runId = randomBytes(3).toString('hex');
  const queueNames = Array.from({ length: Math.max(1, o.queues) }, (_, i) => `${o.queue}-${runId}-${i}`);
  const exchange = o.exchange;
  const ownExchange = exchange !== '' && !exchange.startsWith('amq.');
  const exchangeName = ownExchange ? `${exchange}-${runId}` : exchange;
  const routingKey = o.routingKey || (exchange === '' ? queueNames[0]! : 'perf');
  const errors: string[] = [];
  const onError = (m: string): void => {
    if (errors.length < 20) errors.push(m);
  };
  const workers: Worker[] = [];
  let admin: AMQPClient | undefined;
  let peakRss = 0;
  let peakTimer: NodeJS.Timeout | undefined;
  let aborted = false;
  let abortResolve!: () => void;
  const abortP = new Promise<void>((r) => (abortResolve = r));
  const hardTimer = setTimeout(() => {
    aborted = true;
    abortResolve();
    onError(`run timed out after ${o.timeoutSec} s`);
    for (const w of workers) void stopProcess(w.child, 500);
  }, o.timeoutSec * 1000);

  const broker = (): ProcSample | undefined => (o.brokerPid !== undefined ? sampleTree(o.brokerPid) : undefined);
  const empty: PerfResult = {
    ok: false,
    windowSec: 0,
    sentRate: 0,
    confirmedRate: 0,
    receivedRate: 0,
    sent: 0,
    confirmed: 0,
    received: 0,
    latency: { count: 0, p50Ms: NaN, p95Ms: NaN, p99Ms: NaN, maxMs: NaN },
    clientCpuMaxPct: 0,
    clientBusiest: '',
  };

  try {
    // ---- topology (raced against the hard timeout: a broker that stops answering must not hang the run)
    const setup = async (): Promise<void> => {
      if (!o.declare) return;
      admin = new AMQPClient(o.uri);
      await admin.connect();
      const ch = await admin.channel();
      if (ownExchange) await ch.exchangeDeclare(exchangeName, o.exchangeType, { durable: o.durableQueue });
      for (const q of queueNames) {
        await ch.queueDeclare(q, { durable: o.durableQueue, autoDelete: false, exclusive: false }, o.queueArgs);
        if (exchangeName !== '' && !(o.topicBindings > 0 && q === queueNames[0])) {
          await ch.queueBind(q, exchangeName, routingKey);
        }
      }
      if (o.topicBindings > 0) {
        const q = queueNames[0]!;
        for (let i = 0; i < o.topicBindings; i += 200) {
          const batch: Promise<void>[] = [];
          for (let j = i; j < Math.min(o.topicBindings, i + 200); j++) batch.push(ch.queueBind(q, exchangeName, `k.${j}.*`));
          await Promise.all(batch);
        }
      }
    };
    await Promise.race([
      setup(),
      abortP.then(() => {
        throw new Error(errors[0] ?? 'aborted');
      }),
    ]);
    peakTimer = setInterval(() => {
      const s = broker();
      if (s && s.rssBytes > peakRss) peakRss = s.rssBytes;
    }, 500);

    const base = {
      uri: o.uri,
      size: Math.max(16, o.size),
      persistent: o.persistent,
      confirm: o.confirm,
      exchange: exchangeName,
      routingKeys: [routingKey],
      topicKeys: o.topicBindings,
      pmessages: o.pmessages,
      prefetch: o.prefetch,
      autoack: o.autoack,
      multiAck: o.multiAck,
      deferConsume: o.mode === 'publish-then-drain',
      queues: [] as string[],
    };

    // ---- workers: idle connections first, then consumers, then producers
    if (o.idleConnections > 0) {
      const w = new Worker('idle', { ...base, role: 'idle', index: 0, count: o.idleConnections, ratePerProducer: 0 }, onError);
      workers.push(w);
      await w.ready;
    }
    const consumers: Worker[] = [];
    const cprocs = split(o.consumers, Math.min(o.consumers, o.consumerProcs ?? 4));
    let cIdx = 0;
    cprocs.forEach((n, i) => {
      const queues = Array.from({ length: n }, () => queueNames[cIdx++ % queueNames.length]!);
      consumers.push(
        new Worker(`consumer#${i}`, { ...base, role: 'consumer', index: i, count: n, queues, ratePerProducer: 0 }, onError),
      );
    });
    const producers: Worker[] = [];
    const pprocs = split(o.producers, Math.min(o.producers, o.producerProcs ?? 4));
    pprocs.forEach((n, i) => {
      producers.push(
        new Worker(
          `producer#${i}`,
          { ...base, role: 'producer', index: i, count: n, ratePerProducer: o.rate > 0 ? o.rate / o.producers : 0 },
          onError,
        ),
      );
    });
    workers.push(...consumers, ...producers);
    await Promise.all(workers.map((w) => w.ready));
    if (aborted) throw new Error(errors[0] ?? 'aborted');

    const active = [...consumers, ...producers];
    const snapAll = async (
      which: Worker[],
      hist: 'none' | 'reset' | 'take',
    ): Promise<({ counters: Counters; hist?: HistogramData } | undefined)[]> => Promise.all(which.map((w) => w.snap(hist)));
    const sum = (snaps: ({ counters: Counters } | undefined)[], k: keyof Counters): number =>
      snaps.reduce((a, s) => a + (s ? s.counters[k] : 0), 0);

    if (o.mode === 'publish-then-drain') {
      // ---- phase 1: publish pmessages per producer (with confirms if asked), nobody consuming
      await sleep(500);
      const rssBefore = broker();
      const m0 = machineCpu();
      const self0 = process.cpuUsage();
      const p0 = await snapAll(producers, 'none');
      for (const w of producers) w.send({ type: 'go' });
      const progress = setInterval(() => {
        void snapAll(producers, 'none').then((s) =>
          o.onProgress?.(`publishing ${sum(s, 'sent').toLocaleString()} / ${(o.pmessages * o.producers).toLocaleString()}`),
        );
      }, 1000);
      await Promise.race([Promise.all(producers.map((w) => w.waitDone())), abortP]);
      clearInterval(progress);
      if (aborted) throw new Error(errors[0] ?? 'aborted');
      const pubEnd = producers.map((w) => w.doneCounters);
      const t0 = Math.min(...p0.map((s) => s?.counters.at ?? Infinity));
      const t1 = Math.max(...pubEnd.map((c) => c?.at ?? 0));
      const published = pubEnd.reduce((a, c) => a + (c?.sent ?? 0), 0);
      const confirmedN = pubEnd.reduce((a, c) => a + (c?.confirmed ?? 0), 0);
      await sleep(1000);
      const rssQueued = broker();
      // ---- phase 2: consumers drain the queue
      const c0 = await snapAll(consumers, 'none');
      for (const w of consumers) w.send({ type: 'go' });
      const target = o.confirm > 0 ? confirmedN : published;
      let last = 0;
      let lastChange = performance.now();
      let cEnd = c0;
      for (;;) {
        await sleep(250);
        if (aborted) break;
        cEnd = await snapAll(consumers, 'none');
        const got = sum(cEnd, 'received');
        o.onProgress?.(`draining ${got.toLocaleString()} / ${target.toLocaleString()}`);
        if (got >= target) break;
        if (got !== last) {
          last = got;
          lastChange = performance.now();
        } else if (performance.now() - lastChange > 5000) {
          onError(`drain stalled at ${got} of ${target}`);
          break;
        }
      }
      const d0 = Math.min(...c0.map((s) => s?.counters.at ?? Infinity));
      const d1 = Math.max(...cEnd.map((s) => s?.counters.at ?? 0));
      const received = sum(cEnd, 'received');
      const pubCpu = producers.map((w, i) => {
        const a = p0[i]?.counters;
        const b = pubEnd[i];
        return a && b && b.at > a.at ? ((b.cpuSec - a.cpuSec) / (b.at - a.at)) * 100 : 0;
      });
      const conCpu = consumers.map((w, i) => {
        const a = c0[i]?.counters;
        const b = cEnd[i]?.counters;
        return a && b && b.at > a.at ? ((b.cpuSec - a.cpuSec) / (b.at - a.at)) * 100 : 0;
      });
      const all = [...producers.map((w, i) => [w.label, pubCpu[i] ?? 0] as const), ...consumers.map((w, i) => [w.label, conCpu[i] ?? 0] as const)];
      const busiest = all.reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0] as readonly [string, number]);
      const endSample = broker();
      const m1 = machineCpu();
      const self1 = process.cpuUsage(self0);
      // Client CPU over both phases (publish: producers; drain: consumers), for the 'other load' figure.
      let clientSec = (self1.user + self1.system) / 1e6;
      producers.forEach((_w, i) => {
        const a = p0[i]?.counters;
        const b = pubEnd[i];
        if (a && b) clientSec += b.cpuSec - a.cpuSec;
      });
      consumers.forEach((_w, i) => {
        const a = c0[i]?.counters;
        const b = cEnd[i]?.counters;
        if (a && b) clientSec += b.cpuSec - a.cpuSec;
      });
      const res: PerfResult = {
        ...empty,
        ok: errors.length === 0,
        windowSec: t1 - t0 + (d1 - d0),
        sent: published,
        confirmed: confirmedN,
        received,
        sentRate: t1 > t0 ? published / (t1 - t0) : 0,
        confirmedRate: t1 > t0 ? confirmedN / (t1 - t0) : 0,
        receivedRate: d1 > d0 ? received / (d1 - d0) : 0,
        publishPhaseRate: t1 > t0 ? published / (t1 - t0) : 0,
        drainPhaseRate: d1 > d0 ? received / (d1 - d0) : 0,
        queuedMessages: target,
        clientCpuMaxPct: busiest[1],
        clientBusiest: busiest[0],
        brokerRssPeakBytes: peakRss,
      };
      if (rssBefore) res.rssBeforeBytes = rssBefore.rssBytes;
      if (rssQueued) res.rssQueuedBytes = rssQueued.rssBytes;
      if (endSample) res.brokerRssBytes = endSample.rssBytes;
      if (rssBefore && endSample) {
        res.brokerCpuPct = cpuPercent(rssBefore, endSample);
        const mdt = m1.at - m0.at;
        const other = m1.busySec - m0.busySec - (endSample.cpuSec - rssBefore.cpuSec) - clientSec;
        if (mdt > 0) res.otherCpuPct = Math.max(0, (other / mdt) * 100);
      }
      if (errors.length) res.error = errors.join('; ');
      return res;
    }

    // ---- normal: warm-up, then the measured window
    for (const w of consumers) w.send({ type: 'go' });
    for (const w of producers) w.send({ type: 'go' });
    const tStart = performance.now();
    let prev = await snapAll(active, 'none');
    const endAt = tStart + (o.warmupSec + o.durationSec) * 1000;
    const warmAt = tStart + o.warmupSec * 1000;
    let a: Awaited<ReturnType<typeof snapAll>> | undefined;
    let bA: ProcSample | undefined;
    let mA = machineCpu();
    let selfA = process.cpuUsage();
    while (!aborted) {
      const now = performance.now();
      const nextTick = Math.min(now + 1000, a ? endAt : warmAt);
      await sleep(Math.max(0, nextTick - now));
      if (aborted) break;
      if (!a && performance.now() >= warmAt - 1) {
        bA = broker();
        mA = machineCpu();
        selfA = process.cpuUsage();
        a = await snapAll(active, 'reset');
        prev = a;
        continue;
      }
      if (a && performance.now() >= endAt - 1) break;
      const cur = await snapAll(active, 'none');
      const dt = (sum(cur, 'at') - sum(prev, 'at')) / Math.max(1, active.length);
      if (dt > 0) {
        const sentR = (sum(cur, 'sent') - sum(prev, 'sent')) / dt;
        const recvR = (sum(cur, 'received') - sum(prev, 'received')) / dt;
        const confR = (sum(cur, 'confirmed') - sum(prev, 'confirmed')) / dt;
        const left = Math.max(0, (endAt - performance.now()) / 1000);
        o.onProgress?.(
          `${a ? 'measuring' : 'warm-up'} sent ${fmtRate(sentR)}/s${o.confirm > 0 ? ` confirmed ${fmtRate(confR)}/s` : ''} received ${fmtRate(recvR)}/s, ${left.toFixed(0)} s left`,
        );
      }
      prev = cur;
    }
    if (aborted || !a) throw new Error(errors[0] ?? 'aborted');
    const b = await snapAll(active, 'take');
    const bB = broker();
    const mB = machineCpu();
    const selfB = process.cpuUsage(selfA);

    const hist = new Histogram();
    let sentRate = 0;
    let confirmedRate = 0;
    let receivedRate = 0;
    let sent = 0;
    let confirmed = 0;
    let received = 0;
    let window = 0;
    let busiest: [string, number] = ['', 0];
    let clientCpuSec = (selfB.user + selfB.system) / 1e6;
    active.forEach((w, i) => {
      const x = a![i]?.counters;
      const y = b[i]?.counters;
      if (!x || !y || y.at <= x.at) {
        onError(`${w.label}: no snapshot`);
        return;
      }
      const dt = y.at - x.at;
      window = Math.max(window, dt);
      sent += y.sent - x.sent;
      confirmed += y.confirmed - x.confirmed;
      received += y.received - x.received;
      sentRate += (y.sent - x.sent) / dt;
      confirmedRate += (y.confirmed - x.confirmed) / dt;
      receivedRate += (y.received - x.received) / dt;
      const cpu = ((y.cpuSec - x.cpuSec) / dt) * 100;
      clientCpuSec += y.cpuSec - x.cpuSec;
      if (cpu > busiest[1]) busiest = [w.label, cpu];
      const h = b[i]?.hist;
      if (h) hist.merge(h);
    });
    const res: PerfResult = {
      ok: errors.length === 0,
      windowSec: window,
      sentRate,
      confirmedRate,
      receivedRate,
      sent,
      confirmed,
      received,
      latency: {
        count: hist.count,
        p50Ms: hist.quantile(0.5) / 1000,
        p95Ms: hist.quantile(0.95) / 1000,
        p99Ms: hist.quantile(0.99) / 1000,
        maxMs: hist.count ? hist.max / 1000 : NaN,
      },
      clientCpuMaxPct: busiest[1],
      clientBusiest: busiest[0],
      brokerRssPeakBytes: peakRss,
    };
    if (bA && bB) {
      res.brokerCpuPct = cpuPercent(bA, bB);
      res.brokerRssBytes = bB.rssBytes;
      const mdt = mB.at - mA.at;
      if (mdt > 0) {
        const other = mB.busySec - mA.busySec - (bB.cpuSec - bA.cpuSec) - clientCpuSec;
        res.otherCpuPct = Math.max(0, (other / mdt) * 100);
      }
    }
    if (errors.length) res.error = errors.join('; ');
    return res;
  } catch (e) {
    onError((e as Error).message);
    return { ...empty, error: errors.join('; ') };
  } finally {
    clearTimeout(hardTimer);
    if (peakTimer) clearInterval(peakTimer);
    // Producers first, so consumers can take what is in flight, then consumers, then idle connections.
    const producers = workers.filter((w) => w.label.startsWith('producer'));
    await Promise.all(producers.map((w) => w.stop()));
    await Promise.all(workers.filter((w) => !producers.includes(w)).map((w) => w.stop()));
    if (admin && o.declare) {
      const cleanup = async (): Promise<void> => {
        const ch = await admin!.channel();
        for (const q of queueNames) await ch.queueDelete(q);
        if (ownExchange) await ch.exchangeDelete(exchangeName);
        await Promise.race([admin!.close(), sleep(2000)]);
      };
      // A queue with millions of messages takes a while to delete; a broker that does not answer is left as it is.
      await Promise.race([cleanup().catch(() => undefined), sleep(30_000)]);
    }
  }
}
