// Scenarios: each proves one claim of the seeds on the running lab, while a client publishes with confirms and
// consumes through the virtual IP the whole time. Each gives a verdict, measured times, the client's counts (lost
// confirmed messages, duplicates, longest outage), and writes an SVG timeline. Every scenario leaves the lab as it
// found it (processes restarted, links up), so `lab run all` runs them one after another.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { TrafficClient, type ClientStats } from './client.ts';
import type { Lab } from './lab.ts';
import { sleep, waitFor } from './procs.ts';
import { readEvents, type LabEvent } from './state.ts';
import { BROKERS, DISC, LBS, nodeName } from './topology.ts';
import { timelineSvg } from './svg.ts';

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export interface Ctx {
  lab: Lab;
  client: TrafficClient;
  queue: string;
  measure: Record<string, string>;
  checks: Check[];
  mark(text: string): void;
  check(what: string, ok: boolean, detail: string): void;
  log(l: string): void;
}

export interface Scenario {
  name: string;
  claim: string;
  needsNetns?: boolean;
  run(c: Ctx): Promise<void>;
}

export interface Result {
  name: string;
  claim: string;
  pass: boolean;
  checks: Check[];
  measure: Record<string, string>;
  client: ClientStats;
  svg: string;
  seconds: number;
}

const TRAFFIC_QUEUE = 'ha.lab';
const s1 = (ms: number | undefined): string => (ms === undefined ? 'never (timed out)' : `${(ms / 1000).toFixed(2)} s`);

// ------------------------------------------------------------------------------------------------ helpers

interface QueueInfo {
  node: string;
  slave_nodes?: string[];
  synchronised_slave_nodes?: string[];
  messages?: number;
  state?: string;
}

async function queueInfo(lab: Lab, q: string, from?: string[]): Promise<QueueInfo | null> {
  return (await lab.mgmt(`/api/queues/%2F/${encodeURIComponent(q)}`, from)) as QueueInfo | null;
}

async function masterOf(lab: Lab, q: string, from?: string[]): Promise<string | null> {
  const i = await queueInfo(lab, q, from);
  return i === null ? null : i.node.replace(/^rabbit@/, '');
}

async function synced(lab: Lab, q: string): Promise<boolean> {
  const i = await queueInfo(lab, q);
  return i !== null && (i.synchronised_slave_nodes ?? []).length === BROKERS.length - 1;
}

async function runningNodes(lab: Lab, from?: string[]): Promise<string[]> {
  const n = (await lab.mgmt('/api/nodes', from)) as { name: string; running?: boolean }[] | null;
  return (n ?? []).filter((x) => x.running === true).map((x) => x.name.replace(/^rabbit@/, ''));
}

async function backend(lab: Lab, lb: string, broker: string): Promise<string | undefined> {
  return (await lab.backends(lb))?.[broker];
}

/** Brings every process back, every link up, every partition healed; waits for a healthy cluster. */
export async function heal(lab: Lab, log: (l: string) => void): Promise<void> {
  lab.reload();
  if (lab.netns) {
    for (const h of [...BROKERS, ...LBS]) if (lab.isCut(h.name)) lab.cut(h.name, false);
    lab.heal();
  }
  // the disc node first (a ram node needs it to start)
  const order = Object.keys(lab.s.procs).sort((a, b) => (a.startsWith(DISC.name) ? -1 : b.startsWith(DISC.name) ? 1 : 0));
  for (const k of order) {
    if (k === 'page') continue;
    const st = lab.procStatus(k);
    if (st === 'hung') lab.resume(lab.s.procs[k]!.host);
    if (st === 'down') {
      lab.restartProc(k);
      lab.event('lab', `restarted ${k}`, lab.s.procs[k]!.host);
    }
  }
  const ok = await waitFor(async () => (await runningNodes(lab)).length === BROKERS.length, 120_000, 300);
  if (ok === undefined) log('  (heal: not every node runs again within 120 s)');
  // (before the first scenario the traffic queue does not exist yet)
  if ((await queueInfo(lab, TRAFFIC_QUEUE)) !== null) await waitFor(() => synced(lab, TRAFFIC_QUEUE), 60_000, 300);
  if (lab.netns) await waitFor(() => lab.vipHolder() !== null, 30_000, 100);
  await waitFor(async () => {
    for (const lb of LBS) {
      const b = await lab.backends(lb.name);
      if (b === null || Object.values(b).some((v) => v !== 'UP')) return false;
    }
    return true;
  }, 30_000, 200);
}

async function publishDirect(url: string, q: string, n: number, durable: boolean): Promise<void> {
  const c = new AMQPClient(url);
  await c.connect();
  const ch = await c.channel();
  await ch.queueDeclare(q, { durable });
  await ch.confirmSelect();
  const ps: Promise<number>[] = [];
  for (let i = 0; i < n; i++) ps.push(ch.basicPublish('', q, `p${i}`, { deliveryMode: 2 }));
  await Promise.all(ps);
  await c.close();
}

async function countOn(url: string, q: string): Promise<number | string> {
  const c = new AMQPClient(url);
  try {
    await c.connect();
    const ch = await c.channel();
    const r = await ch.queueDeclare(q, { passive: true });
    return r.messageCount;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.close().catch(() => {});
  }
}

function brokerUrl(lab: Lab, b: string): string {
  return `amqp://guest:guest@${lab.addr(b)}:${lab.p.amqpPort(b)}`;
}

// ---------------------------------------------------------------------------------------------- scenarios

export const SCENARIOS: Scenario[] = [
  {
    name: 'mirrored-failover',
    claim: "a mirrored queue survives its master's crash (kill -9): a mirror is promoted, no confirmed message is lost",
    async run(c) {
      const old = await masterOf(c.lab, c.queue);
      if (old === null) return c.check('the queue has a master', false, 'no broker reports the queue');
      c.measure['master before'] = old;
      const t = Date.now();
      c.mark(`kill -9 the broker on ${old} (master of ${c.queue})`);
      await c.lab.kill(old, 'broker');
      const others = BROKERS.map((b) => b.name).filter((b) => b !== old);
      let now: string | null = null;
      const promoted = await waitFor(async () => {
        now = await masterOf(c.lab, c.queue, others);
        return now !== null && now !== old;
      }, 30_000, 50);
      c.measure['new master'] = String(now);
      c.measure['promotion after'] = s1(promoted);
      c.mark(`${String(now)} is the new master`);
      await waitFor(() => c.client.confirmTimes.some((x) => x > t + (promoted ?? 0)), 30_000, 50);
      const gap = c.client.gapBetween(t, Date.now());
      c.measure['client outage'] = s1(gap.ms);
      c.check('a mirror took over', promoted !== undefined && now !== old, `master ${old} -> ${String(now)} in ${s1(promoted)}`);
    },
  },
  {
    name: 'vip-failover',
    needsNetns: true,
    claim: 'the virtual IP moves when the MASTER load balancer dies (cut off the network), and the client carries on',
    async run(c) {
      const holder = c.lab.vipHolder();
      if (holder === null) return c.check('a load balancer holds the VIP', false, 'nobody holds it');
      const other = LBS.find((l) => l.name !== holder)!.name;
      c.measure['VIP holder before'] = holder;
      const t = Date.now();
      c.mark(`${holder} dies (cut off the network)`);
      c.lab.cut(holder, true);
      // (the cut-off host still has the address on its side; the other one must take it)
      const moved = await waitFor(() => c.lab.vipHolderOf(other), 30_000, 20);
      c.mark(`${other} holds the VIP`);
      c.measure['VIP moved after'] = s1(moved);
      await waitFor(() => c.client.confirmTimes.some((x) => x > t + (moved ?? 0)), 30_000, 50);
      c.measure['client outage'] = s1(c.client.gapBetween(t, Date.now()).ms);
      c.check('the BACKUP took the virtual IP', moved !== undefined, `${other} after ${s1(moved)} (advert_int 1 s: 3 missed adverts + skew ≈ 3.2 s)`);
      const t2 = Date.now();
      c.lab.cut(holder, false);
      c.mark(`${holder} back on the network`);
      const back = await waitFor(() => c.lab.vipHolder() === holder && !c.lab.vipHolderOf(other), 30_000, 20);
      c.measure['VIP back (preempt) after'] = s1(back);
      c.mark(`${holder} holds the VIP again`);
      await waitFor(() => c.client.confirmTimes.some((x) => x > t2 + (back ?? 0)), 30_000, 50);
      c.check('the MASTER took it back when it returned (priority 200 > 199, preempt)', back !== undefined, s1(back));
    },
  },
  {
    name: 'proxy-fall-rise',
    claim: 'the proxy marks a broker DOWN after fall x inter (2 x 3 s) and UP after rise x inter (1 x 3 s)',
    async run(c) {
      const master = await masterOf(c.lab, c.queue);
      const victim = BROKERS.map((b) => b.name).find((b) => b !== master && b !== DISC.name) ?? 'rabbitmq03';
      const lb = c.lab.netns ? (c.lab.vipHolder() ?? 'haproxy02') : 'haproxy02';
      const t = Date.now();
      c.mark(`kill -9 the broker on ${victim}`);
      await c.lab.kill(victim, 'broker');
      const down = await waitFor(async () => (await backend(c.lab, lb, victim)) === 'DOWN', 30_000, 50);
      c.mark(`${lb} marks ${victim} DOWN`);
      c.measure['DOWN after'] = s1(down);
      c.check('marked DOWN within fall x inter (6 s) + one inter', down !== undefined && down <= 9000 + 1000, `${s1(down)} after the kill (checks every 3 s: between 3 and 6 s after the first failed check)`);
      c.lab.restart(victim, 'broker');
      const open = await waitFor(async () => (await runningNodes(c.lab, [victim])).includes(victim), 120_000, 100);
      c.mark(`${victim} accepts connections again`);
      c.measure['node up after restart'] = s1(open);
      const up = await waitFor(async () => (await backend(c.lab, lb, victim)) === 'UP', 30_000, 50);
      c.mark(`${lb} marks ${victim} UP`);
      c.measure['UP after the node was back'] = s1(up);
      void t;
      c.check('marked UP within rise x inter (3 s) + one inter', up !== undefined && up <= 6000 + 1000, `${s1(up)} after the node answered again`);
    },
  },
  {
    name: 'track-script',
    needsNetns: true,
    claim: "the virtual IP moves when only the MASTER's proxy dies: the track script (weight 2) lowers its priority below the BACKUP's",
    async run(c) {
      const holder = c.lab.vipHolder();
      if (holder === null) return c.check('a load balancer holds the VIP', false, 'nobody holds it');
      const other = LBS.find((l) => l.name !== holder)!.name;
      const t = Date.now();
      c.mark(`kill -9 the proxy on ${holder}`);
      await c.lab.kill(holder, c.lab.s.procs[`${holder}/proxy`]!.kind);
      const moved = await waitFor(() => c.lab.vipHolder() === other, 30_000, 20);
      c.mark(`${other} holds the VIP`);
      c.measure['VIP moved after'] = s1(moved);
      await waitFor(() => c.client.confirmTimes.some((x) => x > t + (moved ?? 0)), 30_000, 50);
      c.measure['client outage'] = s1(c.client.gapBetween(t, Date.now()).ms);
      c.check('the VIP moved to the BACKUP', moved !== undefined, `${other} after ${s1(moved)} (script interval 1 s x fall 2, then one advert)`);
      c.lab.restart(holder, c.lab.s.procs[`${holder}/proxy`]!.kind);
      c.mark(`proxy on ${holder} started again`);
      const back = await waitFor(() => c.lab.vipHolder() === holder, 30_000, 20);
      c.mark(`${holder} holds the VIP again`);
      c.measure['VIP back after the proxy restart'] = s1(back);
      c.check('the VIP came back once the proxy ran again', back !== undefined, s1(back));
    },
  },
  {
    name: 'plain-queue',
    claim: 'a plain (unmirrored) queue dies with its node and comes back with its persistent messages when the node restarts',
    async run(c) {
      const q = 'plain.lab';
      const home = BROKERS.find((b) => b.type === 'ram')!.name;
      // declared on the node itself, so that it lives there (the seeds' "normal mode" queue)
      await publishDirect(brokerUrl(c.lab, home), q, 500, true);
      c.mark(`plain.lab on ${home}: 500 persistent messages`);
      c.measure['queue home'] = home;
      await c.lab.kill(home, 'broker');
      c.mark(`kill -9 the broker on ${home}`);
      const other = BROKERS.find((b) => b.name !== home)!.name;
      await sleep(1000);
      const during = await countOn(brokerUrl(c.lab, other), q);
      c.measure['while the node is down'] = String(during);
      c.check('the queue is unusable while its node is down', typeof during === 'string', `passive declare through ${other}: ${String(during)}`);
      c.lab.restart(home, 'broker');
      const back = await waitFor(async () => (await countOn(brokerUrl(c.lab, home), q)) === 500, 120_000, 200);
      c.mark(`${home} back: plain.lab has its messages`);
      c.measure['back after restart'] = s1(back);
      const after = await countOn(brokerUrl(c.lab, home), q);
      c.check('all 500 persistent messages are back', after === 500, `${String(after)} messages`);
      const d = new AMQPClient(brokerUrl(c.lab, home));
      await d.connect();
      await (await d.channel()).queueDelete(q);
      await d.close();
    },
  },
  {
    name: 'ram-needs-disc',
    claim: 'a ram node that restarts needs a disc node running: it waits for rabbitmq02, and starts once rabbitmq02 is back',
    async run(c) {
      const ram = BROKERS.find((b) => b.type === 'ram')!.name;
      c.mark(`stop ${DISC.name} (disc) and ${ram} (ram)`);
      await c.lab.kill(DISC.name, 'broker');
      await c.lab.kill(ram, 'broker');
      c.lab.restart(ram, 'broker');
      c.mark(`start ${ram} while no disc node runs`);
      const early = await waitFor(async () => (await runningNodes(c.lab, [ram])).includes(ram), 10_000, 300);
      c.check(`${ram} does not start its broker without a disc node (10 s)`, early === undefined, early === undefined ? 'still waiting' : `it started after ${s1(early)}`);
      c.lab.restart(DISC.name, 'broker');
      c.mark(`start ${DISC.name}`);
      const t = Date.now();
      const up = await waitFor(async () => (await runningNodes(c.lab, [ram])).includes(ram), 120_000, 300);
      c.mark(`${ram} runs`);
      c.measure[`${ram} up after the disc node started`] = s1(up);
      c.check(`${ram} starts once the disc node is back`, up !== undefined, s1(up));
      void t;
    },
  },
  {
    name: 'manual-vs-auto-sync',
    claim: 'a mirror that restarts comes back empty: with ha-sync-mode automatic it is synchronised at once, with the default (manual) only by sync_queue',
    async run(c) {
      const disc = DISC.name;
      const mirror = BROKERS.find((b) => b.type === 'ram')!.name;
      await c.lab.ctlOk(disc, ['set_policy', 'lab-sync-manual', '^sync\\.manual$', '{"ha-mode":"all"}']);
      await c.lab.ctlOk(disc, ['set_policy', 'lab-sync-auto', '^sync\\.auto$', '{"ha-mode":"all","ha-sync-mode":"automatic"}']);
      try {
        // declared on the disc node (their master), 300 persistent messages each
        for (const q of ['sync.manual', 'sync.auto']) await publishDirect(brokerUrl(c.lab, disc), q, 300, true);
        const isSynced = async (q: string): Promise<boolean> => ((await queueInfo(c.lab, q, [disc]))?.synchronised_slave_nodes ?? []).includes(nodeName(mirror));
        await waitFor(async () => (await isSynced('sync.manual')) && (await isSynced('sync.auto')), 30_000, 200);
        c.mark(`kill -9 and restart ${mirror} (a mirror of sync.manual and sync.auto)`);
        await c.lab.kill(mirror, 'broker');
        c.lab.restart(mirror, 'broker');
        const back = await waitFor(async () => (await runningNodes(c.lab, [disc])).includes(mirror), 120_000, 200);
        c.measure[`${mirror} back after`] = s1(back);
        const auto = await waitFor(() => isSynced('sync.auto'), 30_000, 100);
        c.mark('sync.auto: the mirror is synchronised');
        c.measure['automatic: synchronised after'] = s1(auto);
        c.check('automatic sync: the restarted mirror is synchronised by itself', auto !== undefined, s1(auto));
        await sleep(3000);
        const manualBefore = await isSynced('sync.manual');
        c.check('manual sync: the restarted mirror stays unsynchronised (3 s later)', !manualBefore, manualBefore ? 'it was synchronised' : 'unsynchronised, as the seeds say');
        const t = Date.now();
        await c.lab.ctlOk(disc, ['sync_queue', 'sync.manual']);
        c.mark('brokerctl sync_queue sync.manual');
        const manual = await waitFor(() => isSynced('sync.manual'), 30_000, 100);
        c.measure['manual: synchronised after sync_queue'] = s1(manual === undefined ? undefined : Date.now() - t);
        c.check('sync_queue synchronises it', manual !== undefined, c.measure['manual: synchronised after sync_queue']!);
      } finally {
        const d = new AMQPClient(brokerUrl(c.lab, disc));
        await d.connect();
        const ch = await d.channel();
        for (const q of ['sync.manual', 'sync.auto']) await ch.queueDelete(q).catch(() => {});
        await d.close();
        await c.lab.ctl(disc, ['clear_policy', 'lab-sync-manual']);
        await c.lab.ctl(disc, ['clear_policy', 'lab-sync-auto']);
      }
    },
  },
  {
    name: 'last-down-first-up',
    claim: 'the node that went down last (the disc node) starts first on its own, and the others join it',
    async run(c) {
      const rams = BROKERS.filter((b) => b.type === 'ram').map((b) => b.name);
      for (const r of rams) {
        await c.lab.ctl(r, ['stop']);
        await c.lab.kill(r, 'broker');
        c.mark(`${r} stopped`);
      }
      await c.lab.ctl(DISC.name, ['stop']);
      await c.lab.kill(DISC.name, 'broker');
      c.mark(`${DISC.name} stopped last`);
      c.lab.restart(DISC.name, 'broker');
      c.mark(`start ${DISC.name} alone`);
      const alone = await waitFor(async () => (await runningNodes(c.lab, [DISC.name])).includes(DISC.name), 120_000, 200);
      c.mark(`${DISC.name} runs`);
      c.measure[`${DISC.name} running alone after`] = s1(alone);
      c.check('the last node down starts without the others', alone !== undefined, s1(alone));
      for (const r of rams) c.lab.restart(r, 'broker');
      c.mark(`start ${rams.join(', ')}`);
      const all = await waitFor(async () => (await runningNodes(c.lab, [DISC.name])).length === BROKERS.length, 120_000, 200);
      c.mark('all nodes run');
      c.measure['the ram nodes joined after'] = s1(all);
      c.check('the others join it', all !== undefined, s1(all));
    },
  },
];

// ---------------------------------------------------------------------------------------------- runner

export async function runScenarios(lab: Lab, names: string[], o: { svgDir: string; log: (l: string) => void }): Promise<Result[]> {
  const out: Result[] = [];
  for (const n of names) {
    const sc = SCENARIOS.find((s) => s.name === n);
    if (sc === undefined) throw new Error(`no scenario ${n} (lab list shows them)`);
  }
  mkdirSync(o.svgDir, { recursive: true });
  for (const n of names) {
    const sc = SCENARIOS.find((s) => s.name === n)!;
    if (sc.needsNetns && !lab.netns) {
      o.log(`SKIP ${sc.name}: needs the network namespaces (VRRP needs root)`);
      continue;
    }
    out.push(await runOne(lab, sc, o));
  }
  const failed = out.filter((r) => !r.pass);
  o.log(`${out.length - failed.length} of ${out.length} scenarios passed${failed.length ? ` (failed: ${failed.map((r) => r.name).join(', ')})` : ''}`);
  return out;
}

async function runOne(lab: Lab, sc: Scenario, o: { svgDir: string; log: (l: string) => void }): Promise<Result> {
  const t0 = Date.now();
  o.log(`== ${sc.name}: ${sc.claim}`);
  await heal(lab, o.log);
  lab.event('scenario', `scenario ${sc.name} starts`);
  const client = new TrafficClient(lab.clientUrl(), TRAFFIC_QUEUE);
  client.start();
  const flowing = await waitFor(() => client.confirmTimes.length > 20 && client.receiveTimes.length > 20, 60_000, 50);
  // the timeline starts with the traffic (the healing before is not part of the experiment)
  const tl0 = Date.now() - 2000;
  const ctx: Ctx = {
    lab,
    client,
    queue: TRAFFIC_QUEUE,
    measure: {},
    checks: [],
    mark: (text) => lab.event('scenario', text),
    check(what, ok, detail) {
      this.checks.push({ what, ok, detail });
    },
    log: o.log,
  };
  if (flowing === undefined) ctx.check('the client publishes and consumes through the virtual IP', false, 'no traffic within 60 s');
  else {
    await waitFor(() => synced(lab, TRAFFIC_QUEUE), 30_000, 200);
    await sleep(1000);
    try {
      await sc.run(ctx);
    } catch (e) {
      ctx.check('the scenario ran', false, (e as Error).message);
    }
    await sleep(1000);
  }
  await heal(lab, o.log);
  const stats = await client.stop();
  ctx.check('no confirmed message lost', stats.lost === 0, `${stats.lost} of ${stats.confirmed} confirmed messages never received`);
  const pass = ctx.checks.every((c) => c.ok);
  lab.event('scenario', `scenario ${sc.name}: ${pass ? 'PASS' : 'FAIL'}`);
  const t1 = Date.now();
  const events: LabEvent[] = readEvents(lab.s.dir, tl0);
  const svg = join(o.svgDir, `${sc.name}.svg`);
  writeFileSync(svg, timelineSvg(`${sc.name}: ${sc.claim}`, tl0, t1, client.confirmTimes, client.receiveTimes, events, pass));
  for (const ch of ctx.checks) o.log(`  ${ch.ok ? 'ok  ' : 'FAIL'} ${ch.what}: ${ch.detail}`);
  for (const [k, v] of Object.entries(ctx.measure)) o.log(`  ${k}: ${v}`);
  o.log(`  client: ${stats.confirmed} confirmed, ${stats.received} received, ${stats.lost} lost, ${stats.duplicates} duplicated, longest outage ${s1(stats.outageMs)}, ${stats.reconnects} reconnects`);
  o.log(`  ${pass ? 'PASS' : 'FAIL'} ${sc.name} (${((t1 - t0) / 1000).toFixed(1)} s), timeline ${svg}`);
  return { name: sc.name, claim: sc.claim, pass, checks: ctx.checks, measure: ctx.measure, client: stats, svg, seconds: (t1 - t0) / 1000 };
}

export { nodeName };
