/**
 * The stats page of a `mode http` proxy with `stats enable` (haproxy: configuration.txt "stats uri", "stats auth",
 * "stats realm", "stats refresh", "stats admin"). Paths starting with the stats URI are served:
 *   <uri>          HTML (auto refresh every `stats refresh`)
 *   <uri>;csv      CSV, haproxy's columns
 *   <uri>;json     JSON
 *   POST <uri>     admin form (fields b, s, action as haproxy's page posts them), with `stats admin if TRUE`
 *   POST <uri>;cmd a runtime API command in the body (e.g. `set weight be/srv 5`), with `stats admin if TRUE`
 * Anything else gets 503, as a haproxy listen section with no server answers.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyConfig } from '../config/types.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import { runCommand, setState } from '../runtime/commands.ts';
import { statsCsv, statsJson } from './stats-format.ts';
import { statsHtml } from './stats-html.ts';
import { collectStats } from './stats-rows.ts';

const MAX_BODY_BYTES = 64 * 1024;

export function createStatsHandler(lb: LoadBalancer, p: ProxyConfig): (socket: Socket) => void {
  const st = p.stats;
  const server = http.createServer((req, res) => {
    // haproxy counts the stats page's requests and responses on its frontend (req_tot, hrsp_*, intercepted).
    res.once('finish', () => lb.frontends.get(p.name)?.countRequest(res.statusCode));
    const url = req.url ?? '/';
    if (!url.startsWith(st.uri)) {
      res.writeHead(503, { 'content-type': 'text/html', 'cache-control': 'no-cache' });
      res.end('<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n');
      return;
    }
    if (st.auth.length > 0 && !authorized(req.headers.authorization, st.auth)) {
      res.writeHead(401, { 'www-authenticate': `Basic realm="${st.realm.replace(/"/g, '')}"`, 'content-type': 'text/html' });
      res.end('<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n');
      return;
    }
    const suffix = url.slice(st.uri.length);
    if (req.method === 'POST') return void readBody(req, (body) => post(lb, p, suffix, body, res));
    const rows = collectStats(lb);
    if (suffix.includes(';csv')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache' });
      res.end(statsCsv(rows));
    } else if (suffix.includes(';json')) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
      res.end(statsJson(rows));
    } else {
      const refreshS = suffix.includes(';norefresh') || st.refresh === null ? null : Math.max(1, Math.round(st.refresh / 1000));
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/html', 'cache-control': 'no-cache' };
      if (refreshS !== null) headers.refresh = String(refreshS);
      res.writeHead(200, headers);
      res.end(statsHtml(lb, rows, { uri: st.uri, refreshS, admin: st.admin, hideVersion: st.hideVersion }));
    }
  });
  return (socket) => server.emit('connection', socket);
}

function authorized(header: string | undefined, users: { user: string; password: string }[]): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return colon > 0 && users.some((u) => u.user === user && u.password === password);
}

function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => {
    body += c;
    if (body.length > MAX_BODY_BYTES) req.destroy();
  });
  req.on('end', () => done(body));
}

function post(lb: LoadBalancer, p: ProxyConfig, suffix: string, body: string, res: http.ServerResponse): void {
  if (!p.stats.admin) {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('admin actions need "stats admin if TRUE"\n');
    return;
  }
  if (suffix.includes(';cmd')) {
    const out = body
      .split(/[;\n]/)
      .map((c) => runCommand(lb, c, 'admin'))
      .join('');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(out);
    return;
  }
  const form = new URLSearchParams(body);
  const be = lb.backends.get((form.get('b') ?? '').replace(/^#/, ''));
  const action = form.get('action') ?? '';
  let status = 'DONE';
  if (!be) status = 'NONE';
  else {
    for (const name of form.getAll('s')) {
      const srv = be.servers.find((s) => s.name === name);
      if (!srv) continue;
      if (action === 'ready' || action === 'drain' || action === 'maint') setState(lb, be, srv, action);
      else if (action === 'hrunn' || action === 'hdown') runCommand(lb, `set server ${be.name}/${srv.name} health ${action === 'hrunn' ? 'up' : 'down'}`, 'admin');
      else if (action === 'shutdown') runCommand(lb, `shutdown sessions server ${be.name}/${srv.name}`, 'admin');
      else status = 'ERRP';
    }
  }
  // haproxy redirects back to the page with the outcome in the URI.
  res.writeHead(303, { location: `${p.stats.uri};st=${status}` });
  res.end();
}
