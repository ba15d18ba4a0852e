// One seeded schedule: form a 3-4 node cluster (disc and ram nodes), declare a durable mirrored queue (ha-mode all,
// automatic sync), run publishers in confirm mode and acking consumers while faults strike (crash and restart,
// partitions, one-way cuts, delay, loss, connection resets), then calm everything, drain, and check the invariants.
import { SeededRandom } from '@warren/cluster-peer';
import { ClusterSim, type NodeSpec, type SimNode } from './cluster-sim.ts';
import type { NodeType } from '../../packages/broker/src/cluster/cluster-service.ts';

/** The cluster's layout: `classic` are the first schedules' (3-4 nodes, disc, sometimes one ram node). */
export type Layout = 'classic' | 'seeds' | 'disc3' | 'disc1ram4' | 'disc3ram2';
import { VHOST } from './sim-client.ts';

export interface Outcome {
  seed: number;
  layout: Layout;
  /** hangs (SIGSTOP) in the schedule */
  hangs: number;
  /** confirmed messages lost with a documented metadata rollback (ClusterSim.checkOverride), not violations */
  lostInRollback: number;
  rollback: boolean;
  /** the documented limit met instead of the checks: a majority of the voters lost to ram restarts (see quorumLostToRamRestarts) */
  quorumLost: string | null;
  violations: string[];
  hash: string;
  confirmed: number;
  published: number;
  nacked: number;
  delivered: number;
  duplicates: number;
  faults: number;
  /** disc writes and syncs that failed or came back short */
  diskFaults: number;
  dualMasterMs: number;
  simMs: number;
  tail: string[];
  trace: string[];
}

export interface ScheduleOptions {
  keepTrace?: boolean;
  netTrace?: boolean;
  echo?: boolean;
}

/** How long the calm phase may take to bring every node back and drain the queue, in simulated ms. */
const CALM_LIMIT_MS = 60_000;

/**
 * One fault of the new layouts' storms (seeds, disc3, 5 nodes), aimed at the queue's master, a disc node and a ram
 * node alike: kill -9 or a silent crash (sometimes restarted by a supervisor 0.1-1.5 s later; a ram node then starts
 * as a new member), a power cut, the restart of a crashed node, a hang (SIGSTOP 2-20 s, then SIGCONT), stop_app and
 * start_app, the target isolated or a random split, heal, a one-way cut, link conditions, a consumer that leaves;
 * and, besides, disc-fault windows. Returns false when the step did not count as a fault.
 */
async function aimedFault(sim: ClusterSim, f: SeededRandom, master: SimNode | undefined): Promise<boolean> {
  const pickOf = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[f.uint32() % xs.length]);
  const up = sim.nodes.filter((n) => n.up);
  const down = sim.nodes.filter((n) => !n.up);
  // the target: the master, a disc node or a ram node, a third of the time each (among the nodes that are up)
  const aim = (among: SimNode[]): SimNode | undefined => {
    const r = f.float();
    if (r < 1 / 3 && master !== undefined && among.includes(master)) return master;
    const disc = among.filter((n) => n.type === 'disc');
    const ram = among.filter((n) => n.type === 'ram');
    if (r < 2 / 3 && disc.length > 0) return pickOf(disc);
    return pickOf(ram.length > 0 ? ram : among);
  };
  if (f.float() < 0.15) {
    const target = pickOf(up.length > 0 ? up : sim.nodes)!;
    const k = f.uint32() % 3;
    const faults = k === 0 ? { enospc: 0.5, eio: 0, short: 0.2 } : k === 1 ? { enospc: 0, eio: 0.3, short: 0.1 } : { enospc: 0, eio: 0, short: 0.6 };
    sim.diskFaults(target, faults, 20 + (f.uint32() % 1500));
  }
  const roll = f.uint32() % 100;
  if (roll < 18) {
    if (f.float() < 0.08) {
      sim.note('power cut: every node');
      for (const n of up) sim.crash(n, false);
      return true;
    }
    const victim = aim(up);
    if (victim === undefined) return false;
    sim.crash(victim, f.float() < 0.4);
    if (f.float() < 0.3) {
      // a supervisor starts it again soon (the issue's restart 0.1 s after kill -9)
      const after = 100 + (f.uint32() % 1400);
      sim.note(`${victim.host} restarts in ${after} ms`);
      setTimeout(() => void sim.restart(victim), after);
    }
    return true;
  }
  if (roll < 32) {
    const n = pickOf(down);
    if (n === undefined) return false;
    await sim.restart(n);
    return true;
  }
  if (roll < 44) {
    const victim = aim(up.filter((n) => !n.hung));
    if (victim === undefined) return false;
    sim.hang(victim, 2_000 + (f.uint32() % 18_000));
    return true;
  }
  if (roll < 54) {
    const victim = aim(sim.running().filter((n) => !n.hung && !n.starting));
    if (victim === undefined) return false;
    sim.restartApp(victim, 100 + (f.uint32() % 3000));
    return true;
  }
  if (roll < 68) {
    const hosts = sim.nodes.map((n) => n.host);
    const victim = f.float() < 0.7 ? aim(sim.nodes) : undefined;
    const side = victim !== undefined ? [victim.host] : hosts.filter(() => f.float() < 0.5);
    if (side.length === 0 || side.length === hosts.length) return false;
    sim.note(`partition [${side.join(',')}]`);
    sim.net.partition(side, hosts.filter((h) => !side.includes(h)));
    return true;
  }
  if (roll < 78) {
    sim.note('heal');
    sim.net.heal();
    return true;
  }
  if (roll < 83) {
    const a = aim(sim.nodes)!;
    const b = pickOf(sim.nodes.filter((n) => n !== a))!;
    sim.note(`cut ${a.host} -> ${b.host}`);
    sim.net.cut(a.host, b.host);
    return true;
  }
  if (roll < 93) {
    const a = aim(sim.nodes)!;
    const b = pickOf(sim.nodes.filter((n) => n !== a))!;
    const latencyMs = f.float() < 0.5 ? 1 : 1 + (f.uint32() % 400);
    const loss = f.float() < 0.5 ? 0 : f.float() * 0.3;
    const lossMode = f.float() < 0.2 ? 'reset' : 'retransmit';
    sim.note(`link ${a.host}<>${b.host} latency ${latencyMs} loss ${loss.toFixed(2)} ${lossMode}`);
    sim.net.setLink(a.host, b.host, { latencyMs, jitterMs: f.uint32() % 20, loss, lossMode });
    return true;
  }
  const c = sim.consumers[0];
  if (c !== undefined) {
    sim.note(`consumer ${c.connectionId} closes`);
    c.close();
  }
  return false;
}

/** The schedule met a documented limit that ends its checks (see ClusterSim.quorumLostToRamRestarts). */
class QuorumLost extends Error {}

export async function runSchedule(seed: number, opts: ScheduleOptions = {}): Promise<Outcome> {
  const dice = new SeededRandom(Math.imul(seed, 2654435761) >>> 0);
  const pick = <T>(xs: readonly T[]): T => xs[dice.uint32() % xs.length]!;
  const size0 = 3 + (dice.uint32() % 2);
  // the founder is a disc node; sometimes one ram node
  const ramIndex = dice.float() < 0.4 ? size0 - 1 : -1;
  // The layout, drawn apart from `dice` (like `extra` below), so the schedules of the first layouts stay as they were:
  // 40 % the seeds' own layout (one disc node, two ram nodes: three Raft voters, the ram nodes' logs in memory, each
  // start of a ram node a new member), 10 % seed 004's three disc nodes, 10 % five nodes (1 disc + 4 ram or
  // 3 disc + 2 ram), the rest as before (3-4 nodes, disc, sometimes one ram node).
  // (the salt keeps the regression seeds 285 and 439 in the classic layout they were found in)
  const layout = new SeededRandom((seed ^ 0x1a71) >>> 0);
  const layoutRoll = layout.float();
  const kind: Layout = layoutRoll < 0.4 ? 'seeds' : layoutRoll < 0.5 ? 'disc3' : layoutRoll < 0.6 ? (layout.float() < 0.5 ? 'disc1ram4' : 'disc3ram2') : 'classic';
  const types: NodeType[] =
    kind === 'seeds'
      ? ['disc', 'ram', 'ram']
      : kind === 'disc3'
        ? ['disc', 'disc', 'disc']
        : kind === 'disc1ram4'
          ? ['disc', 'ram', 'ram', 'ram', 'ram']
          : kind === 'disc3ram2'
            ? ['disc', 'disc', 'disc', 'ram', 'ram']
            : Array.from({ length: size0 }, (_, i) => (i === ramIndex ? 'ram' : 'disc'));
  const specs: NodeSpec[] = types.map((type, i) => ({ host: `n${i + 1}`, type }));
  // Drawn apart from `dice`, so adding these kept the schedules of seeds run in ignore mode as they were.
  const extra = new SeededRandom((seed ^ 0x9a75e) >>> 0);
  const modeRoll = extra.float();
  const partitionHandling = modeRoll < 0.6 ? 'ignore' : modeRoll < 0.85 ? 'pause_minority' : 'autoheal';
  const sim = new ClusterSim(seed, specs, { keepTrace: opts.keepTrace ?? false, netTrace: opts.netTrace ?? false, partitionHandling });
  sim.echo = opts.echo ?? false;
  const unhandled = (reason: unknown): void => sim.violation(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
  process.on('unhandledRejection', unhandled);
  sim.clock.install();
  let faults = 0;
  let duplicates = 0;
  let lostInRollback = 0;
  let quorumLostNote: string | null = null;
  try {
    sim.note(`seed ${seed} (${kind}): ${specs.map((s) => `${s.host}:${s.type}`).join(' ')}, cluster_partition_handling ${partitionHandling}`);
    await sim.form();
    const declaredOn = pick(sim.nodes);
    // in the new layouts the queue's master starts on the disc node half the time (the founder; in seed 004's
    // layout and 3 disc + 2 ram a disc node either way)
    await sim.declare(kind !== 'classic' && layout.float() < 0.5 ? sim.founder : declaredOn);
    // every node mirrors the queue before the storm (automatic sync of an empty queue is immediate)
    await sim.clock.run(1_000);
    const publishers = 1 + (dice.uint32() % 2);
    for (let i = 0; i < publishers; i++) sim.addPublisher(pick(sim.nodes));
    sim.addConsumer(pick(sim.nodes));

    // The storm: steps of a few ms to ~1 s; publishes every few ms; a fault at most steps.
    const steps = 6 + (dice.uint32() % 10);
    const publishEvery = 5 + (dice.uint32() % 40);
    let publishing = true;
    const publishTimer = setInterval(() => {
      if (!publishing) return;
      sim.publishAll();
    }, publishEvery);
    const observe = setInterval(() => {
      sim.checkMasters();
      sim.tendClients();
    }, 50);
    for (let step = 0; step < steps; step++) {
      await sim.clock.run(dice.float() < 0.3 ? 1 + (dice.uint32() % 30) : 100 + (dice.uint32() % 1200));
      const roll = dice.uint32() % 100;
      const up = sim.nodes.filter((n) => n.up);
      const down = sim.nodes.filter((n) => !n.up);
      const master = sim.masterViews().find((v) => v.master === v.node.name)?.node;
      faults++;
      if (kind !== 'classic') {
        if (!(await aimedFault(sim, layout, master))) faults--;
        continue;
      }
      if (extra.float() < 0.06) {
        // an operator restarts a node's app (half the time the master's)
        const target = master !== undefined && extra.float() < 0.5 ? master : pick(up.length > 0 ? up : sim.nodes);
        sim.restartApp(target, 100 + (extra.uint32() % 2000));
      }
      if (extra.float() < 0.2) {
        // a disc that fills up, fails, or writes short for a while (the store must nack, never confirm, what it lost)
        const target = up.length > 0 ? up[extra.uint32() % up.length]! : sim.nodes[extra.uint32() % sim.nodes.length]!;
        const kind = extra.uint32() % 3;
        const f = kind === 0 ? { enospc: 0.5, eio: 0, short: 0.2 } : kind === 1 ? { enospc: 0, eio: 0.3, short: 0.1 } : { enospc: 0, eio: 0, short: 0.6 };
        sim.diskFaults(target, f, 20 + (extra.uint32() % 1500));
      }
      if (roll < 22) {
        // crash: half the time the queue's master
        const victim = master !== undefined && dice.float() < 0.5 ? master : up.length > 0 ? pick(up) : undefined;
        if (extra.float() < 0.15) {
          // a power cut of the whole cluster: what was confirmed must be on some disc (synced), nothing else survives
          sim.note('power cut: every node');
          for (const n of up) sim.crash(n, false);
        } else if (victim !== undefined) sim.crash(victim, dice.float() < 0.4);
      } else if (roll < 40) {
        if (down.length > 0) await sim.restart(pick(down));
      } else if (roll < 58) {
        // partition: half the time the master alone (the case where a cut-off master must stop confirming)
        const hosts = sim.nodes.map((n) => n.host);
        const side = master !== undefined && dice.float() < 0.5 ? [master.host] : hosts.filter(() => dice.float() < 0.5);
        if (side.length > 0 && side.length < hosts.length) {
          sim.note(`partition [${side.join(',')}]`);
          sim.net.partition(side, hosts.filter((h) => !side.includes(h)));
        }
      } else if (roll < 72) {
        sim.note('heal');
        sim.net.heal();
      } else if (roll < 80) {
        const a = pick(sim.nodes).host;
        const b = pick(sim.nodes.filter((n) => n.host !== a)).host;
        sim.note(`cut ${a} -> ${b}`);
        sim.net.cut(a, b);
      } else if (roll < 94) {
        const a = pick(sim.nodes).host;
        const b = pick(sim.nodes.filter((n) => n.host !== a)).host;
        const latencyMs = dice.float() < 0.5 ? 1 : 1 + (dice.uint32() % 400);
        const loss = dice.float() < 0.5 ? 0 : dice.float() * 0.3;
        const lossMode = dice.float() < 0.2 ? 'reset' : 'retransmit';
        sim.note(`link ${a}<>${b} latency ${latencyMs} loss ${loss.toFixed(2)} ${lossMode}`);
        sim.net.setLink(a, b, { latencyMs, jitterMs: dice.uint32() % 20, loss, lossMode });
      } else {
        // a client moves (its connection closes in order: unacked deliveries are requeued)
        const c = sim.consumers[0];
        if (c !== undefined) {
          sim.note(`consumer ${c.connectionId} closes`);
          c.close();
        }
        faults--;
      }
    }

    // Calm: publishing stops, the network heals, every node comes back; then the queue must drain.
    publishing = false;
    clearInterval(publishTimer);
    sim.note('calm: heal, resume stopped nodes, reset links, restart every node, discs work again');
    for (const n of sim.nodes) sim.resume(n);
    sim.net.heal();
    sim.clearDiskFaults();
    for (const a of sim.nodes) for (const b of sim.nodes) if (a.host < b.host) sim.net.setLink(a.host, b.host, { latencyMs: 1, jitterMs: 1, loss: 0, lossMode: 'retransmit' });
    const allUp = (): boolean => sim.nodes.every((n) => n.running);
    const calmStart = sim.clock.now();
    while (!allUp() && sim.clock.now() - calmStart < CALM_LIMIT_MS) {
      for (const n of sim.nodes) if (!n.up) await sim.restart(n);
      await sim.clock.runUntil(allUp, 2_000);
    }
    const quorumLost = allUp() ? null : sim.quorumLostToRamRestarts();
    if (quorumLost !== null) {
      // the README's documented limit (Metadata, "What it cannot cover"): no check after this can hold
      sim.note(`documented limit: ${quorumLost}; not checked further`);
      quorumLostNote = quorumLost;
      throw new QuorumLost();
    }
    if (!allUp()) sim.violation(`liveness: not every node running ${CALM_LIMIT_MS} ms after healing: ${sim.nodes.map((n) => `${n.host}:${n.running ? 'running' : n.up ? 'starting' : 'down'}`).join(' ')}`);
    // the metadata converges: everyone applied the leader's commit index
    const converged = (): boolean => {
      const rafts = sim.running().map((n) => n.cluster?.raft?.inspect());
      const leader = sim.running().find((n) => n.cluster?.raft?.isLeader() === true);
      if (leader === undefined) return false;
      const st = leader.cluster!.raft!.inspect();
      const last = (st.snapshot?.index ?? 0) + st.entries.length;
      return st.commitIndex === last && rafts.every((r) => r !== undefined && r.lastApplied === st.commitIndex);
    };
    if (!(await sim.clock.runUntil(converged, 20_000))) sim.violation('liveness: metadata did not converge after healing');
    // every running node with a consumer; all confirmed messages must come out
    for (const n of sim.running()) if (!sim.consumers.some((c) => c.node === n.name && c.connected)) sim.addConsumer(n);
    const drained = (): boolean => {
      for (const id of sim.confirmed.keys()) if (!sim.acked.has(id)) return false;
      return true;
    };
    // ... or until the master's queue has stayed empty, nothing unacked, for 3 s: waiting longer delivers nothing more
    let emptySince: number | null = null;
    const settled = (): boolean => {
      // a publish from before the calm may still be confirmed: its message must come out too
      if (sim.publishers.some((p) => p.outstanding > 0)) return false;
      if (drained()) return true;
      const m = sim.masterViews().find((v) => v.master === v.node.name);
      const q = m?.node.node?.broker?.vhosts.get(VHOST)?.queues.get(sim.queue);
      if (q === undefined || q.messageCount > 0 || q.unackedCount > 0) {
        emptySince = null;
        return false;
      }
      emptySince ??= sim.clock.now();
      return sim.clock.now() - emptySince >= 3_000;
    };
    await sim.clock.runUntil(settled, 40_000);
    // a little longer: late duplicates and settling acks are part of the picture
    await sim.clock.run(500);
    clearInterval(observe);
    // metadata is compared where every node has applied the whole log (mirror-set records keep coming meanwhile)
    if (!(await sim.clock.runUntil(converged, 20_000))) sim.violation('liveness: metadata did not converge at the end');
    sim.checkMasters();
    sim.checkMetadata();
    const d = sim.checkDelivery();
    duplicates = d.duplicates;
    lostInRollback = d.lostInRollback;
    if (d.lost.length > 0) sim.note(`queue depth at the end: ${sim.queueDepth()}`);
    for (const e of sim.clock.errors) sim.violation(`exception in a timer: ${e.stack ?? e.message}`);
    await sim.shutdown();
  } catch (err) {
    if (err instanceof QuorumLost) await sim.shutdown();
    else sim.violation(`harness: ${(err as Error).stack ?? String(err)}`);
  } finally {
    sim.clock.uninstall();
    process.off('unhandledRejection', unhandled);
  }
  return {
    seed,
    layout: kind,
    hangs: sim.hangs,
    lostInRollback,
    rollback: sim.rollbackAt !== null,
    quorumLost: quorumLostNote,
    violations: sim.violations,
    hash: sim.traceHash(),
    confirmed: sim.confirmed.size,
    published: sim.published,
    nacked: sim.nacked.size,
    delivered: sim.acked.size,
    duplicates,
    faults,
    diskFaults: sim.injectedDiskFaults(),
    dualMasterMs: sim.dualMasterMs,
    simMs: sim.clock.now(),
    tail: sim.lastLines(150),
    trace: sim.trace,
  };
}
