// The mirrored-queue fault scenario shared by the CI test (fault.test.ts) and the soak command (fault-run.ts):
//
//   1. three brokers in namespaces (n1 disc, n2 n3 ram, joined with brokerctl join_cluster), a policy mirroring
//      `ha.*` on every node with automatic sync, and the queue `ha.fault` declared on n2;
//   2. a producer (persistent messages, publisher confirms) starting on n1 and an acking consumer starting on n3,
//      both moving to another node when theirs fails;
//   3. the seeded schedule of faults, one at a time: each is injected, held, healed, and the cluster is given the
//      time to be whole again before the next;
//   4. everything healed, the producer stopped, the consumer left to catch up, every node restarted (ram nodes
//      stopped first, the disc node started first), and the queue drained;
//   5. the check: every confirmed id must have been delivered (lost = confirmed and never delivered); ids delivered
//      more than once are counted; for each fault, the time from its start to the next confirm.
import { FaultLab } from './fault-lab.ts';
import { Consumer, Producer, drain, type Log } from './fault-clients.ts';
import { NODES, describeFault, makeSchedule, type Fault, type NodeName, type ScheduleOptions } from './fault-schedule.ts';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { sleep, waitFor } from '../vrrp/lab.ts';

export const QUEUE = 'ha.fault';
/** A fault that leaves the cluster unable to recover within this is a finding of its own (logged, run goes on). */
const RECOVERY_TIMEOUT_MS = 45_000;
const CONSUMER_IDLE_MS = 3000;

export type PartitionHandling = 'ignore' | 'pause_minority' | 'autoheal';

export interface RunOptions {
  seed: number;
  schedule: ScheduleOptions;
  partitionHandling: PartitionHandling;
  /** 10.213.<subnet>.0/24; runs at the same time need different subnets */
  subnet: number;
  tag: string;
  /** keep the data and log directory even when nothing was lost */
  keep?: boolean;
  log: Log;
  /** called once the lab exists, so a caller can tear it down if it gives up on the run */
  onLab?: (lab: FaultLab) => void;
}

export interface FaultRecord {
  fault: Fault;
  node: NodeName;
  masterBefore: NodeName | undefined;
  masterAfter: NodeName | undefined;
  startAt: number;
  healAt: number;
  /** from the fault's start to the next publisher confirm (the promotion time when the master was hit) */
  firstConfirmAfterMs: number | undefined;
  recovered: boolean;
}

export interface Report {
  seed: number;
  partitionHandling: PartitionHandling;
  published: number;
  confirmed: number;
  nacked: number;
  deliveredUnique: number;
  deliveries: number;
  lost: string[];
  /** runs of consecutive lost ids, with when they were published and confirmed (s from the start) and where */
  lostRuns: string[];
  duplicated: number;
  faults: FaultRecord[];
  problems: string[];
  dir: string;
  kept: boolean;
}

export async function runFaults(o: RunOptions): Promise<Report> {
  const t0 = Date.now();
  const log: Log = (line) => o.log(`[+${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);
  const schedule = makeSchedule(o.seed, o.schedule);
  log(`seed ${o.seed} (replay: WARREN_FAULT_SEED=${o.seed}), cluster_partition_handling = ${o.partitionHandling}, ${schedule.length} faults`);
  schedule.forEach((f, i) => log(`  schedule ${i + 1}: ${describeFault(f)}, then ${(f.gapMs / 1000).toFixed(1)}s`));
  const lab = new FaultLab(o.tag, o.subnet, o.partitionHandling);
  o.onLab?.(lab);
  const urls = NODES.map((n) => lab.url(n));
  const problems: string[] = [];
  const problem = (p: string): void => {
    problems.push(p);
    log(`PROBLEM: ${p}`);
  };
  const records: FaultRecord[] = [];
  const producer = new Producer(urls, 0, QUEUE, log);
  const consumer = new Consumer(urls, 2, QUEUE, log);
  let lost: string[] = [];
  let failed = true;
  try {
    await lab.up();
    log(`cluster up: ${(await lab.runningNodes()).join(' ')} running; logs in ${lab.dir}/logs`);
    const pol = await lab.ctl('n1', 'set_policy', 'ha-all', '^ha\\.', '{"ha-mode":"all","ha-sync-mode":"automatic"}');
    if (pol.code !== 0) throw new Error(`set_policy: ${pol.err}`);
    const c = new AMQPClient(lab.url('n2'));
    await c.connect();
    await (await c.channel()).queueDeclare(QUEUE, { durable: true });
    await c.close();
    // An empty queue's mirror on n3 may stay unsynchronised until the first message goes through (seen in the
    // first runs), so the wait for both mirrors comes after the clients have started.
    producer.start();
    consumer.start();
    await waitFor(() => producer.confirmed.size >= 300, 30_000, 100);
    const synced = await waitFor(async () => (await mirrorsSynced(lab)) === 2, 20_000, 500);
    if (synced === undefined) {
      problem(`the queue did not get two synchronised mirrors within 20 s: ${await queueInfo(lab)}`);
    }
    log(`steady: ${producer.confirmed.size} confirmed, ${consumer.deliveries} delivered`);

    for (const [i, fault] of schedule.entries()) {
      const masterBefore = await lab.masterOf(QUEUE);
      const node: NodeName = fault.target === 'master' ? (masterBefore ?? 'n2') : fault.target;
      const what = `fault ${i + 1}/${schedule.length}: ${fault.kind} ${node}${node === masterBefore ? ' (the master)' : ''} for ${(fault.holdMs / 1000).toFixed(1)}s`;
      lab.mark(what);
      log(`${what}; master ${masterBefore ?? '?'}, ${producer.confirmed.size} confirmed so far`);
      const startAt = Date.now();
      await inject(lab, fault, node);
      await sleep(fault.holdMs);
      await heal(lab, fault, node);
      const healAt = Date.now();
      lab.mark(`healed fault ${i + 1}`);
      const recovered = await waitWhole(lab);
      if (!recovered) problem(`fault ${i + 1} (${fault.kind} ${node}): the cluster was not whole again ${RECOVERY_TIMEOUT_MS / 1000} s after the heal (${lab.describe()})`);
      const masterAfter = await lab.masterOf(QUEUE);
      log(`healed after ${((healAt - startAt) / 1000).toFixed(1)}s, whole again after ${((Date.now() - healAt) / 1000).toFixed(1)}s; master ${masterAfter ?? '?'}, ${producer.confirmed.size} confirmed, ${consumer.deliveries} delivered`);
      records.push({ fault, node, masterBefore, masterAfter, startAt, healAt, firstConfirmAfterMs: undefined, recovered });
      await sleep(fault.gapMs);
    }

    lab.mark('end: heal all, stop the producer, drain');
    lab.healAll();
    if (!(await waitWhole(lab))) problem(`the cluster was not whole after the final heal (${lab.describe()})`);
    const before = producer.confirmed.size;
    await waitFor(() => producer.confirmed.size >= before + 100, 20_000, 100);
    await producer.stop();
    log(`producer stopped: ${producer.published} published, ${producer.confirmed.size} confirmed, ${producer.nacked} nacked or failed, ${producer.reconnects} reconnects`);
    await waitFor(() => Date.now() - consumer.lastDeliveryAt > CONSUMER_IDLE_MS, 60_000, 250);
    await consumer.stop();
    log(`consumer stopped: ${consumer.deliveries} deliveries, ${consumer.reconnects} reconnects`);
    log(`before the restart (${producer.confirmed.size - [...producer.confirmed].filter((id) => consumer.delivered.has(id)).length} confirmed ids not delivered yet): ${await queueInfo(lab)}`);

    lab.mark('end: restarting every node');
    for (const n of ['n3', 'n2', 'n1'] as const) await lab.kill(n, 'SIGTERM');
    // all started before any is awaited: under pause_minority a node up on its own pauses until the others are back
    for (const n of NODES) lab.start(n);
    for (const n of NODES) if (!(await lab.awaitStartup(n, 60_000))) problem(`${n} did not start again after the final restart`);
    if ((await waitFor(async () => (await lab.masterOf(QUEUE)) !== undefined, 30_000, 500)) === undefined) problem('no node lists the queue after the restart');
    log(`after the restart: ${await queueInfo(lab)}`);
    if ((await drain(urls, QUEUE, consumer, 60_000, log)) === undefined) problem('the queue could not be drained after the restart');

    lost = [...producer.confirmed].filter((id) => !consumer.delivered.has(id));
    failed = lost.length > 0 || problems.length > 0;
  } finally {
    await producer.stop().catch(() => {});
    await consumer.stop().catch(() => {});
    for (const r of records) r.firstConfirmAfterMs = firstAfter(producer.confirmTimes, r.startAt);
    await lab.down(o.keep === true || failed);
  }
  const duplicated = [...consumer.delivered.values()].filter((n) => n > 1).length;
  return {
    seed: o.seed,
    partitionHandling: o.partitionHandling,
    published: producer.published,
    confirmed: producer.confirmed.size,
    nacked: producer.nacked,
    deliveredUnique: consumer.delivered.size,
    deliveries: consumer.deliveries,
    lost,
    lostRuns: lostRuns(lost, producer, t0, records),
    duplicated,
    faults: records,
    problems,
    dir: lab.dir,
    kept: o.keep === true || failed,
  };
}

async function inject(lab: FaultLab, f: Fault, n: NodeName): Promise<void> {
  switch (f.kind) {
    case 'kill':
      return lab.kill(n);
    case 'stop':
      return lab.signal(n, 'SIGSTOP');
    case 'isolate':
      return lab.setPort(n, false);
    case 'split':
      return lab.split([n]);
  }
}

async function heal(lab: FaultLab, f: Fault, n: NodeName): Promise<void> {
  if (f.kind === 'kill') lab.start(n);
  else lab.healAll();
}

/** Every node running its app and listed as running by the disc node. */
async function waitWhole(lab: FaultLab): Promise<boolean> {
  const ok = await waitFor(
    async () => {
      for (const n of NODES) if (!lab.isRunning(n) || (await lab.ctl(n, 'await_startup')).code !== 0) return false;
      return (await lab.runningNodes('n1')).length === NODES.length;
    },
    RECOVERY_TIMEOUT_MS,
    500,
  );
  return ok !== undefined;
}

/** Queue columns as the master sees them (other nodes list their own view: 0 messages, their own mirror only). */
async function queueInfo(lab: FaultLab): Promise<string> {
  const m = (await lab.masterOf(QUEUE)) ?? 'n1';
  const r = await lab.ctl(m, '-q', 'list_queues', 'name', 'node', 'messages', 'synchronised_slave_pids');
  return `${m}: ${(r.out.split('\n').find((l) => l.startsWith(`${QUEUE}\t`)) ?? r.err).trim()}`;
}

async function mirrorsSynced(lab: FaultLab): Promise<number> {
  const m = (await lab.masterOf(QUEUE)) ?? 'n1';
  const r = await lab.ctl(m, '-q', 'list_queues', 'name', 'synchronised_slave_pids');
  const line = r.out.split('\n').find((l) => l.startsWith(`${QUEUE}\t`)) ?? '';
  return (line.match(/</g) ?? []).length;
}

/** From `t` to the first confirm of a message published at or after `t` (in-flight confirms do not count). */
function lostRuns(lost: string[], p: Producer, t0: number, faults: FaultRecord[]): string[] {
  const nums = lost.map((id) => Number(id.slice(1))).sort((a, b) => a - b);
  const runs: string[] = [];
  const at = (n: number): string => {
    const [pub, conf, host] = p.confirmInfo.get(`m${n}`) ?? [NaN, NaN, '?'];
    // the fault whose window (its start to the next one's) the confirm falls in
    let i = -1;
    while (i + 1 < faults.length && faults[i + 1]!.startAt <= conf) i++;
    const f = faults[i];
    const when = f === undefined ? 'before the first fault' : `${conf <= f.healAt ? 'during' : `${((conf - f.healAt) / 1000).toFixed(2)}s after the heal of`} fault ${i + 1} (${f.fault.kind} ${f.node})`;
    return `published +${((pub - t0) / 1000).toFixed(2)}s, confirmed +${((conf - t0) / 1000).toFixed(2)}s by ${host}, ${when}`;
  };
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1]! <= nums[j]! + 20) j++;
    runs.push(`m${nums[i]}..m${nums[j]} (${j - i + 1} lost): first ${at(nums[i]!)}; last ${at(nums[j]!)}`);
    i = j + 1;
  }
  return runs;
}

function firstAfter(times: [number, number][], t: number): number | undefined {
  for (const [pub, conf] of times) if (pub >= t) return conf - t;
  return undefined;
}

export function formatReport(r: Report): string {
  const lines = [
    `seed ${r.seed} (WARREN_FAULT_SEED=${r.seed}), cluster_partition_handling = ${r.partitionHandling}`,
    `published ${r.published}, confirmed ${r.confirmed}, nacked/failed ${r.nacked}, delivered ${r.deliveredUnique} distinct in ${r.deliveries} deliveries`,
    `LOST (confirmed, never delivered): ${r.lost.length}${r.lost.length ? ` e.g. ${r.lost.slice(0, 10).join(' ')}` : ''}`,
    ...r.lostRuns.map((l) => `  lost ${l}`),
    `duplicated (delivered more than once): ${r.duplicated}`,
    'faults (time from the fault to the next confirm; for the master, the promotion time as the publisher sees it):',
    ...r.faults.map(
      (f, i) =>
        `  ${String(i + 1).padStart(2)}. ${f.fault.kind.padEnd(7)} ${f.node}${f.node === f.masterBefore ? ' (master)' : '         '} hold ${(f.fault.holdMs / 1000).toFixed(1)}s  next confirm after ${f.firstConfirmAfterMs === undefined ? 'never' : `${f.firstConfirmAfterMs} ms`}  master ${f.masterBefore ?? '?'} -> ${f.masterAfter ?? '?'}${f.recovered ? '' : '  NOT RECOVERED'}`,
    ),
    ...r.problems.map((p) => `problem: ${p}`),
    r.kept ? `data and logs kept in ${r.dir}` : '',
  ];
  return lines.filter(Boolean).join('\n');
}
