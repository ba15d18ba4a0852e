// The live page: a small HTTP server (started by lab up, detached, port in the state file) that looks at the lab
// every 250 ms, turns what changed into timeline events (a node down or hung, a VIP move, a backend DOWN/UP, a new
// queue master), and serves the page, which draws the topology from /api/state four times a second and has
// kill / hang / resume / restart / cut-off buttons (POST /api/action).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Lab } from './lab.ts';
import { snapshot, type Snapshot } from './observe.ts';
import { logEvent, readEvents } from './state.ts';
import { HOSTS } from './topology.ts';
import { PAGE } from './page.ts';

/** Events for what differs between two looks at the lab. */
export function diff(a: Snapshot, b: Snapshot): { kind: string; host?: string; text: string }[] {
  const out: { kind: string; host?: string; text: string }[] = [];
  for (const h of b.hosts) {
    const o = a.hosts.find((x) => x.name === h.name);
    if (o === undefined) continue;
    for (const [k, v] of Object.entries(h.procs)) if (o.procs[k] !== undefined && o.procs[k] !== v) out.push({ kind: 'state', host: h.name, text: `${h.name}: ${k} ${v}` });
    if (o.cut !== h.cut) out.push({ kind: 'state', host: h.name, text: `${h.name} ${h.cut ? 'cut off' : 'connected'}` });
    if (o.clusterRunning !== undefined && h.clusterRunning !== undefined && o.clusterRunning !== h.clusterRunning) out.push({ kind: 'cluster', host: h.name, text: `cluster: ${h.name} ${h.clusterRunning ? 'running' : 'not running'}` });
    if ((o.partitions ?? []).join() !== (h.partitions ?? []).join() && h.partitions !== undefined) out.push({ kind: 'cluster', host: h.name, text: `${h.name} partitions: [${h.partitions.join(', ')}]` });
    if (o.vrrp !== h.vrrp && h.vrrp != null) out.push({ kind: 'vrrp', host: h.name, text: `${h.name}: VRRP ${h.vrrp}` });
    if (o.backends && h.backends) {
      for (const [srv, st] of Object.entries(h.backends)) if (o.backends[srv] !== undefined && o.backends[srv] !== st) out.push({ kind: 'proxy', host: h.name, text: `${h.name} marks ${srv} ${st}` });
    }
  }
  if (a.vipHolder !== b.vipHolder) out.push({ kind: 'vip', text: `virtual IP ${b.vip} ${b.vipHolder === null ? 'held by nobody' : `on ${b.vipHolder}`}` });
  for (const q of b.queues) {
    const o = a.queues.find((x) => x.name === q.name);
    if (o !== undefined && o.node !== q.node && q.node !== '') out.push({ kind: 'queue', text: `queue ${q.name}: master ${o.node} -> ${q.node}` });
  }
  return out;
}

export async function serve(dir: string, port: number, bind = '127.0.0.1'): Promise<void> {
  const lab = Lab.open(dir);
  let last: Snapshot = await snapshot(lab);
  let running: Promise<void> | null = null;
  const look = async (): Promise<void> => {
    try {
      lab.reload();
      const s = await snapshot(lab);
      for (const e of diff(last, s)) logEvent(dir, e.kind, e.text, e.host);
      last = s;
    } catch {
      // the lab is going down
    }
  };
  /** One look at a time; a caller that must see the latest state (after an action) waits for a fresh one. */
  const tick = async (fresh = false): Promise<void> => {
    if (running !== null) {
      if (!fresh) return;
      await running;
    }
    running = look().finally(() => (running = null));
    await running;
  };
  setInterval(() => void tick(), 250);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://lab');
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/state') {
      // process states are read now (from /proc, cheap): the page shows a kill or a hang at once, whatever the
      // slower parts of the last look (cluster, proxies, VIP) cost on a loaded machine
      lab.reload();
      const hosts = last.hosts.map((h) => {
        const procs: typeof h.procs = {};
        for (const k of lab.hostProcs(h.name)) procs[lab.s.procs[k]!.kind] = lab.procStatus(k);
        return { ...h, procs };
      });
      json(200, { ...last, hosts, events: readEvents(dir).slice(-200) });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/action') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        void (async () => {
          try {
            const { host, action } = JSON.parse(body) as { host: string; action: string };
            if (!HOSTS.some((h) => h.name === host)) return json(400, { error: `no host ${host}` });
            lab.reload();
            if (action === 'kill') await lab.kill(host);
            else if (action === 'hang') lab.hang(host);
            else if (action === 'resume') lab.resume(host);
            else if (action === 'restart') lab.restart(host);
            else if (action === 'cut' || action === 'uncut') lab.cut(host, action === 'cut');
            else return json(400, { error: `unknown action ${action} (kill, hang, resume, restart, cut, uncut)` });
            // the page reads process states itself; the slower parts follow with the next look
            void tick(true);
            json(200, { ok: true });
          } catch (e) {
            json(500, { error: (e as Error).message });
          }
        })();
      });
      return;
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(port, bind, () => r()));
}
